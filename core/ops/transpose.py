"""TRANSPOSE: a permutation of the input's axes, as a strided gather.

TFLite Micro (transpose_common.cc / reference transpose.h) supports 1-D to
5-D float32, int8 and int16 tensors with a constant int32 ``perm``; it
copies values unchanged (no requantization, the quantization of input and
output is not checked). Output axis ``d`` walks input axis ``perm[d]``. A
``perm`` that repeats an axis passes TFLM's checks but makes it read out of
bounds, so it is refused here.
"""

from __future__ import annotations

from ..ir import Graph, Operator
from .base import KernelCall, lowering, unsupported
from .strided_slice import check_dtype, const_int32, elem_size, operands, row_major_strides, strided_copy_params

_TYPES = ("float32", "int8", "int16")
_MAX_DIMS = 5


@lowering("TRANSPOSE")
def lower_transpose(op: Operator, graph: Graph) -> KernelCall:
    (x, perm_t), y = operands(op, graph, (2,), "input, perm")
    check_dtype(op, graph, x, y, _TYPES)
    rank = len(x.shape)
    if not 1 <= rank <= _MAX_DIMS:
        raise unsupported(op, graph, f"TRANSPOSE supports 1-D to {_MAX_DIMS}-D inputs, not {rank}-D")
    perm = [int(p) for p in const_int32(op, graph, perm_t, "perm")]
    if len(perm) != rank:
        raise unsupported(op, graph, f"TRANSPOSE perm {perm} has {len(perm)} entries for a {rank}-D input")
    if sorted(perm) != list(range(rank)):
        raise unsupported(op, graph, f"TRANSPOSE perm {perm} is not a permutation of 0..{rank - 1}")
    expected = [x.shape[p] for p in perm]
    if list(y.shape) != expected:
        raise unsupported(
            op, graph, f"TRANSPOSE output shape {list(y.shape)} is not the permuted input shape {expected}"
        )
    in_strides = row_major_strides(x.shape)
    return KernelCall(
        function="utvm_transpose",
        inputs=[op.inputs[0]],
        outputs=[op.outputs[0]],
        header="utvm/kernels/transpose.h",
        sources=["kernels/transpose.c", "kernels/strided_slice.c"],
        params_type="utvm_strided_copy_params",
        params=strided_copy_params(expected, [in_strides[p] for p in perm], 0, elem_size(x.dtype)),
    )
