"""The baremetal_cmsis platform: Arm Cortex-M without an RTOS, GCC + CMSIS.

Devices come from CMSIS-Pack descriptions (.pdsc), boards from board files,
both found on search paths; QEMU's MPS2/MPS3 machines run the firmware here.
"""

import sys

from utvm.project_api import PlatformDescriptor, hookimpl


@hookimpl
def utvm_platform() -> PlatformDescriptor:
    return PlatformDescriptor(
        name="baremetal_cmsis",
        description="Arm Cortex-M without an RTOS: arm-none-eabi-gcc, QEMU MPS2/MPS3, pyOCD or OpenOCD",
        server_argv=[sys.executable, "-m", "utvm.platforms.baremetal_cmsis.server"],
    )
