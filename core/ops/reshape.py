"""RESHAPE and SQUEEZE: the output is the input's storage under another shape."""

from __future__ import annotations

from ..ir import Graph, Operator
from .base import ALIAS, lowering, unsupported


@lowering("RESHAPE", "SQUEEZE")
def lower_reshape(op: Operator, graph: Graph) -> object:
    if not op.inputs or op.inputs[0] < 0 or len(op.outputs) != 1:
        raise unsupported(op, graph, f"{op.opcode} needs one data input and one output")
    src, dst = graph.tensors[op.inputs[0]], graph.tensors[op.outputs[0]]
    if src.size != dst.size or src.dtype != dst.dtype:
        raise unsupported(
            op, graph, f"{op.opcode} changes the element count ({src.size} -> {dst.size}) or the type"
        )
    return ALIAS
