"""STRIDED_SLICE, and the helpers the data-movement lowerings share.

These operators only move elements, so the kernels work on bytes for any
element size. Everything that depends on the static shapes only (slice
bounds, masks, permutations) is computed here, as TFLite Micro computes it:

* TFLM's Prepare checks the output shape with ``StartForAxis`` /
  ``StopForAxis`` and a *float* ``ceil((end - begin) / float(stride))``;
  its Eval pads the parameters to 5-D and iterates with
  ``StridedSliceStartForAxis`` / ``StridedSliceEndForAxis``. Both are
  reproduced; a model where they would disagree with the output tensor is
  refused.
* TFLM zeroes ``ellipsis_mask`` and ``new_axis_mask`` and never sets
  ``offset``: a model using them would compute something else than it says,
  so it is refused. A shrunk axis with a negative stride makes TFLM's loop
  write nothing (begin > begin + 1 is false), which is refused too.

The result is a strided gather (utvm_strided_copy): output axis ``d`` steps
the input by ``stride[d]`` bytes from ``offset``; axes of size 1 are dropped
and axes that stay contiguous are merged so the innermost copy is a memcpy
whenever possible.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from ..ir import Graph, Operator, Tensor
from .base import KernelCall, lowering, unsupported

#: utvm_strided_copy's fixed number of axes (UTVM_STRIDED_COPY_MAX_DIMS).
STRIDED_COPY_MAX_DIMS = 6

_INT32_MAX = (1 << 31) - 1
_INT32_MIN = -(1 << 31)

# --------------------------------------------------------------------------- shared helpers


def elem_size(dtype: str) -> int:
    return int(np.dtype("uint8" if dtype == "bool" else dtype).itemsize)


def row_major_strides(shape: Sequence[int]) -> list[int]:
    """Element strides of a dense row-major tensor."""
    strides = [1] * len(shape)
    for i in range(len(shape) - 2, -1, -1):
        strides[i] = strides[i + 1] * int(shape[i + 1])
    return strides


def operands(op: Operator, graph: Graph, n_inputs: Sequence[int], what: str) -> tuple[list[Tensor], Tensor]:
    """The op's input tensors and its one output, with arity checks."""
    if len(op.inputs) not in n_inputs or len(op.outputs) != 1:
        counts = " or ".join(str(n) for n in n_inputs)
        raise unsupported(op, graph, f"{op.opcode} needs {counts} inputs ({what}) and 1 output")
    if any(i < 0 for i in op.inputs) or op.outputs[0] < 0:
        raise unsupported(op, graph, f"{op.opcode} has an absent input or output tensor")
    check_not_empty(op, graph, graph.tensors[op.outputs[0]])
    return [graph.tensors[i] for i in op.inputs], graph.tensors[op.outputs[0]]


def check_not_empty(op: Operator, graph: Graph, y: Tensor) -> None:
    """TFLM refuses a model with a zero-sized output ("dynamic tensors are not supported")."""
    if any(int(n) <= 0 for n in y.shape):
        raise unsupported(
            op, graph, f"{op.opcode} output '{y.name}' is empty {list(y.shape)} (TFLite Micro rejects empty tensors)"
        )


def check_dtype(op: Operator, graph: Graph, x: Tensor, y: Tensor, allowed: Sequence[str]) -> None:
    if x.dtype not in allowed:
        raise unsupported(
            op, graph, f"{op.opcode} does not support {x.dtype} tensors (TFLite Micro supports {', '.join(allowed)})"
        )
    if y.dtype != x.dtype:
        raise unsupported(op, graph, f"{op.opcode} output type {y.dtype} differs from its input type {x.dtype}")
    if x.nbytes > _INT32_MAX or y.nbytes > _INT32_MAX:
        raise unsupported(op, graph, f"{op.opcode} tensor too large (over 2^31 bytes)")


def const_int32(op: Operator, graph: Graph, t: Tensor, role: str, rank: int | None = 1) -> np.ndarray:
    """The data of a constant int32 index tensor (TFLM reads them as int32 in Prepare)."""
    if not t.is_const:
        raise unsupported(op, graph, f"{op.opcode} needs a constant {role} tensor ('{t.name}' is computed at run time)")
    if t.dtype != "int32":
        raise unsupported(
            op, graph, f"{op.opcode} {role} tensor '{t.name}' must be int32 (TFLite Micro reads int32), not {t.dtype}"
        )
    if rank is not None and len(t.shape) != rank:
        raise unsupported(op, graph, f"{op.opcode} {role} tensor '{t.name}' must be {rank}-D, not {list(t.shape)}")
    return np.asarray(t.data, dtype=np.int64).reshape(-1)


def strided_copy_params(
    shape: Sequence[int], strides: Sequence[int], offset: int, esize: int
) -> dict[str, object]:
    """utvm_strided_copy_params for an output of ``shape`` whose element
    ``index`` is input element ``offset + sum(index * strides)``."""
    shape = [int(n) for n in shape]
    if any(n == 0 for n in shape):
        dims = [(0, 1)]
        offset = 0
    else:
        dims = []
        for n, s in zip(shape, strides):
            if n == 1:
                continue
            s = int(s)
            if dims and dims[-1][1] == s * n:  # the outer axis continues the inner one
                dims[-1] = (dims[-1][0] * n, s)
            else:
                dims.append((n, s))
    if not dims:
        dims = [(1, 1)]
    if len(dims) > STRIDED_COPY_MAX_DIMS:
        raise ValueError(f"strided copy over {len(dims)} axes")
    dims = [(1, 0)] * (STRIDED_COPY_MAX_DIMS - len(dims)) + dims
    values = [offset * esize] + [n for n, _ in dims] + [s * esize for _, s in dims]
    if any(v > _INT32_MAX or v < _INT32_MIN for v in values):
        raise ValueError("strided copy offsets exceed int32")
    return {
        "elem_size": esize,
        "offset": int(offset) * esize,
        "shape": tuple(n for n, _ in dims),
        "stride": tuple(s * esize for _, s in dims),
    }


# --------------------------------------------------------------------------- TFLM's index logic

_STRIDED_SLICE_TYPES = ("float32", "int8", "int16", "int32", "bool")
_MAX_DIMS = 4  # strided_slice_common.cc: kMaxDim


def _clamp(v: int, lo: int, hi: int) -> int:
    return hi if hi < v else (lo if v < lo else v)


def _eval_start(begin: int, stride: int, size: int, begin_masked: bool) -> int:
    """strided_slice::StridedSliceStartForAxis (used by Eval)."""
    start = begin
    if start < 0:
        start += size
    start = _clamp(start, 0, size) if stride > 0 else _clamp(start, -1, size - 1)
    if begin_masked:
        start = 0 if stride > 0 else size - 1
    return start


def _eval_end(end: int, stride: int, size: int, start: int, end_masked: bool, shrink: bool) -> int:
    """strided_slice::StridedSliceEndForAxis with offset == false (used by Eval)."""
    if shrink:
        return start if start >= size else start + 1
    if end < 0:
        end += size
    end = _clamp(end, 0, size) if stride > 0 else _clamp(end, -1, size - 1)
    if end_masked:
        end = size if stride > 0 else -1
    return end


def _prepare_start(begin: int, stride: int, size: int, begin_masked: bool) -> int:
    """strided_slice::StartForAxis (used by Prepare's output size check)."""
    if size == 0:
        return 0
    start = begin
    if begin_masked:
        start = _INT32_MIN if stride > 0 else _INT32_MAX
    if start < 0:
        start += size
    return _clamp(start, 0, size) if stride > 0 else _clamp(start, -1, size - 1)


def _prepare_stop(end: int, stride: int, size: int, start: int, end_masked: bool, shrink: bool) -> int:
    """strided_slice::StopForAxis (used by Prepare's output size check)."""
    if size == 0:
        return 0
    if shrink:
        return start + 1
    stop = end
    if end_masked:
        stop = _INT32_MAX if stride > 0 else _INT32_MIN
    if stop < 0:
        stop += size
    return _clamp(stop, 0, size) if stride > 0 else _clamp(stop, -1, size - 1)


def _loop_count(start: int, stop: int, stride: int) -> int:
    """Iterations of ``for (i = start; stride > 0 ? i < stop : i > stop; i += stride)``."""
    if stride > 0:
        return max(0, -(-(stop - start) // stride))
    return max(0, -(-(start - stop) // -stride))


def _prepare_dim(begin: int, end: int, stride: int) -> int:
    """``int32_t(std::ceil((end - begin) / static_cast<float>(stride)))``, floored at 0."""
    q = np.float32(np.float32(end - begin) / np.float32(stride))
    d = int(math.ceil(float(q)))
    return max(d, 0)


# --------------------------------------------------------------------------- lowering


@lowering("STRIDED_SLICE")
def lower_strided_slice(op: Operator, graph: Graph) -> KernelCall:
    (x, begin_t, end_t, strides_t), y = operands(op, graph, (4,), "input, begin, end, strides")
    check_dtype(op, graph, x, y, _STRIDED_SLICE_TYPES)
    rank = len(x.shape)
    if rank > _MAX_DIMS:
        raise unsupported(op, graph, f"STRIDED_SLICE supports inputs of up to {_MAX_DIMS} dimensions, not {rank}")
    opts = op.options
    for mask in ("ellipsis_mask", "new_axis_mask"):
        if int(opts.get(mask, 0) or 0) != 0:
            raise unsupported(
                op, graph, f"STRIDED_SLICE {mask}={opts[mask]} is not supported (TFLite Micro ignores it)"
            )
    if opts.get("offset", False):
        raise unsupported(op, graph, "STRIDED_SLICE offset=true is not supported (TFLite Micro ignores it)")
    begin = const_int32(op, graph, begin_t, "begin")
    end = const_int32(op, graph, end_t, "end")
    strides = const_int32(op, graph, strides_t, "strides")
    for role, v in (("begin", begin), ("end", end), ("strides", strides)):
        if v.size != rank:
            raise unsupported(
                op, graph, f"STRIDED_SLICE {role} has {v.size} values for a {rank}-D input (needs one per axis)"
            )
    begin_mask = int(opts.get("begin_mask", 0) or 0)
    end_mask = int(opts.get("end_mask", 0) or 0)
    shrink_mask = int(opts.get("shrink_axis_mask", 0) or 0)

    in_strides = row_major_strides(x.shape)
    out_shape: list[int] = []
    gather_shape: list[int] = []
    gather_strides: list[int] = []
    offset = 0
    for d in range(rank):
        size, stride = int(x.shape[d]), int(strides[d])
        b, e = int(begin[d]), int(end[d])
        bm, em, shrink = bool(begin_mask >> d & 1), bool(end_mask >> d & 1), bool(shrink_mask >> d & 1)
        if stride == 0:
            raise unsupported(op, graph, f"STRIDED_SLICE stride of axis {d} is 0")
        # Prepare: the output shape TFLM expects.
        p_start = _prepare_start(b, stride, size, bm)
        p_stop = _prepare_stop(e, stride, size, p_start, em, shrink)
        if shrink:
            p_stop = p_start + 1
        # Eval: what TFLM's loops actually visit.
        start = _eval_start(b, stride, size, bm)
        stop = _eval_end(e, stride, size, start, em, shrink)
        count = _loop_count(start, stop, stride)
        if shrink:
            if count != 1:
                raise unsupported(
                    op, graph,
                    f"STRIDED_SLICE shrinks axis {d} to an empty selection (begin {b}, stride {stride}); "
                    "TFLite Micro would write no output",
                )
        else:
            out_shape.append(_prepare_dim(p_start, p_stop, stride))
            if out_shape[-1] != count:
                raise unsupported(
                    op, graph,
                    f"STRIDED_SLICE axis {d}: TFLite Micro's shape check ({out_shape[-1]}) and its loop "
                    f"({count} elements) disagree",
                )
        gather_shape.append(count)
        gather_strides.append(stride * in_strides[d])
        if count > 0:
            offset += start * in_strides[d]
    if tuple(out_shape) != tuple(y.shape):
        raise unsupported(
            op, graph, f"STRIDED_SLICE output shape {list(y.shape)} differs from the slice's shape {out_shape}"
        )
    if any(n == 0 for n in gather_shape):
        offset = 0
    return KernelCall(
        function="utvm_strided_copy",
        inputs=[op.inputs[0]],
        outputs=[op.outputs[0]],
        header="utvm/kernels/strided_slice.h",
        sources=["kernels/strided_slice.c"],
        params_type="utvm_strided_copy_params",
        params=strided_copy_params(gather_shape, gather_strides, offset, elem_size(x.dtype)),
    )
