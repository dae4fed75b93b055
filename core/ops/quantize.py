"""QUANTIZE (float32 -> int8/int16, and requantization between integer types)
and DEQUANTIZE (int8/uint8/int16 -> float32).

As in TFLite Micro:

* float -> integer (AffineQuantize) divides by the output scale in float at
  run time and rounds half away from zero; the kernel reproduces that without
  libm.
* integer -> integer (Requantize) uses QuantizeMultiplier(double(s_in) /
  double(s_out)) and the double-rounding MultiplyByQuantizedMultiplier, for the
  type pairs TFLite Micro's Prepare and Eval accept.
* DEQUANTIZE computes ``double(scale) * (q - zp)`` rounded to float, which one
  float multiply reproduces exactly.
* The output of QUANTIZE and the input of DEQUANTIZE must be quantized per
  tensor.
"""

from __future__ import annotations

from ..ir import Graph, Operator, Tensor
from ..quant import quantize_multiplier
from .base import InPlace, KernelCall, lowering, unsupported
from .elementwise import per_tensor_quant

HEADER = "utvm/kernels/quantize.h"
SOURCES = ["kernels/quantize.c"]

_SUFFIX = {"int8": "s8", "uint8": "u8", "int16": "s16", "int32": "s32", "float32": "f32"}

#: (input dtype, output dtype) pairs TFLite Micro requantizes between.
_REQUANTIZE_PAIRS = {
    ("int8", "int8"),
    ("int8", "uint8"),
    ("int8", "int16"),
    ("int8", "int32"),
    ("uint8", "int8"),
    ("int16", "int8"),
    ("int16", "int16"),
    ("int16", "int32"),
    ("int32", "int8"),
    ("int32", "int16"),
}


def _operands(op: Operator, graph: Graph) -> tuple[Tensor, Tensor]:
    if len(op.inputs) != 1 or len(op.outputs) != 1 or op.inputs[0] < 0 or op.outputs[0] < 0:
        raise unsupported(op, graph, f"{op.opcode} needs one input and one output")
    x, y = graph.tensors[op.inputs[0]], graph.tensors[op.outputs[0]]
    if x.size != y.size:
        raise unsupported(op, graph, f"{op.opcode} input and output sizes differ ({x.size} vs {y.size})")
    return x, y


@lowering("QUANTIZE")
def lower_quantize(op: Operator, graph: Graph) -> KernelCall:
    x, y = _operands(op, graph)
    s_out, z_out = per_tensor_quant(op, graph, y, "output")
    common = dict(inputs=[op.inputs[0]], outputs=[op.outputs[0]], header=HEADER, sources=list(SOURCES))
    if x.dtype == "float32":
        if y.dtype not in ("int8", "int16"):
            raise unsupported(op, graph, f"QUANTIZE from float32 supports int8 and int16 outputs only (got {y.dtype})")
        return KernelCall(
            function=f"utvm_quantize_f32_{_SUFFIX[y.dtype]}",
            params_type="utvm_affine_params",
            params={"size": x.size, "zero_point": z_out, "scale": s_out},
            **common,
        )
    if (x.dtype, y.dtype) not in _REQUANTIZE_PAIRS:
        raise unsupported(op, graph, f"QUANTIZE from {x.dtype} to {y.dtype} is not supported")
    s_in, z_in = per_tensor_quant(op, graph, x, "input")
    multiplier, shift = quantize_multiplier(float(s_in) / float(s_out))
    same_size = x.nbytes == y.nbytes
    return KernelCall(
        function=f"utvm_requantize_{_SUFFIX[x.dtype]}_{_SUFFIX[y.dtype]}",
        params_type="utvm_requantize_params",
        params={
            "size": x.size,
            "input_zero_point": z_in,
            "output_zero_point": z_out,
            "multiplier": multiplier,
            "shift": shift,
        },
        inplace=InPlace() if same_size else None,
        **common,
    )


@lowering("DEQUANTIZE")
def lower_dequantize(op: Operator, graph: Graph) -> KernelCall:
    x, y = _operands(op, graph)
    if x.dtype not in ("int8", "uint8", "int16") or y.dtype != "float32":
        raise unsupported(
            op, graph, f"DEQUANTIZE supports int8, uint8 and int16 to float32 only (got {x.dtype} -> {y.dtype})"
        )
    s_in, z_in = per_tensor_quant(op, graph, x, "input")
    return KernelCall(
        function=f"utvm_dequantize_{_SUFFIX[x.dtype]}_f32",
        inputs=[op.inputs[0]],
        outputs=[op.outputs[0]],
        header=HEADER,
        sources=list(SOURCES),
        params_type="utvm_affine_params",
        params={"size": x.size, "zero_point": z_in, "scale": s_in},
    )
