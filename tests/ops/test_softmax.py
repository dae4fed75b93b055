"""SOFTMAX (int8 input; int8 and int16 output): bit-exact with TFLite Micro.

TFLM's int8 softmax is gemmlowp fixed point: the input scale times beta
becomes a Q5.26 multiplier (capped at 2^31 - 1), differences below diff_min
contribute nothing, exp is exp_on_negative_values and the sum's reciprocal
is fixed point too. The grid covers depths 1..1001, ranks 1..4, betas,
input scales from tiny (few inputs beyond diff_min) to large (the capped
multiplier), zero points, and rows with ties, one-hot rows and constant rows.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pytest

import utvm
import utvm.host
from utvm.ops.base import InPlace
from utvm.frontend.model_builder import ModelBuilder
from utvm.frontend.tflite_reader import read_tflite
from utvm.ops import lower
from utvm.ops.softmax import softmax_scaling

from .support import check, compare_runs, compile_error, requires_tflm

pytestmark = requires_tflm

N_INPUTS = 4


@dataclass(frozen=True)
class Case:
    shape: tuple = (1, 10)
    beta: float = 1.0
    scale: float = 0.1
    zero_point: int = 5
    out_dtype: str = "int8"
    seed: int = 0

    def id(self) -> str:
        return f"{'x'.join(map(str, self.shape))}-beta{self.beta:g}-in{self.scale:g},{self.zero_point}-{self.out_dtype}"


def build(case: Case, out_scale: float | None = None, out_zero_point: int | None = None) -> bytes:
    mb = ModelBuilder("softmax_test")
    x = mb.input("x", case.shape, "int8", scale=case.scale, zero_point=case.zero_point)
    if case.out_dtype == "int8":
        qs, qz = 1.0 / 256, -128
    else:
        qs, qz = 1.0 / 65536, -32768
    y = mb.tensor(
        "y",
        case.shape,
        case.out_dtype,
        scale=qs if out_scale is None else out_scale,
        zero_point=qz if out_zero_point is None else out_zero_point,
    )
    mb.op("SOFTMAX", [x], [y], beta=case.beta)
    mb.output(y)
    return mb.build()


def inputs(case: Case, rng: np.random.Generator) -> list[np.ndarray]:
    """Random rows, narrow-range rows (many ties), one-hot rows, and constant rows.

    With an int8 output TFLM aborts the process (a TFLITE_CHECK on the output
    exponent) when a row's sum of exponentials reaches 512, which needs a depth
    of 512 or more; such rows get a few dominant elements instead of ties.
    """
    depth = case.shape[-1]
    onehot = np.full(case.shape, -128, dtype=np.int8).reshape(-1, depth)
    onehot[np.arange(onehot.shape[0]), rng.integers(0, depth, size=onehot.shape[0])] = 127
    xs = [rng.integers(-128, 128, size=case.shape).astype(np.int8), onehot.reshape(case.shape)]
    if depth < 512 or case.out_dtype == "int16":
        xs.append(rng.integers(-4, 5, size=case.shape).astype(np.int8))
        xs.append(np.full(case.shape, rng.integers(-128, 128), dtype=np.int8))
    else:
        spiky = rng.integers(-128, 1, size=case.shape).astype(np.int8)
        spiky.reshape(-1)[rng.integers(0, spiky.size, size=5)] = 127
        xs.append(spiky)
    return xs


def check_case(case: Case) -> None:
    input_sets = [[x] for x in inputs(case, np.random.default_rng(case.seed))]
    compare_runs(build(case), input_sets, name="softmax_test")


B = Case()

CASES = [
    # depths and ranks
    *[replace(B, shape=s, seed=i) for i, s in enumerate([(1, 1), (1, 2), (3,), (1, 3), (2, 10), (4, 17), (1, 64),
                                                          (2, 3, 8), (1, 2, 2, 12), (1, 300), (1, 1001)])],
    # betas
    *[replace(B, beta=b, seed=20 + i) for i, b in enumerate([0.5, 2.0, 0.1, 3.7])],
    # input scales: tiny (multiplier just above 1), small, typical, large (capped at 2^31 - 1)
    replace(B, scale=2e-8, zero_point=0),
    replace(B, scale=1e-3, zero_point=-128),
    replace(B, scale=0.02, zero_point=127),
    replace(B, scale=0.5, zero_point=-7),
    replace(B, scale=4.0, zero_point=0),
    replace(B, scale=100.0, beta=2.0, zero_point=3),
    replace(B, scale=1.0 / 3, zero_point=1, beta=0.75),
    # the shared models' softmaxes
    replace(B, shape=(1, 12), scale=0.14469251, zero_point=14),  # kws
    replace(B, shape=(1, 4), scale=0.09173192, zero_point=14),  # micro_speech
    replace(B, shape=(1, 2), scale=0.01251875, zero_point=-1),  # person_detect
    replace(B, shape=(1, 10), scale=0.17185351, zero_point=24),  # resnet
    replace(B, shape=(1, 2), scale=0.01463622, zero_point=-5),  # vww
    # int16 output
    replace(B, out_dtype="int16"),
    replace(B, shape=(3, 33), out_dtype="int16", scale=0.03, zero_point=-20, beta=1.5),
    replace(B, shape=(1, 700), out_dtype="int16", scale=1e-3, zero_point=0),  # sum >= 512 is fine for int16
]


@pytest.mark.parametrize("case", CASES, ids=[c.id() for c in CASES])
def test_softmax_matches_tflm(case: Case) -> None:
    check_case(case)


def test_classifier_head_chain() -> None:
    """AVERAGE_POOL_2D -> RESHAPE -> SOFTMAX, the tail of the shared image models."""
    mb = ModelBuilder("softmax_test")
    x = mb.input("x", (1, 3, 3, 10), "int8", scale=0.17, zero_point=24)
    p = mb.tensor("p", (1, 1, 1, 10), "int8", scale=0.17, zero_point=24)
    r = mb.tensor("r", (1, 10), "int8", scale=0.17, zero_point=24)
    shape = mb.const("shape", np.array([1, 10], dtype=np.int32))
    y = mb.tensor("y", (1, 10), "int8", scale=1.0 / 256, zero_point=-128)
    mb.op("AVERAGE_POOL_2D", [x], [p], padding="VALID", stride_h=3, stride_w=3, filter_height=3, filter_width=3,
          fused_activation_function="NONE")
    mb.op("RESHAPE", [p, shape], [r], new_shape=[1, 10])
    mb.op("SOFTMAX", [r], [y], beta=1.0)
    mb.output(y)
    check(mb.build(), [((1, 3, 3, 10), "int8")], seed=9, n=N_INPUTS, name="softmax_test")


def test_where_tflm_aborts_the_output_is_zero() -> None:
    """A constant row of 600: TFLM aborts (the sum of exponentials reaches 512); utvm gives 1/600 -> 0."""
    case = replace(B, shape=(1, 600))
    runner = utvm.host.build(utvm.compile(build(case), name="softmax_test"))
    ours, _ = runner.run([np.zeros(case.shape, dtype=np.int8)])
    np.testing.assert_array_equal(ours[0], np.full(case.shape, -128, dtype=np.int8))


def test_scaling_params() -> None:
    # beta * scale * 2^26 = 0.1 * 2^26 (double): Q31 multiplier and shift, diff_min = -floor(31 * 2^26 / 2^shift)
    m, shift, diff_min = softmax_scaling(1.0, 0.1)
    real = float(np.float32(0.1)) * 2.0**26
    assert abs(m * 2.0 ** (shift - 31) - real) < real * 2**-30
    assert diff_min == -((31 << 26) >> shift)
    # capped at 2^31 - 1
    assert softmax_scaling(1.0, 100.0)[:2] == ((1 << 31) - 1, 31)
    g = read_tflite(build(B))
    call = lower(g.operators[0], g)
    assert call.inplace == InPlace()
    g = read_tflite(build(replace(B, out_dtype="int16")))
    assert lower(g.operators[0], g).inplace is None


def test_refusals() -> None:
    msg = compile_error(build(B, out_zero_point=0), "SOFTMAX")
    assert "zero point" in msg
    msg = compile_error(build(B, out_scale=1.0 / 255), "SOFTMAX")
    assert "1/256" in msg
    msg = compile_error(build(replace(B, out_dtype="int16"), out_scale=1.0 / 60000), "SOFTMAX")
    assert "1/65536" in msg
    # beta * input_scale * 2^26 <= 1: TFLM's QuantizeMultiplierGreaterThanOne check fails
    msg = compile_error(build(replace(B, scale=1e-8)), "SOFTMAX")
    assert "beta" in msg


@pytest.mark.parametrize("dtype", ["int16", "float32"])
def test_other_input_types_are_refused(dtype: str) -> None:
    mb = ModelBuilder("softmax_test")
    quant = {"scale": 1e-3, "zero_point": 0} if dtype == "int16" else {}
    out_quant = {"scale": 1.0 / 32768, "zero_point": 0} if dtype == "int16" else {}
    x = mb.input("x", (1, 5), dtype, **quant)
    y = mb.tensor("y", (1, 5), dtype, **out_quant)
    mb.op("SOFTMAX", [x], [y], beta=1.0)
    mb.output(y)
    msg = compile_error(mb.build(), "SOFTMAX")
    assert dtype in msg
