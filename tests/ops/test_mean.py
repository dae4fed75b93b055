"""MEAN (int8, constant axes): bit-exact with TFLite Micro on single-operator models.

TFLM has one int8 path for every axis set; the grid covers the spatial mean
[1, 2] of 4-D tensors (global average pooling), single axes, all axes,
negative and repeated axes, ranks 1..5, keep_dims true and false, and
requantization multipliers below one, above one, tiny and flushed to zero.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Iterator

import numpy as np
import pytest

from utvm.frontend.model_builder import ModelBuilder
from utvm.ops.mean import mean_multiplier

from .support import N_INPUTS, check, compare_runs, compile_error, requires_tflm

pytestmark = requires_tflm


@dataclass(frozen=True)
class Case:
    shape: tuple = (1, 5, 6, 7)
    axes: tuple = (1, 2)
    keep_dims: bool = True
    s_in: float = 0.05
    z_in: int = -3
    s_out: float = 0.05
    z_out: int = -3
    seed: int = 0

    @property
    def out_shape(self) -> tuple:
        rank = len(self.shape)
        resolved = {a + rank if a < 0 else a for a in self.axes}
        if self.keep_dims:
            return tuple(1 if i in resolved else d for i, d in enumerate(self.shape))
        return tuple(d for i, d in enumerate(self.shape) if i not in resolved)

    def id(self) -> str:
        return (
            f"{'x'.join(map(str, self.shape))}-axes{','.join(map(str, self.axes))}-keep{int(self.keep_dims)}"
            f"-in{self.s_in:g},{self.z_in}-out{self.s_out:g},{self.z_out}"
        )


def build(case: Case, out_shape: tuple | None = None, axes_dtype: str = "int32", const_axes: bool = True,
          dtype: str = "int8") -> bytes:
    mb = ModelBuilder("mean_test")
    x = mb.input("x", case.shape, dtype, scale=case.s_in, zero_point=case.z_in)
    if const_axes:
        a = mb.const("axes", np.array(case.axes, dtype=axes_dtype))
    else:
        a = mb.input("axes", (len(case.axes),), axes_dtype)
    shape = case.out_shape if out_shape is None else out_shape
    y = mb.tensor("y", shape, dtype, scale=case.s_out, zero_point=case.z_out)
    mb.op("MEAN", [x, a], [y], keep_dims=case.keep_dims)
    mb.output(y)
    return mb.build()


def mean_inputs(case: Case, rng: np.random.Generator) -> Iterator[list[np.ndarray]]:
    """N_INPUTS input sets: random, then all at one end (sums far from zero), then small values."""
    for k in range(N_INPUTS):
        x = rng.integers(-128, 128, size=case.shape).astype(np.int8)
        if k == 1:  # all at one end: sums far from zero
            x[...] = rng.choice([-128, 127])
        if k == 2:  # small values: means near rounding boundaries
            x = rng.integers(-2, 3, size=case.shape).astype(np.int8)
        yield [x]


def check_case(case: Case) -> None:
    compare_runs(build(case), mean_inputs(case, np.random.default_rng(case.seed)), name="mean_test")


B = Case()

AXES = [
    ((1, 5, 6, 7), (1, 2)),
    ((2, 4, 4, 8), (2, 1)),
    ((1, 12, 12, 17), (1, 2)),
    ((1, 1, 9, 3), (1, 2)),
    ((2, 3, 4, 5), (0,)),
    ((2, 3, 4, 5), (3,)),
    ((2, 3, 4, 5), (-1, 1)),
    ((2, 3, 4, 5), (0, 1, 2, 3)),
    ((3, 4, 5), (2, 2, 0)),  # a repeated axis counts once
    ((7,), (0,)),
    ((4, 9), (1,)),
    ((4, 9), (-2,)),
    ((2, 3, 1, 5), (2,)),  # reducing an axis of size 1
    ((2, 3, 4, 5, 2), (1, 3)),
]

CASES = [
    replace(B, shape=s, axes=a, keep_dims=keep, seed=i)
    for i, (s, a) in enumerate(AXES)
    for keep in (True, False)
] + [
    # requantization: smaller, larger (multiplier > 1), tiny, flushed to zero; zero points at the ends
    replace(B, s_in=0.05, z_in=-128, s_out=0.1, z_out=127),
    replace(B, s_in=0.05, z_in=127, s_out=0.01, z_out=-128),
    replace(B, shape=(1, 2, 2, 5), s_in=0.5, z_in=10, s_out=0.004, z_out=0),  # multiplier > 1 after 1/n
    replace(B, s_in=1e-3, z_in=0, s_out=2.0, z_out=-7),
    replace(B, s_in=1e-6, z_in=3, s_out=1e4, z_out=9),  # multiplier flushed to 0
    replace(B, shape=(1, 33, 33, 3), s_in=0.02, z_in=-5, s_out=0.03, z_out=2),  # n = 1089
    replace(B, shape=(1, 64, 64, 1), s_in=0.1, z_in=0, s_out=0.1, z_out=0),  # n = 4096, a power of two
    replace(B, s_in=1.0 / 3, z_in=1, s_out=1.0 / 7, z_out=-1),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id() for c in CASES])
def test_mean_matches_tflm(case: Case) -> None:
    check_case(case)


def test_mean_after_pool_chain() -> None:
    """AVERAGE_POOL_2D -> MEAN: a pool then a global mean over the remaining positions."""
    mb = ModelBuilder("mean_test")
    x = mb.input("x", (1, 8, 8, 6), "int8", scale=0.05, zero_point=-20)
    t = mb.tensor("t", (1, 4, 4, 6), "int8", scale=0.05, zero_point=-20)
    a = mb.const("axes", np.array([1, 2], dtype=np.int32))
    y = mb.tensor("y", (1, 6), "int8", scale=0.02, zero_point=4)
    mb.op("AVERAGE_POOL_2D", [x], [t], padding="VALID", stride_h=2, stride_w=2, filter_height=2, filter_width=2,
          fused_activation_function="NONE")
    mb.op("MEAN", [t, a], [y], keep_dims=False)
    mb.output(y)
    check(mb.build(), [((1, 8, 8, 6), "int8")], seed=3, name="mean_test")


def test_mean_multiplier_folds_the_count() -> None:
    # TFLM: s = min(floor(log2 n), 32, 31 + shift); multiplier = (m << s) // n; shift -= s
    m, shift = mean_multiplier(0.05, 0.05, 30)  # m = 2^30, shift 1
    assert (m, shift) == ((1 << 30 << 4) // 30, 1 - 4)
    assert mean_multiplier(1e-6, 1e4, 10) == (0, -3)  # flushed multiplier: 0 << s // n


def test_refusals() -> None:
    msg = compile_error(build(B, const_axes=False), "MEAN")
    assert "constant" in msg
    msg = compile_error(build(B, axes_dtype="int64"), "MEAN")
    assert "int64" in msg
    msg = compile_error(build(replace(B, axes=(4,)), out_shape=(1, 5, 6, 7)), "MEAN")
    assert "out of range" in msg
    msg = compile_error(build(B, out_shape=(1, 1, 1, 6)), "MEAN")
    assert "elements" in msg
    msg = compile_error(build(replace(B, s_in=1e-3, z_in=0, s_out=1e-3, z_out=0), dtype="int16"), "MEAN")
    assert "int16" in msg


def test_float_is_refused() -> None:
    mb = ModelBuilder("mean_test")
    x = mb.input("x", (1, 3, 3, 2), "float32")
    a = mb.const("axes", np.array([1, 2], dtype=np.int32))
    y = mb.tensor("y", (1, 1, 1, 2), "float32")
    mb.op("MEAN", [x, a], [y], keep_dims=True)
    mb.output(y)
    msg = compile_error(mb.build(), "MEAN")
    assert "float32" in msg


def test_mean_with_empty_axes_constant_is_identity_like_tflm():
    """An empty constant (zero-element axes tensor) is read as a constant, not as a missing producer."""
    mb = ModelBuilder("m")
    x = mb.input("x", (1, 2, 3), "int8", scale=0.1, zero_point=-3)
    axes = mb.const("axes", np.zeros((0,), np.int32))
    y = mb.tensor("y", (1, 2, 3), "int8", scale=0.1, zero_point=-3)
    mb.op("MEAN", [x, axes], [y], keep_dims=True)
    mb.output(y)
    check(mb.build(), [((1, 2, 3), "int8")], seed=3, n=1)
