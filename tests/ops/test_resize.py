"""RESIZE_NEAREST_NEIGHBOR: bit-exact with TFLite Micro.

TFLM computes the source row/column in float32; utvm evaluates the same
float32 arithmetic at compile time. Cases cover up- and downscaling by
integer and fractional factors, sizes where float32 and double disagree
(e.g. 2 -> 82), all four align_corners/half_pixel_centers combinations,
batches, channel counts, int8/int16/float32 and the errors; a sweep checks
the index tables against TFLM for thousands of sizes without compiling C.
"""

from __future__ import annotations

import itertools
from typing import Sequence

import numpy as np
import pytest

from utvm.frontend.model_builder import ModelBuilder
from utvm.ops.resize import nearest_indices
from utvm.reference import tflm_run

from .support import check, compile_error, requires_tflm

pytestmark = requires_tflm


def resize_model(
    shape: Sequence[int],
    size: Sequence[int],
    align: bool = False,
    half: bool = False,
    dtype: str = "int8",
    out_shape: Sequence[int] | None = None,
    size_dtype: str = "int32",
    runtime_size: bool = False,
    options: bool = True,
) -> bytes:
    q = {"scale": 0.05, "zero_point": -2} if dtype in ("int8", "int16") else {}
    mb = ModelBuilder("resize")
    x = mb.input("x", shape, dtype, **q)
    if runtime_size:
        s = mb.input("size", (len(size),), "int32")
    else:
        s = mb.const("size", np.asarray(size, dtype=size_dtype))
    if out_shape is None:
        out_shape = (shape[0], size[0], size[1], shape[-1])
    y = mb.tensor("y", out_shape, dtype, **q)
    opts = {"align_corners": align, "half_pixel_centers": half} if options else {}
    mb.op("RESIZE_NEAREST_NEIGHBOR", [x, s], [y], **opts)
    mb.output(y)
    return mb.build()


MODES = list(itertools.product([False, True], repeat=2))  # (align_corners, half_pixel_centers)
SIZES = [
    # (input N, H, W, C), (out H, out W)
    ((1, 2, 3, 3), (4, 6)),  # x2
    ((1, 3, 5, 1), (7, 4)),  # fractional up in H, down in W
    ((1, 6, 8, 8), (3, 2)),  # /2, /4
    ((1, 2, 2, 2), (82, 5)),  # float32 and double pick different rows here
    ((2, 5, 7, 17), (5, 7)),  # identity size, 2 batches, 17 channels
]


@pytest.mark.parametrize("align,half", MODES, ids=[f"align{int(a)}-half{int(h)}" for a, h in MODES])
@pytest.mark.parametrize("shape,size", SIZES, ids=[f"{s[1]}x{s[2]}to{o[0]}x{o[1]}" for s, o in SIZES])
def test_resize_int8(shape, size, align, half) -> None:
    check(resize_model(shape, size, align, half), [(shape, "int8")], seed=size[0])


EXTRA = [
    ("int8", (1, 1, 1, 3), (3, 3), False, False),  # one pixel everywhere
    ("int8", (1, 4, 6, 3), (1, 1), True, False),  # out size 1 with align_corners
    ("int8", (1, 3, 3, 8), (10, 10), False, True),
    ("int16", (1, 3, 4, 2), (6, 5), False, True),
    ("int16", (2, 4, 4, 3), (2, 3), True, False),
    ("float32", (1, 3, 4, 2), (7, 9), False, False),
    ("float32", (1, 5, 3, 1), (2, 8), True, True),
]


@pytest.mark.parametrize("dtype,shape,size,align,half", EXTRA, ids=[f"{c[0]}-{i}" for i, c in enumerate(EXTRA)])
def test_resize_extra(dtype, shape, size, align, half) -> None:
    check(resize_model(shape, size, align, half, dtype), [(shape, dtype)], seed=4)


def test_resize_without_options() -> None:
    check(resize_model((1, 3, 3, 2), (5, 4), options=False), [((1, 3, 3, 2), "int8")])


@pytest.mark.parametrize("align,half", MODES, ids=[f"align{int(a)}-half{int(h)}" for a, h in MODES])
def test_resize_index_tables_match_tflm(align: bool, half: bool) -> None:
    """The compile-time float32 index math against TFLM for many sizes (no C compiled).

    Each model resizes a 1 x in x 1 x 1 ramp (value = row) to every output
    height of the range at once, so TFLM's outputs are its chosen rows.
    """
    for in_size in (1, 2, 3, 5, 7, 10, 13, 29, 97, 255):
        outs = sorted(set(range(1, 41)) | {82, 94, 98, 110, 255, 256, 333, in_size * 3, 2 * in_size - 1})
        mb = ModelBuilder("sweep")
        x = mb.input("x", (1, in_size, 1, 1), "float32")
        for o in outs:
            s = mb.const(f"s{o}", np.array([o, 1], np.int32))
            y = mb.tensor(f"y{o}", (1, o, 1, 1), "float32")
            mb.op("RESIZE_NEAREST_NEIGHBOR", [x, s], [y], align_corners=align, half_pixel_centers=half)
            mb.output(y)
        ramp = np.arange(in_size, dtype=np.float32).reshape(1, in_size, 1, 1)
        for o, got in zip(outs, tflm_run(mb.build(), [ramp])):
            assert got.reshape(-1).astype(int).tolist() == nearest_indices(in_size, o, align, half), (in_size, o)


# --------------------------------------------------------------------------- refused models


def test_resize_refuses_runtime_size() -> None:
    assert "constant" in compile_error(resize_model((1, 2, 2, 1), (4, 4), runtime_size=True), "RESIZE_NEAREST_NEIGHBOR")


def test_resize_refuses_int64_size() -> None:
    assert "int32" in compile_error(resize_model((1, 2, 2, 1), (4, 4), size_dtype="int64"), "RESIZE_NEAREST_NEIGHBOR")


def test_resize_refuses_3d_input() -> None:
    compile_error(resize_model((2, 2, 1), (4, 4), out_shape=(4, 4, 1)), "RESIZE_NEAREST_NEIGHBOR")


def test_resize_refuses_three_sizes() -> None:
    compile_error(resize_model((1, 2, 2, 1), (4, 4, 1), out_shape=(1, 4, 4, 1)), "RESIZE_NEAREST_NEIGHBOR")


def test_resize_refuses_wrong_output_shape() -> None:
    compile_error(resize_model((1, 2, 2, 1), (4, 4), out_shape=(1, 4, 5, 1)), "RESIZE_NEAREST_NEIGHBOR")


def test_resize_refuses_int32_data() -> None:
    assert "int32" in compile_error(resize_model((1, 2, 2, 1), (4, 4), dtype="int32"), "RESIZE_NEAREST_NEIGHBOR")
