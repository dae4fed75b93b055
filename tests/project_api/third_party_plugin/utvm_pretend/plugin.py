"""The plugin module named by the entry point: one hook implementation."""

import sys

from utvm.project_api import PlatformDescriptor, hookimpl


@hookimpl
def utvm_platform():
    return PlatformDescriptor(
        name="pretend",
        description="Pretend RTOS applications (in-memory device)",
        server_argv=[sys.executable, "-m", "utvm_pretend.server"],
    )
