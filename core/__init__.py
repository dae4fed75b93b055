"""utvm: ahead-of-time compilation of int8 TFLite models to C for microcontrollers.

The Python API::

    import utvm
    compiled = utvm.compile("model.tflite")          # or bytes; name=..., target="host"
    compiled.export("model.tar")                     # Model Library Format
    outputs = utvm.host.run(compiled, [x])           # or an MLF path; numpy in, numpy out

The compiler (and numpy) load on first use, so that project servers, which
import only ``utvm.project_api``, start quickly.
"""

from typing import Any

from .errors import BuildError, ModelError, UtvmError

__version__ = "0.1.0"

_LAZY = {"compile": ("compiler", "compile"), "CompiledModel": ("compiler", "CompiledModel"), "host": ("host", None)}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'utvm' has no attribute {name!r}")
    import importlib

    module_name, attr = _LAZY[name]
    module = importlib.import_module(f"{__name__}.{module_name}")
    value = module if attr is None else getattr(module, attr)
    globals()[name] = value
    return value


__all__ = ["BuildError", "CompiledModel", "ModelError", "UtvmError", "compile", "host", "__version__"]
