"""LOGISTIC and TANH (int8): bit-exact with TFLite Micro, exhaustively over all 256 input values.

TFLM's int8 path is gemmlowp fixed point on a Q4.27 input with a saturation
radius, not a lookup table; its output quantization is fixed by the
arithmetic (LOGISTIC only checks the zero point -128; TANH checks nothing).
Every case feeds all 256 int8 values, so each (scale, zero point) pair is
checked completely; scales run from 1e-4 to 20 (where the radius is 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from utvm.ops.base import InPlace
from utvm.frontend.model_builder import ModelBuilder
from utvm.frontend.tflite_reader import read_tflite
from utvm.ops import lower
from utvm.ops.logistic_tanh import logistic_tanh_params

from .support import check, compare_runs, compile_error, requires_tflm

pytestmark = requires_tflm

ALL_INT8 = np.arange(-128, 128, dtype=np.int8)
OUT_QUANT = {"LOGISTIC": (1.0 / 256, -128), "TANH": (1.0 / 128, 0)}


@dataclass(frozen=True)
class Case:
    opcode: str = "LOGISTIC"
    shape: tuple = (1, 256)
    scale: float = 0.05
    zero_point: int = 0
    out_quant: tuple | None = None  # (scale, zero point); None: the conventional one
    seed: int = 0

    def id(self) -> str:
        out = "" if self.out_quant is None else f"-out{self.out_quant[0]:g},{self.out_quant[1]}"
        return f"{self.opcode}-{'x'.join(map(str, self.shape))}-in{self.scale:g},{self.zero_point}{out}"


def build(case: Case, dtype: str = "int8") -> bytes:
    mb = ModelBuilder("act_test")
    x = mb.input("x", case.shape, dtype, scale=case.scale, zero_point=case.zero_point)
    qs, qz = case.out_quant or OUT_QUANT[case.opcode]
    y = mb.tensor("y", case.shape, dtype, scale=qs, zero_point=qz)
    mb.op(case.opcode, [x], [y])
    mb.output(y)
    return mb.build()


def check_case(case: Case) -> None:
    rng = np.random.default_rng(case.seed)
    size = int(np.prod(case.shape))
    values = np.resize(ALL_INT8, size)  # every int8 value (when size >= 256)
    input_sets = [[x.reshape(case.shape)] for x in (values, rng.permutation(values))]
    compare_runs(build(case), input_sets, name="act_test")


SCALES = [
    (1e-4, 0),
    (0.004, -128),
    (0.02, 37),
    (0.05, -10),
    (0.0625, 0),  # a power of two
    (0.1, 127),
    (0.25, -50),
    (1.0 / 3, 1),
    (1.0, 0),
    (4.0, -3),
    (20.0, 5),  # input_left_shift >= 31: radius 0, every output saturates
]

CASES = [
    Case(opcode=op, scale=s, zero_point=z, seed=i) for op in ("LOGISTIC", "TANH") for i, (s, z) in enumerate(SCALES)
] + [
    # shapes (elementwise over any rank)
    Case(opcode="LOGISTIC", shape=(2, 4, 4, 8), scale=0.08, zero_point=-20),
    Case(opcode="TANH", shape=(2, 4, 4, 8), scale=0.08, zero_point=-20),
    Case(opcode="LOGISTIC", shape=(17,), scale=0.03, zero_point=3),
    Case(opcode="TANH", shape=(3, 5, 7), scale=0.03, zero_point=3),
    # TFLM ignores the output scale (LOGISTIC) and the whole output quantization (TANH)
    Case(opcode="LOGISTIC", scale=0.05, zero_point=0, out_quant=(0.01, -128)),
    Case(opcode="TANH", scale=0.05, zero_point=0, out_quant=(0.02, 9)),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id() for c in CASES])
def test_activation_matches_tflm(case: Case) -> None:
    check_case(case)


def test_logistic_tanh_chain() -> None:
    """TANH -> LOGISTIC through an intermediate buffer (the kernels may run in place)."""
    mb = ModelBuilder("act_test")
    x = mb.input("x", (4, 64), "int8", scale=0.04, zero_point=-6)
    t = mb.tensor("t", (4, 64), "int8", scale=1.0 / 128, zero_point=0)
    y = mb.tensor("y", (4, 64), "int8", scale=1.0 / 256, zero_point=-128)
    mb.op("TANH", [x], [t])
    mb.op("LOGISTIC", [t], [y])
    mb.output(y)
    check(mb.build(), [((4, 64), "int8")], seed=4, n=3, name="act_test")


def test_params() -> None:
    # frexp(scale * 2^27): 0.0625 * 2^27 = 2^23 -> q = 0.5, shift 24; radius floor(15 * 2^27 / 2^24) = 120
    assert logistic_tanh_params(0.0625) == (1 << 30, 24, 120)
    m, shift, radius = logistic_tanh_params(20.0)
    assert radius == 0
    for opcode in ("LOGISTIC", "TANH"):
        g = read_tflite(build(Case(opcode=opcode)))
        assert lower(g.operators[0], g).inplace == InPlace()


def test_refusals() -> None:
    msg = compile_error(build(Case(opcode="LOGISTIC", out_quant=(1.0 / 256, 0))), "LOGISTIC")
    assert "zero point" in msg
    for opcode in ("LOGISTIC", "TANH"):
        # scale * 2^27 < 1/2: a negative input shift, undefined in TFLM's CalculateInputRadius
        msg = compile_error(build(Case(opcode=opcode, scale=1e-10)), opcode)
        assert "shift" in msg


@pytest.mark.parametrize("opcode", ["LOGISTIC", "TANH"])
@pytest.mark.parametrize("dtype", ["int16", "float32"])
def test_other_types_are_refused(opcode: str, dtype: str) -> None:
    mb = ModelBuilder("act_test")
    quant = {"scale": 1.0 / 4096, "zero_point": 0} if dtype == "int16" else {}
    out_quant = {"scale": 1.0 / 32768, "zero_point": 0} if dtype == "int16" else {}
    x = mb.input("x", (8,), dtype, **quant)
    y = mb.tensor("y", (8,), dtype, **out_quant)
    mb.op(opcode, [x], [y])
    mb.output(y)
    msg = compile_error(mb.build(), opcode)
    assert dtype in msg
