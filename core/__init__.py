"""utvm: ahead-of-time compilation of int8 TFLite models to C for microcontrollers.

The Python API::

    import utvm
    compiled = utvm.compile("model.tflite")          # or bytes; name=..., target="host"
    compiled.export("model.tar")                     # Model Library Format
    outputs = utvm.host.run(compiled, [x])           # or an MLF path; numpy in, numpy out
"""

__version__ = "0.1.0"

from . import host  # noqa: E402
from .compiler import CompiledModel, compile  # noqa: E402
from .errors import BuildError, ModelError, UtvmError  # noqa: E402

__all__ = ["BuildError", "CompiledModel", "ModelError", "UtvmError", "compile", "host", "__version__"]
