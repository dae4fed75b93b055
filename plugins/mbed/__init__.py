"""The Mbed OS platform: Mbed programs built with mbed-tools (Mbed OS 6) or CMake (Mbed CE).

Targets come from the user's mbed-os tree (targets/targets.json or targets.json5), connected
boards from ``mbed-tools detect``. Registered like any third-party plugin, through the ``utvm``
entry-point group. See docs/mbed.md.
"""

import sys

from utvm.project_api import PlatformDescriptor, hookimpl


@hookimpl
def utvm_platform() -> PlatformDescriptor:
    return PlatformDescriptor(
        name="mbed",
        description="Mbed OS programs built with mbed-tools (Mbed OS 6) or CMake (Mbed CE)",
        server_argv=[sys.executable, "-m", "utvm.platforms.mbed.server"],
    )
