"""FULLY_CONNECTED: bit-exact with TFLite Micro on single-operator models and the shared FC models."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import pytest

import utvm
from utvm.frontend.model_builder import ModelBuilder
from utvm.frontend.tflite_reader import read_tflite
from utvm.reference import tflm_run

from ..conftest import shared_model
from .support import check, check_with, compile_error, requires_tflm

pytestmark = requires_tflm


@dataclass(frozen=True)
class Case:
    x_shape: tuple[int, ...] = (1, 16)
    units: int = 8
    keep_num_dims: bool = False
    act: str = "NONE"
    bias: bool = True
    per_channel: bool = False
    in_zp: int = 5
    out_zp: int = -3
    w_zp: int = 0
    scale: str = "normal"  # normal | big (multiplier > 1) | tiny | flush (< 2**-31)
    in_scale: float | None = None
    seed: int = 0

    @property
    def accum(self) -> int:
        return self.x_shape[-1]

    @property
    def y_shape(self) -> tuple[int, ...]:
        if self.keep_num_dims:
            return (*self.x_shape[:-1], self.units)
        return (math.prod(self.x_shape) // self.accum, self.units)

    def id(self) -> str:
        s = (
            f"x{'x'.join(map(str, self.x_shape))}-u{self.units}-{self.act}-"
            f"{'pc' if self.per_channel else 'pt'}-zp{self.in_zp},{self.out_zp}-{self.scale}"
        )
        if self.keep_num_dims:
            s += "-keep"
        if not self.bias:
            s += "-nobias"
        if self.w_zp:
            s += f"-wzp{self.w_zp}"
        if self.in_scale is not None:
            s += f"-in{self.in_scale:g}"
        return s


def build(
    case: Case, x_shape_override: tuple[int, ...] | None = None
) -> tuple[bytes, tuple[int, ...], tuple[int, int]]:
    rng = np.random.default_rng(case.seed + 1000)
    small = case.scale == "big"
    wmax = 3 if small else 127
    weights = rng.integers(-wmax, wmax + 1, size=(case.units, case.accum)).astype(np.int8)
    n_scales = case.units if case.per_channel else 1
    w_scales = (0.01 * 2.0 ** rng.uniform(-1, 1, size=n_scales)).astype(np.float32)
    w_mean = float(np.mean(w_scales))
    acc = math.sqrt(case.accum) * (wmax / 1.7) * (2.0 if small else 74.0)
    top = {"RELU6": 6.0, "RELU_N1_TO_1": 1.0}.get(case.act)
    if case.in_scale is not None:
        in_scale = np.float32(case.in_scale)
    elif top is not None and case.scale == "normal":
        in_scale = np.float32(top / 2.0 / (w_mean * acc))
    else:
        in_scale = np.float32(0.05)
    typical = float(in_scale) * w_mean * acc
    out_scale = {
        "normal": typical / 40.0 if top is None else top / 100.0,
        "big": float(in_scale) * w_mean / 5.3,
        "tiny": float(in_scale) * w_mean * 2.0**24,
        "flush": float(in_scale) * float(np.max(w_scales)) * 2.0**33,
    }[case.scale]

    x_shape = x_shape_override or case.x_shape
    mb = ModelBuilder("fc_test")
    x = mb.input("x", x_shape, "int8", scale=float(in_scale), zero_point=case.in_zp)
    w = mb.const("w", weights, scale=w_scales.tolist(), zero_point=case.w_zp, axis=0)
    ins = [x, w]
    if case.bias:
        bias_scales = (in_scale * w_scales).astype(np.float32)
        bound = {"big": 50, "tiny": 2**30}.get(case.scale, int(acc))
        bias = rng.integers(-bound, bound + 1, size=case.units).astype(np.int32)
        ins.append(mb.const("b", bias, scale=bias_scales.tolist(), zero_point=0))
    else:
        ins.append(-1)
    y = mb.tensor("y", case.y_shape, "int8", scale=float(out_scale), zero_point=case.out_zp)
    mb.op(
        "FULLY_CONNECTED",
        ins,
        [y],
        fused_activation_function=case.act,
        keep_num_dims=case.keep_num_dims,
        weights_format="DEFAULT",
        asymmetric_quantize_inputs=False,
    )
    mb.output(y)
    lo, hi = (case.in_zp - 2, case.in_zp + 2) if small else (-128, 127)
    return mb.build(), x_shape, (max(lo, -128), min(hi, 127))


def check_case(case: Case, **kw) -> None:
    model, x_shape, (lo, hi) = build(case, **kw)
    runs = check_with(
        model, lambda rng: [rng.integers(lo, hi + 1, size=x_shape).astype(np.int8)], seed=case.seed, name="fc_test"
    )
    assert all(outputs[0].shape == case.y_shape for outputs in runs)


F = Case()
ACTS = ["NONE", "RELU", "RELU6", "RELU_N1_TO_1"]

FC_CASES = [
    *[replace(F, act=a, seed=i) for i, a in enumerate(ACTS)],
    *[replace(F, act=a, per_channel=True, seed=10 + i) for i, a in enumerate(ACTS)],
    # shapes
    replace(F, x_shape=(1, 1), units=16, act="RELU"),  # hello_world's first layer
    replace(F, x_shape=(1, 16), units=1),
    replace(F, x_shape=(1, 1), units=1),
    replace(F, x_shape=(1, 640), units=128, act="RELU", in_zp=89, out_zp=-128),  # ad01's first layer
    replace(F, x_shape=(1, 64), units=12, in_zp=-128),
    replace(F, x_shape=(1, 17), units=33),
    replace(F, x_shape=(1, 300), units=3, act="RELU6"),
    # batches and higher-rank inputs (flattened the TFLM way)
    replace(F, x_shape=(3, 16), units=5),
    replace(F, x_shape=(4, 7), units=9, act="RELU", per_channel=True),
    replace(F, x_shape=(2, 3, 8), units=5),
    replace(F, x_shape=(2, 3, 8), units=5, keep_num_dims=True),
    replace(F, x_shape=(1, 4, 6), units=3, keep_num_dims=True, act="RELU6"),
    replace(F, x_shape=(2, 2, 2, 5), units=4, keep_num_dims=True),
    replace(F, x_shape=(1, 1, 1, 32), units=10, keep_num_dims=True),
    replace(F, x_shape=(2, 1, 3, 4), units=6),
    # quantization
    replace(F, in_zp=-128, out_zp=-128, act="RELU"),
    replace(F, in_zp=127, out_zp=127),
    replace(F, in_zp=0, out_zp=0, act="RELU_N1_TO_1"),
    replace(F, in_zp=-128, out_zp=90, act="RELU6"),
    replace(F, scale="big"),
    replace(F, scale="big", act="RELU", per_channel=True),
    replace(F, scale="tiny"),
    replace(F, scale="tiny", per_channel=True),
    replace(F, scale="flush"),
    replace(F, scale="flush", out_zp=40, per_channel=True),
    replace(F, in_scale=1.0),
    replace(F, in_scale=1.0 / 255.0, act="RELU6"),
    replace(F, in_scale=0.3910, in_zp=89, x_shape=(1, 128), units=128, act="RELU"),
    replace(F, bias=False),
    replace(F, bias=False, per_channel=True, act="RELU"),
    replace(F, bias=False, x_shape=(2, 3, 8), units=5, keep_num_dims=True),
    # per-tensor weights' zero point is applied by TFLM's FullyConnected
    replace(F, w_zp=3),
    replace(F, w_zp=-5, act="RELU"),
]


@pytest.mark.parametrize("case", FC_CASES, ids=lambda c: c.id())
def test_fully_connected(case: Case) -> None:
    check_case(case)


def test_case_ids_are_unique() -> None:
    ids = [c.id() for c in FC_CASES]
    assert len(ids) == len(set(ids))


def test_micro_speech_style_input() -> None:
    """A 4-D input read flat into a 2-D output, as micro_speech's FC does ([1, 25, 20, 8] -> [1, 4])."""
    case = replace(F, x_shape=(1, 4000), units=4, in_zp=-128, seed=42)
    check_case(case, x_shape_override=(1, 25, 20, 8))


def _boundary_biases(m1: tuple[int, int], m2: tuple[int, int]) -> np.ndarray:
    """Accumulators that two (multiplier, shift) pairs, equal but for the multiplier, requantize differently.

    MultiplyByQuantizedMultiplier(b, m, -r) rounds twice: q = round(b * m / 2**31),
    then round(q / 2**r). For multipliers m and m + 1 the results differ when q
    sits just at the half-way point of the second rounding, i.e. b ~ T / m with
    T = (k * 2**r + 2**(r - 1)) * 2**31 - 2**30; try the integers around it.
    """
    from utvm.quant import multiply_by_quantized_multiplier as mbqm

    r = -m1[1]
    candidates = []
    for k in range(1, 120):
        t = (k * 2**r + (2 ** (r - 1) if r > 0 else 0)) * 2**31 - 2**30
        for m in (m1[0], m2[0]):
            b0 = t // m
            candidates += [b0 - 1, b0, b0 + 1]
    c = np.array([v for v in candidates if abs(v) < 2**31 - 1], dtype=np.int64)
    return c[mbqm(c, *m1) != mbqm(c, *m2)]


def test_multiplier_product_is_double() -> None:
    """The per-tensor FC multiplier is double(in) * double(w) / double(out), as the oracle computes it.

    (The tflite-micro source at 90b983c says float(in * w); the oracle's build
    does not.) Scales are searched for which the float product and the double
    product give different Q31 multipliers, and biases (the weights are zero,
    so the accumulator is the bias) for which those give different outputs.
    """
    from utvm.quant import multiply_by_quantized_multiplier as mbqm
    from utvm.quant import quantize_multiplier

    rng = np.random.default_rng(5)
    bias = None
    for _ in range(20000):
        s_in, s_w = (np.float32(v) for v in rng.uniform(0.001, 0.1, size=2))
        s_out = np.float32(float(s_in) * float(s_w) * 2.0 ** int(rng.integers(-2, 18)) * rng.uniform(1, 2))
        m_float = quantize_multiplier(float(s_in * s_w) / float(s_out))
        m_double = quantize_multiplier(float(s_in) * float(s_w) / float(s_out))
        if m_float == m_double or m_float[1] != m_double[1]:
            continue
        differ = _boundary_biases(m_float, m_double)
        if differ.size:
            bias = np.resize(differ, 8).astype(np.int32)
            break
    assert bias is not None
    mb = ModelBuilder("fc_double")
    x = mb.input("x", (1, 4), "int8", scale=float(s_in), zero_point=0)
    w = mb.const("w", np.zeros((8, 4), dtype=np.int8), scale=float(s_w), zero_point=0)
    b = mb.const("b", bias, scale=float(s_in * s_w), zero_point=0)
    y = mb.tensor("y", (1, 8), "int8", scale=float(s_out), zero_point=0)
    mb.op("FULLY_CONNECTED", [x, w, b], [y], fused_activation_function="NONE", keep_num_dims=False,
          weights_format="DEFAULT")
    mb.output(y)
    model = mb.build()
    x = rng.integers(-128, 128, size=(1, 4)).astype(np.int8)
    ref = tflm_run(model, [x])[0].ravel()
    assert np.array_equal(ref, np.clip(mbqm(bias, *m_double), -128, 127))
    assert not np.array_equal(ref, np.clip(mbqm(bias, *m_float), -128, 127))
    np.testing.assert_array_equal(utvm.host.run(utvm.compile(model, name="fc_double"), [x])[0].ravel(), ref)


# --------------------------------------------------------------------------- unsupported models


def _fc_model(**over) -> bytes:
    spec = dict(
        x_shape=(1, 8), x_dtype="int8", x_quant=dict(scale=0.1, zero_point=0),
        w_data=np.ones((4, 8), dtype=np.int8), w_quant=dict(scale=0.01, zero_point=0),
        b_data=np.zeros(4, dtype=np.int32), b_quant=dict(scale=0.001, zero_point=0),
        y_shape=(1, 4), y_dtype="int8",
        options=dict(fused_activation_function="NONE", keep_num_dims=False, weights_format="DEFAULT"),
    )
    for k, v in over.items():
        spec[k] = {**spec[k], **v} if k == "options" else v
    mb = ModelBuilder("bad_fc")
    x = mb.input("x", spec["x_shape"], spec["x_dtype"], **(spec["x_quant"] or {}))
    w = mb.const("w", spec["w_data"], **(spec["w_quant"] or {}))
    ins = [x, w]
    if spec["b_data"] is not None:
        ins.append(mb.const("b", spec["b_data"], **(spec["b_quant"] or {})))
    y = mb.tensor("y", spec["y_shape"], spec["y_dtype"], scale=0.1, zero_point=0)
    mb.op("FULLY_CONNECTED", ins, [y], **spec["options"])
    mb.output(y)
    return mb.build()


BAD = [
    ("float input", dict(x_dtype="float32", x_quant=None, y_dtype="float32")),
    ("int16 input", dict(x_dtype="int16", y_dtype="int16")),
    ("uint8 weights", dict(w_data=np.ones((4, 8), dtype=np.uint8))),
    ("int64 bias", dict(b_data=np.zeros(4, dtype=np.int64))),
    ("bias wrong size", dict(b_data=np.zeros(5, dtype=np.int32))),
    ("bias scale far off", dict(b_quant=dict(scale=0.5, zero_point=0))),
    ("unquantized input", dict(x_quant=None)),
    ("fused TANH", dict(options=dict(fused_activation_function="TANH"))),
    ("shuffled weights", dict(options=dict(weights_format="SHUFFLED4x16INT8"))),
    ("3-D weights", dict(w_data=np.ones((4, 2, 4), dtype=np.int8))),
    ("output depth mismatch", dict(y_shape=(1, 3))),
    ("input size mismatch", dict(x_shape=(1, 9))),
    ("per-channel along dim 1", dict(w_data=np.ones((8, 8), dtype=np.int8), y_shape=(1, 8),
                                     b_data=np.zeros(8, dtype=np.int32),
                                     w_quant=dict(scale=[0.01] * 8, zero_point=0, axis=1))),
]


@pytest.mark.parametrize("what,over", BAD, ids=[w for w, _ in BAD])
def test_unsupported_raises_model_error(what: str, over: dict) -> None:
    compile_error(_fc_model(**over), "FULLY_CONNECTED")


def test_valid_builder_model_compiles() -> None:
    utvm.compile(_fc_model(), name="ok_fc")


# --------------------------------------------------------------------------- shared models


@pytest.mark.parametrize("name", ["ad01_int8", "hello_world_int8"])
def test_shared_fc_model(name: str) -> None:
    data = shared_model(f"{name}.tflite").read_bytes()
    g = read_tflite(data)
    assert {op.opcode for op in g.operators} == {"FULLY_CONNECTED"}
    inputs = [(g.tensors[i].shape, "int8") for i in g.inputs]
    check(data, inputs, seed=11, n=4, name=name)
