"""Standalone RELU and RELU6: bit-exact with TFLite Micro on single-operator models.

TFLite Micro's RELU requantizes from the input to the output quantization;
its RELU6 clamps the raw input values and ignores the output quantization.
Both behaviours are checked, with equal and different quantizations.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pytest

from utvm.ops.base import InPlace
from utvm.frontend.model_builder import ModelBuilder
from utvm.frontend.tflite_reader import read_tflite
from utvm.ops import lower

from .support import N_INPUTS, check, compare_runs, compile_error, random_tensor, requires_tflm

pytestmark = requires_tflm


@dataclass(frozen=True)
class Case:
    opcode: str = "RELU"
    shape: tuple = (1, 5, 5, 3)
    dtype: str = "int8"
    s_in: float = 0.05
    z_in: int = -10
    s_out: float = 0.05
    z_out: int = -10
    seed: int = 0

    def id(self) -> str:
        return (
            f"{self.opcode}-{self.dtype}-{'x'.join(map(str, self.shape))}"
            f"-in{self.s_in:g},{self.z_in}-out{self.s_out:g},{self.z_out}"
        )


def build(case: Case) -> bytes:
    mb = ModelBuilder("relu_test")
    x = mb.input("x", case.shape, case.dtype, scale=case.s_in, zero_point=case.z_in)
    y = mb.tensor("y", case.shape, case.dtype, scale=case.s_out, zero_point=case.z_out)
    mb.op(case.opcode, [x], [y])
    mb.output(y)
    return mb.build()


def check_case(case: Case) -> None:
    rng = np.random.default_rng(case.seed)
    # the first input set has both ends of the range
    input_sets = ([random_tensor(rng, case.shape, case.dtype, extremes=k == 0)] for k in range(N_INPUTS))
    compare_runs(build(case), input_sets, name="relu_test")


R = Case()
R6 = Case(opcode="RELU6")

CASES = [
    # same quantization in and out
    *[replace(base, shape=s, seed=i) for base in (R, R6) for i, s in enumerate([(17,), (1, 5, 5, 3), (2, 3, 4, 5, 2)])],
    replace(R, z_in=-128, z_out=-128),
    replace(R, z_in=127, z_out=127),
    replace(R6, z_in=-128, z_out=-128),
    replace(R6, z_in=127, z_out=127),
    replace(R6, s_in=6.0 / 100, z_in=0, s_out=6.0 / 100, z_out=0),  # quantized 6 = 100
    replace(R6, s_in=0.01, z_in=-128, s_out=0.01, z_out=-128),  # 6 beyond the range: upper clamps to 127
    replace(R6, s_in=0.5, z_in=120, s_out=0.5, z_out=120),  # 6 -> 132 clamps to 127
    replace(R6, s_in=0.023529412, z_in=-128, s_out=0.023529412, z_out=-128),  # 6 / s = 255.0000 (rounding)
    # RELU requantizing: down, up (multiplier > 1), tiny, zero points moving
    replace(R, s_in=0.05, z_in=-10, s_out=0.1, z_out=-128),
    replace(R, s_in=0.05, z_in=20, s_out=0.02, z_out=-100),
    replace(R, s_in=0.3, z_in=0, s_out=0.001, z_out=5),
    replace(R, s_in=1e-4, z_in=-128, s_out=0.5, z_out=0),
    replace(R, s_in=1e-6, z_in=3, s_out=1e4, z_out=-2),  # multiplier flushed to 0
    replace(R, s_in=0.1, z_in=-5, s_out=0.1, z_out=100),
    replace(R, s_in=1.0 / 3, z_in=1, s_out=0.1, z_out=1),
    # RELU6 with a different output quantization: TFLM copies the clamped raw input
    replace(R6, s_in=0.05, z_in=-10, s_out=0.1, z_out=30),
    replace(R6, s_in=0.02, z_in=50, s_out=0.5, z_out=-128),
    # int16
    replace(R, dtype="int16", s_in=1e-3, z_in=0, s_out=1e-3, z_out=0),
    replace(R, dtype="int16", s_in=1e-3, z_in=0, s_out=3e-4, z_out=0),
    replace(R, dtype="int16", s_in=1e-4, z_in=0, s_out=1e-2, z_out=0, shape=(3, 7)),
    replace(R6, dtype="int16", s_in=1e-3, z_in=0, s_out=1e-3, z_out=0),
    replace(R6, dtype="int16", s_in=2e-4, z_in=-1000, s_out=1e-3, z_out=0),
    replace(R6, dtype="int16", s_in=1e-4, z_in=5, s_out=1e-4, z_out=5),  # quantized 6 = 60005 clamps
]


@pytest.mark.parametrize("case", CASES, ids=[c.id() for c in CASES])
def test_relu_matches_tflm(case: Case) -> None:
    check_case(case)


def test_relu_after_add_chain() -> None:
    """ADD -> RELU -> RELU6: standalone activations after an elementwise op."""
    mb = ModelBuilder("relu_test")
    a = mb.input("a", (2, 8), "int8", scale=0.05, zero_point=-3)
    b = mb.input("b", (2, 8), "int8", scale=0.04, zero_point=6)
    t = mb.tensor("t", (2, 8), "int8", scale=0.06, zero_point=2)
    r = mb.tensor("r", (2, 8), "int8", scale=0.03, zero_point=-128)
    y = mb.tensor("y", (2, 8), "int8", scale=0.03, zero_point=-128)
    mb.op("ADD", [a, b], [t], fused_activation_function="NONE")
    mb.op("RELU", [t], [r])
    mb.op("RELU6", [r], [y])
    mb.output(y)
    check(mb.build(), [((2, 8), "int8")] * 2, seed=5, name="relu_test")


def test_relu_runs_in_place() -> None:
    g = read_tflite(build(R))
    assert lower(g.operators[0], g).inplace == InPlace()
    g = read_tflite(build(R6))
    assert lower(g.operators[0], g).inplace == InPlace()


@pytest.mark.parametrize(
    "case, fragment",
    [
        (replace(R, dtype="int16", z_in=3, z_out=0, s_in=1e-3, s_out=1e-3), "zero point"),
        (replace(R, dtype="int32"), "int32"),
    ],
    ids=["int16-zero-point", "int32"],
)
def test_refusals(case: Case, fragment: str) -> None:
    assert fragment in compile_error(build(case), case.opcode)


@pytest.mark.parametrize("opcode", ["RELU", "RELU6"])
def test_float_and_mixed_types_are_refused(opcode: str) -> None:
    mb = ModelBuilder("relu_test")
    x = mb.input("x", (4,), "float32")
    y = mb.tensor("y", (4,), "float32")
    mb.op(opcode, [x], [y])
    mb.output(y)
    compile_error(mb.build(), opcode)

    mb = ModelBuilder("relu_test")
    x = mb.input("x", (4,), "int8", scale=0.1, zero_point=0)
    y = mb.tensor("y", (4,), "int16", scale=0.1, zero_point=0)
    mb.op(opcode, [x], [y])
    mb.output(y)
    compile_error(mb.build(), opcode)
