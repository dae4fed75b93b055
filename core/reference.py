"""TFLite Micro's Python interpreter as the reference ("oracle") for outputs.

TFLite Micro is an optional dependency (the ``test`` extra); functions here
raise :class:`~utvm.errors.UtvmError` with an install hint where it is absent.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .errors import UtvmError
from .frontend.tflite_reader import read_tflite

#: Arena given to the interpreter: comfortably above every shared model's need.
DEFAULT_ARENA_BYTES = 4 * 1024 * 1024


def tflm_available() -> bool:
    try:
        from tflite_micro import runtime  # noqa: F401
    except ImportError:
        return False
    return True


def tflm_run(model: bytes, inputs: Sequence[np.ndarray], arena_bytes: int = DEFAULT_ARENA_BYTES) -> list[np.ndarray]:
    """Run ``model`` once in TFLite Micro's interpreter and return its outputs."""
    try:
        from tflite_micro import runtime
    except ImportError:
        raise UtvmError("TFLite Micro is not installed: pip install tflite-micro (or utvm[test])") from None
    interpreter = runtime.Interpreter.from_bytes(bytes(model), arena_size=arena_bytes)
    for i, x in enumerate(inputs):
        detail = interpreter.get_input_details(i)
        interpreter.set_input(np.asarray(x, dtype=detail["dtype"]).reshape(detail["shape"]), i)
    interpreter.invoke()
    n_outputs = len(read_tflite(bytes(model)).outputs)
    return [np.array(interpreter.get_output(i)) for i in range(n_outputs)]
