"""The arduino platform: sketches for any board of any installed Arduino core.

Boards come from the installed cores' boards.txt and platform.txt (arduino-cli's data folder,
the sketchbook, Debian's /usr/share/arduino); sketches build with arduino-cli or arduino-builder
and upload with the core's own tools; AVR boards also run in simavr. docs/arduino.md.
"""

import sys

from utvm.project_api import PlatformDescriptor, hookimpl


@hookimpl
def utvm_platform() -> PlatformDescriptor:
    return PlatformDescriptor(
        name="arduino",
        description="Arduino sketches for any installed core: arduino-cli or arduino-builder, AVR boards on simavr",
        server_argv=[sys.executable, "-m", "utvm.platforms.arduino.server"],
    )
