"""TRANSPOSE: bit-exact with TFLite Micro on single-operator models.

TFLM permutes float32, int8 and int16 tensors of 1 to 5 dimensions with a
constant int32 perm and copies values unchanged; cases cover every
permutation of a 3-D tensor, the usual layout changes of 4-D tensors with 1,
3, 8 and 17 channels, 5-D permutations, the other types and the errors.
"""

from __future__ import annotations

import itertools
from typing import Sequence

import numpy as np
import pytest

from utvm.frontend.model_builder import ModelBuilder

from .support import check, compile_error, requires_tflm

pytestmark = requires_tflm


def transpose_model(
    shape: Sequence[int],
    perm: Sequence[int],
    dtype: str = "int8",
    out_shape: Sequence[int] | None = None,
    perm_dtype: str = "int32",
    runtime_perm: bool = False,
) -> bytes:
    q = {"scale": 0.05, "zero_point": 3} if dtype in ("int8", "int16") else {}
    mb = ModelBuilder("transpose")
    x = mb.input("x", shape, dtype, **q)
    if runtime_perm:
        p = mb.input("perm", (len(perm),), "int32")
    else:
        p = mb.const("perm", np.asarray(perm, dtype=perm_dtype))
    if out_shape is None:
        out_shape = [shape[i] for i in perm]
    y = mb.tensor("y", out_shape, dtype, **q)
    mb.op("TRANSPOSE", [x, p], [y])
    mb.output(y)
    return mb.build()


CASES = [((5,), (0,)), ((3, 7), (1, 0)), ((1, 9), (1, 0)), ((4, 4), (0, 1))]
CASES += [((2, 3, 4), perm) for perm in itertools.permutations(range(3))]
CASES += [
    ((1, 5, 6, 3), (0, 3, 1, 2)),  # NHWC -> NCHW
    ((1, 3, 5, 6), (0, 2, 3, 1)),  # NCHW -> NHWC
    ((2, 4, 3, 8), (0, 3, 1, 2)),
    ((1, 4, 6, 1), (0, 3, 1, 2)),  # one channel: a reshape in disguise
    ((1, 3, 2, 17), (0, 2, 1, 3)),  # swap H and W, channel rows stay contiguous
    ((2, 3, 4, 5), (3, 2, 1, 0)),
    ((2, 3, 4, 5), (1, 0, 2, 3)),
    ((2, 3, 4, 5), (2, 0, 3, 1)),
    ((2, 3, 4, 5), (0, 1, 2, 3)),
    ((2, 3, 2, 4, 3), (4, 0, 2, 1, 3)),  # 5-D, TFLM's maximum
    ((1, 2, 3, 4, 2), (0, 1, 2, 4, 3)),
]


@pytest.mark.parametrize("shape,perm", CASES, ids=[f"{len(s)}d-{''.join(map(str, p))}" for s, p in CASES])
def test_transpose_int8(shape, perm) -> None:
    check(transpose_model(shape, perm), [(shape, "int8")], seed=len(shape))


TYPE_CASES = [
    ("int16", (2, 3, 4), (2, 0, 1)),
    ("int16", (1, 5, 6, 3), (0, 3, 1, 2)),
    ("float32", (2, 3, 4), (1, 2, 0)),
    ("float32", (1, 3, 5, 2, 2), (0, 4, 3, 1, 2)),
]


@pytest.mark.parametrize("dtype,shape,perm", TYPE_CASES, ids=[f"{c[0]}-{len(c[1])}d" for c in TYPE_CASES])
def test_transpose_types(dtype, shape, perm) -> None:
    check(transpose_model(shape, perm, dtype), [(shape, dtype)], seed=11)


def test_transpose_copies_values_across_different_quantization() -> None:
    """TFLM does not requantize: the output's scale and zero point only relabel the copied values."""
    mb = ModelBuilder("transpose")
    x = mb.input("x", (2, 3, 4), "int8", scale=0.05, zero_point=3)
    p = mb.const("perm", np.array([2, 1, 0], np.int32))
    y = mb.tensor("y", (4, 3, 2), "int8", scale=0.5, zero_point=-7)
    mb.op("TRANSPOSE", [x, p], [y])
    mb.output(y)
    check(mb.build(), [((2, 3, 4), "int8")])


# --------------------------------------------------------------------------- refused models


def test_transpose_refuses_runtime_perm() -> None:
    assert "constant" in compile_error(transpose_model((2, 3), (1, 0), runtime_perm=True), "TRANSPOSE")


def test_transpose_refuses_repeated_axis() -> None:
    assert "permutation" in compile_error(transpose_model((3, 3), (0, 0)), "TRANSPOSE")


def test_transpose_refuses_out_of_range_axis() -> None:
    compile_error(transpose_model((3, 3), (0, 2), out_shape=(3, 3)), "TRANSPOSE")


def test_transpose_refuses_six_dims() -> None:
    compile_error(transpose_model((1, 2, 1, 2, 1, 2), (5, 4, 3, 2, 1, 0)), "TRANSPOSE")


def test_transpose_refuses_int32_data() -> None:
    """TFLM's TRANSPOSE supports float32, int8 and int16 only."""
    assert "int32" in compile_error(transpose_model((2, 3), (1, 0), dtype="int32"), "TRANSPOSE")


def test_transpose_refuses_int64_perm() -> None:
    assert "int32" in compile_error(transpose_model((2, 3), (1, 0), perm_dtype="int64"), "TRANSPOSE")


def test_transpose_refuses_wrong_output_shape() -> None:
    compile_error(transpose_model((2, 3), (1, 0), out_shape=(2, 3)), "TRANSPOSE")
