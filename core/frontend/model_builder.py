"""A small builder for .tflite models: single-operator test models and the demo.

Example::

    mb = ModelBuilder("relu_test")
    x = mb.input("x", (1, 4), "int8", scale=0.1, zero_point=-3)
    y = mb.tensor("y", (1, 4), "int8", scale=0.1, zero_point=-3)
    mb.op("RELU", [x], [y])
    mb.output(y)
    tflite_bytes = mb.build()

Shapes of intermediate tensors are given by the caller; the builder does no
shape inference, so a test states the shape it expects.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..ir import Graph, Operator, Quant, Tensor
from .tflite_writer import write_tflite


class ModelBuilder:
    """Accumulates tensors and operators of one subgraph; :meth:`build` writes it."""

    def __init__(self, name: str = "model") -> None:
        self.graph = Graph(name=name, tensors=[], operators=[], inputs=[], outputs=[])

    def tensor(
        self,
        name: str,
        shape: Sequence[int],
        dtype: str = "int8",
        scale: float | Sequence[float] | None = None,
        zero_point: int | Sequence[int] = 0,
        axis: int = 0,
        data: np.ndarray | None = None,
    ) -> int:
        """Add a tensor; returns its index. ``scale=None`` means not quantized."""
        quant = None
        if scale is not None:
            scales = np.atleast_1d(np.asarray(scale, dtype=np.float32))
            zps = np.atleast_1d(np.asarray(zero_point, dtype=np.int64))
            if zps.size == 1 and scales.size > 1:
                zps = np.repeat(zps, scales.size)
            quant = Quant(scale=scales, zero_point=zps, axis=axis)
        if data is not None:
            data = np.asarray(data).astype(dtype).reshape(tuple(shape))
        index = len(self.graph.tensors)
        self.graph.tensors.append(Tensor(index, name, tuple(int(d) for d in shape), dtype, quant, data))
        return index

    def const(self, name: str, data: np.ndarray, dtype: str | None = None, **quant: Any) -> int:
        """Add a constant tensor holding ``data``."""
        data = np.asarray(data)
        return self.tensor(name, data.shape, dtype or str(data.dtype), data=data, **quant)

    def input(self, name: str, shape: Sequence[int], dtype: str = "int8", **quant: Any) -> int:
        index = self.tensor(name, shape, dtype, **quant)
        self.graph.inputs.append(index)
        return index

    def output(self, index: int) -> None:
        self.graph.outputs.append(index)

    def op(self, opcode: str, inputs: Sequence[int], outputs: Sequence[int], **options: Any) -> None:
        """Add an operator; ``options`` are its builtin options (snake_case keys)."""
        self.graph.operators.append(
            Operator(len(self.graph.operators), opcode, list(inputs), list(outputs), dict(options))
        )

    def build(self) -> bytes:
        return write_tflite(self.graph)
