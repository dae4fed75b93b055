"""Exception types shared by the whole of utvm.

Every error a user can cause derives from :class:`UtvmError`; the CLI turns
one into a single line and exit code 2.
"""


class UtvmError(Exception):
    """Base of every error utvm raises on purpose."""


class ModelError(UtvmError):
    """The model file is malformed, or uses something the compiler does not support."""


class BuildError(UtvmError):
    """A generated C program failed to compile or run on the host."""
