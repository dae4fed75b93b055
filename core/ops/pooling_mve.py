"""Armv8.1-M MVE (Helium) variants of AVERAGE_POOL_2D and MAX_POOL_2D (int8).

The kernels (utvm/kernels/mve/pooling.h) take the reference's parameters;
the average pool sums in int16 lanes, which is exact for windows of at most
256 elements (so larger windows keep the reference kernel).
"""

from __future__ import annotations

from ..ir import Graph, Operator
from .base import KernelCall, variant
from .conv_mve import HEADER_DIR, SOURCE_DIR


def _pool_mve(call: KernelCall, function: str) -> KernelCall:
    return KernelCall(
        function=function,
        inputs=list(call.inputs),
        outputs=list(call.outputs),
        header=f"{HEADER_DIR}/pooling.h",
        sources=[f"{SOURCE_DIR}/pooling.c"],
        params_type=call.params_type,
        params=dict(call.params),
    )


@variant("AVERAGE_POOL_2D", "mve", "avg_pool_s8_mve")
def avg_pool_mve(op: Operator, graph: Graph, call: KernelCall) -> KernelCall | None:
    if call.params["filter_height"] * call.params["filter_width"] > 256:
        return None  # int16 sums: exact up to 256 elements
    return _pool_mve(call, "utvm_avg_pool_s8_mve")


@variant("MAX_POOL_2D", "mve", "max_pool_s8_mve")
def max_pool_mve(op: Operator, graph: Graph, call: KernelCall) -> KernelCall | None:
    return _pool_mve(call, "utvm_max_pool_s8_mve")
