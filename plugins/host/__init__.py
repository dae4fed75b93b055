"""The host platform: models run as native programs on the development machine.

Registered like any third-party plugin, through the ``utvm`` entry-point group.
"""

import sys

from utvm.project_api import PlatformDescriptor, hookimpl


@hookimpl
def utvm_platform() -> PlatformDescriptor:
    return PlatformDescriptor(
        name="host",
        description="a native program on this machine, built with the system C compiler",
        server_argv=[sys.executable, "-m", "utvm.platforms.host.server"],
    )
