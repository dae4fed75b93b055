"""Fuse a standalone RELU / RELU6 into the clamp of the operator before it.

A standalone int8 RELU whose input and output share one quantization is an
identity requantization followed by a clamp to [zero_point, max]; the
producer's fused activation is exactly that clamp. The fusion applies when
the producer supports a fused activation, has none, and its output feeds only
the RELU and is not a model output.
"""

from __future__ import annotations

import numpy as np

from ..ir import Graph, Tensor

FUSABLE_PRODUCERS = {
    "CONV_2D",
    "DEPTHWISE_CONV_2D",
    "FULLY_CONNECTED",
    "ADD",
    "SUB",
    "MUL",
    "AVERAGE_POOL_2D",
    "MAX_POOL_2D",
}
FUSABLE_ACTIVATIONS = {"RELU": "RELU", "RELU6": "RELU6"}


def _same_quant(a: Tensor, b: Tensor) -> bool:
    if a.quant is None or b.quant is None or a.dtype != b.dtype or a.quant.per_channel or b.quant.per_channel:
        return False
    return np.float32(a.quant.scale[0]) == np.float32(b.quant.scale[0]) and int(a.quant.zero_point[0]) == int(
        b.quant.zero_point[0]
    )


def fuse_activations(graph: Graph) -> Graph:
    removed = set()
    for act in graph.operators:
        if act.opcode not in FUSABLE_ACTIVATIONS or len(act.inputs) != 1 or len(act.outputs) != 1:
            continue
        src, dst = act.inputs[0], act.outputs[0]
        if src < 0:
            continue
        producer = graph.producer(src)
        if (
            producer is None
            or producer.opcode not in FUSABLE_PRODUCERS
            or producer.options.get("fused_activation_function", "NONE") != "NONE"
            or src in graph.outputs
            or len(graph.consumers(src)) != 1
            or graph.tensors[src].dtype != "int8"
            or not _same_quant(graph.tensors[src], graph.tensors[dst])
            or graph.tensors[src].shape != graph.tensors[dst].shape
        ):
            continue
        producer.options = dict(producer.options, fused_activation_function=FUSABLE_ACTIVATIONS[act.opcode])
        producer.outputs = [dst if o == src else o for o in producer.outputs]
        removed.add(id(act))
    graph.operators = [op for op in graph.operators if id(op) not in removed]
    return graph
