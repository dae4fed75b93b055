"""The Zephyr platform: models as Zephyr applications, built with west.

Boards are read from the user's Zephyr tree (``ZEPHYR_BASE``): board.yml /
twister yaml, and a configured build's zephyr.dts, .config and runners.yaml.
Registered like any third-party plugin, through the ``utvm`` entry-point group.
"""

import sys

from utvm.project_api import PlatformDescriptor, hookimpl


@hookimpl
def utvm_platform() -> PlatformDescriptor:
    return PlatformDescriptor(
        name="zephyr",
        description="Zephyr applications built with west; boards read from the Zephyr tree (ZEPHYR_BASE)",
        server_argv=[sys.executable, "-m", "utvm.platforms.zephyr.server"],
    )
