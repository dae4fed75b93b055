"""Evaluate operators whose inputs are all constant at compile time.

Only operators whose result is exact in numpy are folded: pure data movement
(RESHAPE, SQUEEZE, TRANSPOSE) and DEQUANTIZE (one float32 multiply, as TFLM).
The folded output becomes a constant tensor and the operator disappears.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..ir import Graph, Operator, Tensor

#: Constants larger than this are left to the runtime rather than duplicated.
MAX_FOLDED_ELEMENTS = 1 << 20


def _reshape(op: Operator, graph: Graph, out: Tensor) -> np.ndarray:
    return graph.tensors[op.inputs[0]].data.reshape(out.shape)


def _transpose(op: Operator, graph: Graph, out: Tensor) -> np.ndarray:
    data = graph.tensors[op.inputs[0]].data
    perm = [int(p) for p in graph.tensors[op.inputs[1]].data.reshape(-1)]
    return np.transpose(data, perm).reshape(out.shape)


def _dequantize(op: Operator, graph: Graph, out: Tensor) -> np.ndarray:
    src = graph.tensors[op.inputs[0]]
    q = src.quant
    if q is None or q.per_channel or out.dtype != "float32":
        raise ValueError("not foldable")
    return (np.float32(q.scalar_scale) * (src.data.astype(np.int32) - q.scalar_zero_point).astype(np.float32)).astype(
        np.float32
    )


FOLDERS: dict[str, Callable[[Operator, Graph, Tensor], np.ndarray]] = {
    "RESHAPE": _reshape,
    "SQUEEZE": _reshape,
    "TRANSPOSE": _transpose,
    "DEQUANTIZE": _dequantize,
}


def fold_constants(graph: Graph) -> Graph:
    kept = []
    for op in graph.operators:
        folder = FOLDERS.get(op.opcode)
        data_inputs = [i for i in op.inputs if i >= 0]
        foldable = (
            folder is not None
            and len(op.outputs) == 1
            and data_inputs
            and all(graph.tensors[i].is_const for i in data_inputs)
            and op.outputs[0] not in graph.outputs
            and graph.tensors[op.outputs[0]].size <= MAX_FOLDED_ELEMENTS
        )
        if foldable:
            out = graph.tensors[op.outputs[0]]
            try:
                value = folder(op, graph, out)
            except (ValueError, IndexError, TypeError):
                value = None  # malformed operands: leave the op for its lowering to judge
            if value is not None and value.size == out.size:
                out.data = value.astype(out.dtype).reshape(out.shape)
                continue
        kept.append(op)
    graph.operators = kept
    return graph
