"""Armv8.1-M MVE (Helium) variant of ADD and SUB on int8 tensors of the same shape.

The reference kernel scales each input with a double-rounding
requantization of ``(x + offset) << 20`` (see elementwise.py); that value
depends on the one int8 input only, so it is tabulated here for all 256
values (input2's negated for SUB) and the kernel gathers it
(utvm/kernels/mve/elementwise.h). The tables are computed with the same
fixed-point arithmetic as the C reference (utvm.quant), so they are exact.
"""

from __future__ import annotations

import numpy as np

from ..ir import Graph, Operator
from ..quant import multiply_by_quantized_multiplier
from .base import ConstArray, KernelCall, variant
from .conv_mve import HEADER_DIR, SOURCE_DIR, wrap32


def _table(offset: int, left_shift: int, multiplier: int, shift: int, negate: bool) -> np.ndarray:
    """Contribution of every int8 value, indexed by its byte (0..127, then -128..-1)."""
    values = np.arange(256, dtype=np.int64)
    x = np.where(values >= 128, values - 256, values)
    scaled = multiply_by_quantized_multiplier((x + offset) * (1 << left_shift), multiplier, shift)
    return wrap32(-scaled if negate else scaled)


def add_sub_mve(op: Operator, graph: Graph, call: KernelCall) -> KernelCall | None:
    p = call.params
    if call.function not in ("utvm_add_s8", "utvm_sub_s8") or p["broadcast"]:
        return None
    ls = int(p["left_shift"])
    table1 = _table(int(p["input1_offset"]), ls, int(p["input1_multiplier"]), int(p["input1_shift"]), False)
    table2 = _table(
        int(p["input2_offset"]), ls, int(p["input2_multiplier"]), int(p["input2_shift"]), op.opcode == "SUB"
    )
    return KernelCall(
        function="utvm_add_s8_mve",
        inputs=list(call.inputs),
        outputs=list(call.outputs),
        header=f"{HEADER_DIR}/elementwise.h",
        sources=[f"{SOURCE_DIR}/elementwise.c"],
        params_type="utvm_mve_add_params",
        params=dict(
            size=p["size"], output_multiplier=p["output_multiplier"], output_right=-int(p["output_shift"]),
            output_offset=p["output_offset"], act_min=p["act_min"], act_max=p["act_max"],
            table1=ConstArray("int32_t", table1), table2=ConstArray("int32_t", table2),
        ),
        inplace=call.inplace,
    )


variant("ADD", "mve", "add_s8_mve")(add_sub_mve)
variant("SUB", "mve", "sub_s8_mve")(add_sub_mve)
