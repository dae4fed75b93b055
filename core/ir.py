"""The graph IR the compiler works on: tensors, operators, one subgraph.

The frontend produces it from a .tflite file, the TFLite writer turns it back
into one, the passes rewrite it, and the code generator lowers it to C.
Tensors and operators are referred to by their index into :attr:`Graph.tensors`
and :attr:`Graph.operators`; an optional operator input is ``-1``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: dtype names the IR uses (numpy names), and their C types.
C_TYPES = {
    "int8": "int8_t",
    "uint8": "uint8_t",
    "int16": "int16_t",
    "int32": "int32_t",
    "int64": "int64_t",
    "float32": "float",
    "bool": "uint8_t",
}


@dataclass
class Quant:
    """Affine quantization: real = scale * (q - zero_point).

    ``scale`` and ``zero_point`` have one entry per tensor, or one per slice
    along ``axis`` (per-channel quantization).
    """

    scale: np.ndarray  # float32, shape [n]
    zero_point: np.ndarray  # int64, shape [n]
    axis: int = 0

    @property
    def per_channel(self) -> bool:
        return self.scale.size > 1

    @property
    def scalar_scale(self) -> float:
        """The one scale of a per-tensor quantization (as float32, like TFLite)."""
        return float(np.float32(self.scale[0]))

    @property
    def scalar_zero_point(self) -> int:
        return int(self.zero_point[0])


@dataclass
class Tensor:
    """A tensor of the graph; ``data`` is set for constants (weights, biases, shapes)."""

    index: int
    name: str
    shape: tuple[int, ...]
    dtype: str
    quant: Quant | None = None
    data: np.ndarray | None = None

    @property
    def is_const(self) -> bool:
        return self.data is not None

    @property
    def size(self) -> int:
        """Number of elements."""
        return int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1

    @property
    def nbytes(self) -> int:
        return self.size * np.dtype(self.dtype).itemsize

    @property
    def ctype(self) -> str:
        return C_TYPES[self.dtype]


@dataclass
class Operator:
    """One operator: ``opcode`` is the TFLite builtin name, e.g. ``"CONV_2D"``.

    ``options`` holds the builtin options as plain Python values with
    snake_case keys (``stride_w``, ``padding`` as ``"SAME"``/``"VALID"``,
    ``fused_activation_function`` as ``"NONE"``/``"RELU"``/...).
    """

    index: int
    opcode: str
    inputs: list[int]
    outputs: list[int]
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class Graph:
    """One subgraph with its tensors, operators in execution order, and I/O."""

    name: str
    tensors: list[Tensor]
    operators: list[Operator]
    inputs: list[int]
    outputs: list[int]
    description: str = ""

    def consumers(self, tensor_index: int) -> list[Operator]:
        """Operators that read the tensor, in execution order."""
        return [op for op in self.operators if tensor_index in op.inputs]

    def producer(self, tensor_index: int) -> Operator | None:
        for op in self.operators:
            if tensor_index in op.outputs:
                return op
        return None

    def describe_op(self, op: Operator) -> str:
        """A one-line description naming the op, its index and its tensors."""

        def tname(i: int) -> str:
            if i < 0:
                return "-"
            t = self.tensors[i]
            return f"#{i} '{t.name}' {list(t.shape)} {t.dtype}"

        ins = ", ".join(tname(i) for i in op.inputs)
        outs = ", ".join(tname(i) for i in op.outputs)
        return f"operator {op.index} ({op.opcode}) inputs [{ins}] outputs [{outs}]"
