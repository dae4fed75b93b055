"""STRIDED_SLICE: bit-exact with TFLite Micro.

TFLM slices 1-D to 4-D float32/int8/int16/int32/bool tensors with constant
int32 begin/end/strides, begin_mask, end_mask and shrink_axis_mask; it
ignores ellipsis_mask, new_axis_mask and offset, which utvm therefore
refuses. Cases cover crops, positive and negative strides, negative and
out-of-range indices, every mask, shrinking to a scalar, all types; a sweep
checks the compile-time index logic on random slices against TFLM by
emulating the kernel in numpy (no C compiled).
"""

from __future__ import annotations

import itertools
from typing import Sequence

import numpy as np
import pytest

from utvm.errors import ModelError
from utvm.frontend.model_builder import ModelBuilder
from utvm.frontend.tflite_reader import read_tflite
from utvm.ops import lower
from utvm.reference import tflm_run

from .support import check, compile_error, requires_tflm

pytestmark = requires_tflm


def tf_slice_shape(shape, begin, end, strides, begin_mask=0, end_mask=0, shrink=0) -> list[int]:
    """The output shape TensorFlow gives the slice (Python slicing semantics)."""
    out = []
    for d, n in enumerate(shape):
        if shrink >> d & 1:
            continue
        b = None if begin_mask >> d & 1 else begin[d]
        e = None if end_mask >> d & 1 else end[d]
        out.append(len(range(n)[slice(b, e, strides[d])]))
    return out


def slice_model(
    shape: Sequence[int],
    begin: Sequence[int],
    end: Sequence[int],
    strides: Sequence[int],
    dtype: str = "int8",
    out_shape: Sequence[int] | None = None,
    index_dtype: str = "int32",
    runtime_begin: bool = False,
    **options,
) -> bytes:
    q = {"scale": 0.05, "zero_point": 1} if dtype in ("int8", "int16") else {}
    mb = ModelBuilder("slice")
    x = mb.input("x", shape, dtype, **q)
    if runtime_begin:
        b = mb.input("begin", (len(begin),), "int32")
    else:
        b = mb.const("begin", np.asarray(begin, dtype=index_dtype))
    e = mb.const("end", np.asarray(end, dtype=index_dtype))
    s = mb.const("strides", np.asarray(strides, dtype=index_dtype))
    if out_shape is None:
        out_shape = tf_slice_shape(
            shape, begin, end, strides,
            options.get("begin_mask", 0), options.get("end_mask", 0), options.get("shrink_axis_mask", 0),
        )
    y = mb.tensor("y", out_shape, dtype, **q)
    mb.op("STRIDED_SLICE", [x, b, e, s], [y], **options)
    mb.output(y)
    return mb.build()


CASES = [
    # (shape, begin, end, strides, options)
    ((1, 8, 8, 3), (0, 2, 2, 0), (1, 6, 7, 3), (1, 1, 1, 1), {}),  # spatial crop
    ((1, 8, 8, 3), (0, 0, 1, 0), (1, 8, 8, 3), (1, 2, 2, 1), {}),  # stride 2 in H and W
    ((1, 4, 5, 17), (0, 0, 0, 3), (1, 4, 5, 11), (1, 1, 1, 1), {}),  # channel range
    ((1, 4, 5, 17), (0, 0, 0, 1), (1, 4, 5, 17), (1, 1, 1, 3), {}),  # every third channel
    ((2, 5, 6, 3), (0, -1, 1, 0), (2, 0, 6, 3), (1, -2, 2, 1), {}),  # negative stride and index
    ((2, 5, 6, 3), (0, 0, 0, 0), (0, 0, 0, 0), (1, -1, 1, -1), {"begin_mask": 15, "end_mask": 15}),  # reverse H, C
    ((3, 7), (-2, -6), (-1, -1), (1, 2), {}),  # negative begin and end
    ((3, 7), (-10, -100), (100, 100), (1, 1), {}),  # out-of-range indices clamp
    ((3, 7), (5, 9), (-10, -100), (-1, -3), {}),  # clamped, backwards
    ((3, 7), (1, 0), (2, 7), (1, 5), {}),  # stride larger than what is left
    ((3, 7), (2, 3), (3, 5), (1, 1), {"begin_mask": 1, "end_mask": 2}),
    ((3, 7), (2, 3), (0, 5), (-1, 1), {"begin_mask": 1, "end_mask": 1}),
    ((4, 5), (2, 0), (3, 5), (1, 1), {"shrink_axis_mask": 1}),  # take row 2
    ((4, 5), (0, -1), (4, 0), (1, 1), {"shrink_axis_mask": 2}),  # last column; end 0 ignored (TF issue 19260)
    ((4, 5), (1, 3), (2, 4), (1, 1), {"shrink_axis_mask": 3}),  # a scalar
    ((2, 3, 4, 5), (1, 0, 2, 0), (2, 3, 3, 5), (1, 1, 1, 2), {"shrink_axis_mask": 5}),
    ((2, 3, 4, 5), (0, 1, 0, 4), (2, 3, 4, 0), (1, 1, 1, -1), {"end_mask": 1}),
    ((9,), (1,), (8,), (3,), {}),
    ((9,), (0,), (0,), (-1,), {"begin_mask": 1, "end_mask": 1}),  # reverse a vector
    ((9,), (-3,), (0,), (1,), {"end_mask": 1}),
    ((2, 6, 4), (0, 1, 0), (2, 5, 4), (1, 1, 1), {}),  # contiguous block
    ((2, 6, 4), (1, 5, 3), (0, 0, 0), (-1, -2, -1), {"end_mask": 7}),
    ((2, 6, 4), (0, 0, 0), (2, 6, 4), (1, 1, 1), {}),  # identity
]


@pytest.mark.parametrize(
    "shape,begin,end,strides,options", CASES, ids=[f"{len(c[0])}d-{i}" for i, c in enumerate(CASES)]
)
def test_strided_slice_int8(shape, begin, end, strides, options) -> None:
    check(slice_model(shape, begin, end, strides, **options), [(shape, "int8")], seed=len(shape))


TYPE_CASES = ["float32", "int16", "int32", "bool"]


@pytest.mark.parametrize("dtype", TYPE_CASES)
def test_strided_slice_types(dtype: str) -> None:
    shape = (2, 5, 6, 3)
    model = slice_model(shape, (0, -1, 1, 0), (2, 0, 6, 3), (1, -2, 2, 1), dtype, shrink_axis_mask=0)
    check(model, [(shape, dtype)], seed=8)


def test_strided_slice_copies_values_across_different_quantization() -> None:
    """TFLM does not requantize: the output's scale and zero point only relabel the copied values."""
    mb = ModelBuilder("slice")
    x = mb.input("x", (4, 6), "int8", scale=0.05, zero_point=3)
    b = mb.const("begin", np.array([1, 5], np.int32))
    e = mb.const("end", np.array([4, 0], np.int32))
    s = mb.const("strides", np.array([2, -2], np.int32))
    y = mb.tensor("y", (2, 3), "int8", scale=0.25, zero_point=-9)
    mb.op("STRIDED_SLICE", [x, b, e, s], [y])
    mb.output(y)
    check(mb.build(), [((4, 6), "int8")])


def _emulate_strided_copy(params: dict, x: np.ndarray) -> np.ndarray:
    """utvm_strided_copy in numpy, over the bytes of ``x``."""
    src = np.frombuffer(x.tobytes(), dtype=np.uint8)
    es = params["elem_size"]
    chunks = []
    for idx in itertools.product(*(range(n) for n in params["shape"])):
        at = params["offset"] + sum(i * s for i, s in zip(idx, params["stride"]))
        chunks.append(src[at : at + es])
    return np.concatenate(chunks).view(x.dtype) if chunks else np.zeros(0, x.dtype)


def test_strided_slice_index_logic_matches_tflm() -> None:
    """Random slices (shapes, indices, strides, masks): the compile-time gather
    parameters, applied by a numpy model of the kernel, reproduce TFLM."""
    rng = np.random.default_rng(2024)
    compared = refused = 0
    while compared < 250:
        rank = int(rng.integers(1, 5))
        shape = [int(n) for n in rng.integers(1, 6, size=rank)]
        begin = [int(rng.integers(-n - 2, n + 3)) for n in shape]
        end = [int(rng.integers(-n - 2, n + 3)) for n in shape]
        strides = [int(rng.choice([-3, -2, -1, 1, 2, 3])) for _ in shape]
        opts = {
            "begin_mask": int(rng.integers(0, 1 << rank)),
            "end_mask": int(rng.integers(0, 1 << rank)),
            "shrink_axis_mask": int(rng.integers(0, 1 << rank)) if rng.random() < 0.4 else 0,
        }
        out_shape = tf_slice_shape(shape, begin, end, strides, *opts.values())
        if 0 in out_shape:
            continue
        model = slice_model(shape, begin, end, strides, **opts)
        graph = read_tflite(model)
        try:
            call = lower(graph.operators[0], graph)
        except ModelError as exc:
            # Only a shrunk axis that selects nothing, where TFLM writes no output at all.
            assert "empty selection" in str(exc)
            refused += 1
            continue
        x = rng.integers(-128, 128, size=shape).astype(np.int8)
        want = tflm_run(model, [x])[0].reshape(-1)
        np.testing.assert_array_equal(
            _emulate_strided_copy(call.params, x), want, err_msg=str((shape, begin, end, strides, opts))
        )
        compared += 1
    assert refused > 0


# --------------------------------------------------------------------------- refused models


@pytest.mark.parametrize("mask", ["ellipsis_mask", "new_axis_mask"])
def test_strided_slice_refuses_ignored_masks(mask: str) -> None:
    model = slice_model((4, 5), (0, 0), (4, 5), (1, 1), out_shape=(4, 5), **{mask: 1})
    assert mask in compile_error(model, "STRIDED_SLICE")


def test_strided_slice_refuses_offset() -> None:
    assert "offset" in compile_error(slice_model((4, 5), (0, 0), (2, 2), (1, 1), offset=True), "STRIDED_SLICE")


def test_strided_slice_refuses_zero_stride() -> None:
    assert "stride" in compile_error(slice_model((4, 5), (0, 0), (2, 2), (1, 0), out_shape=(2, 2)), "STRIDED_SLICE")


def test_strided_slice_refuses_five_dims() -> None:
    compile_error(slice_model((1, 2, 1, 2, 2), (0,) * 5, (1, 2, 1, 2, 2), (1,) * 5), "STRIDED_SLICE")


def test_strided_slice_refuses_runtime_begin() -> None:
    assert "constant" in compile_error(slice_model((4, 5), (0, 0), (2, 2), (1, 1), runtime_begin=True), "STRIDED_SLICE")


def test_strided_slice_refuses_int64_indices() -> None:
    assert "int32" in compile_error(slice_model((4, 5), (0, 0), (2, 2), (1, 1), index_dtype="int64"), "STRIDED_SLICE")


def test_strided_slice_refuses_empty_shrink() -> None:
    """A shrunk axis with a negative stride makes TFLM write nothing at all."""
    model = slice_model((4, 5), (1, 0), (2, 5), (-1, 1), out_shape=(5,), shrink_axis_mask=1)
    assert "empty selection" in compile_error(model, "STRIDED_SLICE")


def test_strided_slice_refuses_wrong_output_shape() -> None:
    compile_error(slice_model((4, 5), (0, 0), (2, 2), (1, 1), out_shape=(2, 3)), "STRIDED_SLICE")


def test_strided_slice_refuses_empty_output() -> None:
    """TFLM rejects tensors with a zero dimension ("dynamic tensors")."""
    assert "empty" in compile_error(slice_model((4, 5), (2, 0), (2, 5), (1, 1)), "STRIDED_SLICE")


def test_strided_slice_refuses_short_begin() -> None:
    mb = ModelBuilder("slice")
    x = mb.input("x", (4, 5), "int8", scale=0.1, zero_point=0)
    b = mb.const("begin", np.array([0], np.int32))
    e = mb.const("end", np.array([2, 2], np.int32))
    s = mb.const("strides", np.array([1, 1], np.int32))
    y = mb.tensor("y", (2, 2), "int8", scale=0.1, zero_point=0)
    mb.op("STRIDED_SLICE", [x, b, e, s], [y])
    mb.output(y)
    assert "begin" in compile_error(mb.build(), "STRIDED_SLICE")
