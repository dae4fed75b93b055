"""CONV_2D and DEPTHWISE_CONV_2D: bit-exact with TFLite Micro on single-operator models.

Each case builds a one-operator model with random int8 weights, compiles it,
runs the C on the host and compares with TFLite Micro's interpreter on
several random inputs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
import pytest

import utvm
from utvm.frontend.model_builder import ModelBuilder
from utvm.frontend.tflite_reader import read_tflite
from utvm.frontend.tflite_writer import write_tflite

from ..conftest import shared_model
from .support import check, check_with, compile_error, requires_tflm

pytestmark = requires_tflm


def out_size(size: int, filt: int, stride: int, dil: int, padding: str) -> int:
    eff = (filt - 1) * dil + 1
    return (size + stride - 1) // stride if padding == "SAME" else (size + stride - eff) // stride


@dataclass(frozen=True)
class Case:
    """One convolution model: shapes, options and quantization."""

    kind: str = "CONV_2D"  # or DEPTHWISE_CONV_2D
    n: int = 1
    h: int = 9
    w: int = 11
    cin: int = 3
    cout: int = 8  # CONV_2D: output channels; DEPTHWISE: derived from depth_multiplier
    kh: int = 3
    kw: int = 3
    stride: tuple[int, int] = (1, 1)
    dilation: tuple[int, int] = (1, 1)
    padding: str = "SAME"
    act: str = "NONE"
    per_channel: bool = True
    bias: bool = True
    groups: int = 1  # CONV_2D only
    dm: int = 1  # DEPTHWISE only
    in_zp: int = 5
    out_zp: int = -3
    w_zp: int = 0
    scale: str = "normal"  # normal | big (multiplier > 1) | tiny | flush (< 2**-31) | wide (per-channel spread)
    in_scale: float | None = None  # None: chosen from the activation
    seed: int = 0
    extra: dict = field(default_factory=dict, hash=False, compare=False)

    @property
    def out_channels(self) -> int:
        return self.cin * self.dm if self.kind == "DEPTHWISE_CONV_2D" else self.cout

    def id(self) -> str:
        s = (
            f"{'dw' if self.kind == 'DEPTHWISE_CONV_2D' else 'conv'}-n{self.n}-{self.h}x{self.w}x{self.cin}"
            f"-o{self.out_channels}-k{self.kh}x{self.kw}-s{self.stride[0]}{self.stride[1]}"
            f"-d{self.dilation[0]}{self.dilation[1]}-{self.padding}-{self.act}"
            f"-{'pc' if self.per_channel else 'pt'}-zp{self.in_zp},{self.out_zp}-{self.scale}"
        )
        if not self.bias:
            s += "-nobias"
        if self.groups != 1:
            s += f"-g{self.groups}"
        if self.dm != 1:
            s += f"-dm{self.dm}"
        if self.w_zp:
            s += f"-wzp{self.w_zp}"
        return s


def build(case: Case) -> tuple[bytes, tuple[int, ...], tuple[int, int]]:
    """The model's bytes, its input shape and the range of input values to draw."""
    rng = np.random.default_rng(case.seed + 1000)
    dw = case.kind == "DEPTHWISE_CONV_2D"
    cout = case.out_channels
    small = case.scale == "big"
    wmax = 3 if small else 127
    if dw:
        wshape = (1, case.kh, case.kw, cout)
        axis = 3
        depth = case.kh * case.kw
    else:
        assert case.cin % case.groups == 0 and cout % case.groups == 0
        wshape = (cout, case.kh, case.kw, case.cin // case.groups)
        axis = 0
        depth = case.kh * case.kw * case.cin // case.groups
    weights = rng.integers(-wmax, wmax + 1, size=wshape).astype(np.int8)

    n_scales = cout if case.per_channel else 1
    if case.scale == "wide":
        w_scales = 0.01 * 2.0 ** rng.uniform(-6, 6, size=n_scales)
    else:
        w_scales = 0.01 * 2.0 ** rng.uniform(-1, 1, size=n_scales)
    w_scales = w_scales.astype(np.float32)
    # Typical |accumulator| of a full window: sqrt(depth) * std(weights) * std(input).
    acc = math.sqrt(depth) * (wmax / 1.7) * (2.0 if small else 74.0)
    w_mean = float(np.mean(w_scales))
    top = {"RELU6": 6.0, "RELU_N1_TO_1": 1.0}.get(case.act)
    if case.in_scale is not None:
        in_scale = np.float32(case.in_scale)
    elif top is not None and case.scale in ("normal", "wide"):
        # Make the clamp bite about half the time: typical output ~ top / 2.
        in_scale = np.float32(top / 2.0 / (w_mean * acc))
    else:
        in_scale = np.float32(0.05)
    typical = float(in_scale) * w_mean * acc
    out_scale = {
        "normal": typical / 40.0 if top is None else top / 100.0,
        "wide": typical / 40.0 if top is None else top / 100.0,
        "big": float(in_scale) * w_mean / 5.3,  # multiplier ~5
        "tiny": float(in_scale) * w_mean * 2.0**24,  # multiplier ~2**-24; the bias is ~2**30
        "flush": float(in_scale) * float(np.max(w_scales)) * 2.0**33,  # multiplier < 2**-31: flushed to 0
    }[case.scale]

    x_shape = (case.n, case.h, case.w, case.cin)
    oh = out_size(case.h, case.kh, case.stride[0], case.dilation[0], case.padding)
    ow = out_size(case.w, case.kw, case.stride[1], case.dilation[1], case.padding)
    y_shape = (case.n, oh, ow, cout)

    mb = ModelBuilder("conv_test")
    x = mb.input("x", x_shape, "int8", scale=float(in_scale), zero_point=case.in_zp)
    wt = mb.const("w", weights, scale=w_scales.tolist(), zero_point=case.w_zp, axis=axis)
    inputs = [x, wt]
    if case.bias:
        bias_scales = (in_scale * (w_scales if case.per_channel else np.repeat(w_scales, cout))).astype(np.float32)
        bound = {"big": 50, "tiny": 2**30}.get(case.scale, int(acc))
        bias = rng.integers(-bound, bound + 1, size=cout).astype(np.int32)
        inputs.append(mb.const("b", bias, scale=bias_scales.tolist(), zero_point=0))
    y = mb.tensor("y", y_shape, "int8", scale=float(out_scale), zero_point=case.out_zp)
    options = dict(
        padding=case.padding,
        stride_h=case.stride[0],
        stride_w=case.stride[1],
        dilation_h_factor=case.dilation[0],
        dilation_w_factor=case.dilation[1],
        fused_activation_function=case.act,
    )
    if dw:
        options["depth_multiplier"] = case.dm
    options.update(case.extra)
    mb.op(case.kind, inputs, [y], **options)
    mb.output(y)
    lo, hi = (case.in_zp - 2, case.in_zp + 2) if small else (-128, 127)
    return mb.build(), x_shape, (max(lo, -128), min(hi, 127))


def check_case(case: Case) -> None:
    model, x_shape, (lo, hi) = build(case)
    runs = check_with(
        model, lambda rng: [rng.integers(lo, hi + 1, size=x_shape).astype(np.int8)], seed=case.seed, name="conv_test"
    )
    assert all(len(outputs) == 1 for outputs in runs)


C = Case()
D = Case(kind="DEPTHWISE_CONV_2D", cin=8)
ACTS = ["NONE", "RELU", "RELU6", "RELU_N1_TO_1"]

CONV_CASES = [
    # padding x stride, activations cycling
    *[
        replace(C, padding=p, stride=(s, s), act=ACTS[(i * 3 + s) % 4], seed=i * 3 + s)
        for i, p in enumerate(["SAME", "VALID"])
        for s in (1, 2, 3)
    ],
    *[replace(C, act=a, h=7, w=6, cin=5, seed=10 + i) for i, a in enumerate(ACTS)],
    # dilation
    replace(C, dilation=(2, 2), padding="SAME"),
    replace(C, dilation=(2, 2), padding="VALID", stride=(2, 2)),
    replace(C, dilation=(1, 2), padding="SAME", stride=(2, 1), act="RELU"),
    replace(C, dilation=(2, 1), padding="VALID", h=12, w=7, kh=2, kw=4),
    replace(C, dilation=(2, 2), padding="SAME", stride=(3, 3), h=13, w=14, kh=5, kw=5, act="RELU6"),
    # kernel shapes
    replace(C, kh=1, kw=1, cin=16, cout=24, act="RELU6"),
    replace(C, kh=1, kw=1, stride=(2, 2), cin=7, cout=5, padding="VALID"),
    replace(C, h=49, w=10, cin=1, cout=16, kh=10, kw=4, stride=(2, 2), act="RELU", in_zp=83, out_zp=-128),
    replace(C, kh=2, kw=2, h=8, w=8, padding="SAME", stride=(2, 2)),
    replace(C, kh=4, kw=4, h=10, w=9, padding="SAME", stride=(3, 2)),
    replace(C, kh=1, kw=5, padding="SAME", stride=(1, 2)),
    replace(C, kh=5, kw=5, h=3, w=3, padding="SAME"),  # window larger than the image
    replace(C, kh=3, kw=3, h=3, w=3, padding="VALID"),  # one output pixel
    replace(C, h=1, w=1, kh=1, kw=1, cin=32, cout=3),
    replace(C, h=1, w=20, kh=1, kw=3, padding="VALID"),
    # channel counts
    replace(C, cin=1, cout=1),
    replace(C, cin=1, cout=17, act="RELU"),
    replace(C, cin=17, cout=3, stride=(2, 2)),
    replace(C, cin=8, cout=1, padding="VALID"),
    replace(C, cin=33, cout=9, h=6, w=5),
    # grouped convolution
    replace(C, cin=4, cout=6, groups=2),
    replace(C, cin=6, cout=9, groups=3, stride=(2, 2), padding="VALID", act="RELU"),
    # batches
    replace(C, n=2, act="RELU6"),
    replace(C, n=3, h=5, w=4, stride=(2, 2), padding="VALID"),
    # quantization: per-tensor weights, zero points, scales
    replace(C, per_channel=False),
    replace(C, per_channel=False, stride=(2, 2), act="RELU6", padding="VALID"),
    replace(C, per_channel=False, cin=1, cout=1),
    replace(C, in_zp=-128, out_zp=-128, act="RELU"),
    replace(C, in_zp=127, out_zp=127, act="RELU_N1_TO_1"),
    replace(C, in_zp=0, out_zp=0),
    replace(C, in_zp=-128, out_zp=100, act="RELU6"),
    replace(C, scale="big"),
    replace(C, scale="big", per_channel=False, act="RELU"),
    replace(C, scale="tiny"),
    replace(C, scale="flush"),
    replace(C, scale="flush", per_channel=False, out_zp=17),
    replace(C, scale="wide", cout=17),
    replace(C, in_scale=1.0, out_zp=-128),
    replace(C, in_scale=1.0 / 255.0, act="RELU6"),
    # no bias; weights' zero point (TFLM ignores it)
    replace(C, bias=False),
    replace(C, bias=False, per_channel=False, act="RELU"),
    replace(C, w_zp=3),
]

DW_CASES = [
    *[
        replace(D, padding=p, stride=(s, s), act=ACTS[(i * 3 + s) % 4], seed=100 + i * 3 + s)
        for i, p in enumerate(["SAME", "VALID"])
        for s in (1, 2, 3)
    ],
    *[replace(D, act=a, h=7, w=6, cin=5, seed=110 + i) for i, a in enumerate(ACTS)],
    # depth multipliers
    replace(D, cin=1, dm=8, h=49, w=40, kh=10, kw=8, stride=(2, 2), act="RELU", in_zp=-128),  # micro_speech
    replace(D, cin=1, dm=8, h=12, w=12, stride=(2, 2), act="RELU6", in_zp=-1),  # person_detect
    replace(D, cin=3, dm=2),
    replace(D, cin=3, dm=3, padding="VALID", stride=(2, 2)),
    replace(D, cin=2, dm=4, per_channel=False),
    replace(D, cin=1, dm=1),
    # dilation
    replace(D, dilation=(2, 2)),
    replace(D, dilation=(2, 2), padding="VALID", stride=(2, 2), act="RELU"),
    replace(D, dilation=(1, 2), stride=(1, 3), kh=2, kw=3),
    replace(D, dilation=(2, 1), padding="VALID", h=10, w=6, kh=3, kw=2, dm=2, cin=3),
    # shapes and channels
    replace(D, cin=17),
    replace(D, cin=64, h=6, w=5, act="RELU"),
    replace(D, kh=1, kw=1),
    replace(D, kh=5, kw=5, h=4, w=3),
    replace(D, kh=3, kw=3, h=3, w=3, padding="VALID"),
    replace(D, h=1, w=1, kh=1, kw=1, cin=16),
    replace(D, kh=3, kw=1, stride=(2, 1)),
    replace(D, n=2, act="RELU6"),
    # quantization
    replace(D, per_channel=False),
    replace(D, per_channel=False, dm=2, cin=3, act="RELU"),
    replace(D, in_zp=-128, out_zp=-128, act="RELU6"),
    replace(D, in_zp=127, out_zp=127),
    replace(D, scale="big"),
    replace(D, scale="big", per_channel=False, act="RELU_N1_TO_1"),
    replace(D, scale="tiny"),
    replace(D, scale="flush"),
    replace(D, scale="wide", cin=17, act="RELU"),
    replace(D, bias=False),
    replace(D, bias=False, dm=2, cin=2, per_channel=False),
    replace(D, w_zp=-2),
]


@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: c.id())
def test_conv_2d(case: Case) -> None:
    check_case(case)


@pytest.mark.parametrize("case", DW_CASES, ids=lambda c: c.id())
def test_depthwise_conv_2d(case: Case) -> None:
    check_case(case)


def test_case_ids_are_unique() -> None:
    ids = [c.id() for c in CONV_CASES + DW_CASES]
    assert len(ids) == len(set(ids))


# --------------------------------------------------------------------------- unsupported models


def _conv_graph_builder(kind: str = "CONV_2D", **over):
    """A small valid model whose pieces a test can spoil; returns ModelBuilder and tensor ids."""
    spec = dict(
        x_shape=(1, 5, 5, 2),
        x_dtype="int8",
        x_quant=dict(scale=0.1, zero_point=0),
        w_data=np.ones((4, 3, 3, 2) if kind == "CONV_2D" else (1, 3, 3, 4), dtype=np.int8),
        w_quant=dict(scale=[0.01] * 4, zero_point=0, axis=0 if kind == "CONV_2D" else 3),
        b_data=np.zeros(4, dtype=np.int32),
        y_shape=(1, 5, 5, 4),
        y_dtype="int8",
        options=dict(padding="SAME", stride_h=1, stride_w=1, dilation_h_factor=1, dilation_w_factor=1,
                     fused_activation_function="NONE"),
    )
    if kind == "DEPTHWISE_CONV_2D":
        spec["options"]["depth_multiplier"] = 2
    for k, v in over.items():
        if k == "options":
            spec["options"] = {**spec["options"], **v}
        else:
            spec[k] = v
    mb = ModelBuilder("bad")
    x = mb.input("x", spec["x_shape"], spec["x_dtype"], **(spec["x_quant"] or {}))
    w = mb.const("w", spec["w_data"], **(spec["w_quant"] or {}))
    ins = [x, w]
    if spec["b_data"] is not None:
        ins.append(mb.const("b", spec["b_data"], scale=0.001, zero_point=0))
    y = mb.tensor("y", spec["y_shape"], spec["y_dtype"], scale=0.1, zero_point=0)
    mb.op(kind, ins, [y], **spec["options"])
    mb.output(y)
    return mb.build()


BAD = [
    ("CONV_2D", "float input", dict(x_dtype="float32", x_quant=None, y_dtype="float32")),
    ("CONV_2D", "int16 input", dict(x_dtype="int16", y_dtype="int16")),
    ("CONV_2D", "unquantized weights", dict(w_quant=None)),
    ("CONV_2D", "int32 bias wrong size", dict(b_data=np.zeros(3, dtype=np.int32))),
    ("CONV_2D", "int64 bias", dict(b_data=np.zeros(4, dtype=np.int64))),
    ("CONV_2D", "fused TANH", dict(options=dict(fused_activation_function="TANH"))),
    ("CONV_2D", "wrong output shape", dict(y_shape=(1, 3, 3, 4))),
    ("CONV_2D", "scale count", dict(w_quant=dict(scale=[0.01] * 3, zero_point=0, axis=0))),
    ("CONV_2D", "zero stride", dict(options=dict(stride_h=0))),
    ("CONV_2D", "3-D filter", dict(w_data=np.ones((4, 3, 2), dtype=np.int8), w_quant=dict(scale=0.01, zero_point=0))),
    ("CONV_2D", "group mismatch", dict(w_data=np.ones((4, 3, 3, 3), dtype=np.int8))),
    ("DEPTHWISE_CONV_2D", "depth multiplier mismatch", dict(options=dict(depth_multiplier=1))),
    ("DEPTHWISE_CONV_2D", "float input", dict(x_dtype="float32", x_quant=None, y_dtype="float32")),
    ("DEPTHWISE_CONV_2D", "fused SIGN_BIT", dict(options=dict(fused_activation_function="SIGN_BIT"))),
    ("DEPTHWISE_CONV_2D", "filter not 1HWO", dict(w_data=np.ones((2, 3, 3, 4), dtype=np.int8))),
    ("DEPTHWISE_CONV_2D", "window too large", dict(options=dict(padding="VALID"),
                                                  w_data=np.ones((1, 7, 7, 4), dtype=np.int8))),
]


@pytest.mark.parametrize("kind,what,over", BAD, ids=[f"{k}-{w}" for k, w, _ in BAD])
def test_unsupported_raises_model_error(kind: str, what: str, over: dict) -> None:
    compile_error(_conv_graph_builder(kind, **over), kind)


def test_valid_builder_model_compiles() -> None:
    """The base model of the error tests is itself accepted (so each error is the spoiled piece)."""
    for kind in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        utvm.compile(_conv_graph_builder(kind), name="ok")


# --------------------------------------------------------------------------- shared models

OUR_OPS = {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "RESHAPE", "SQUEEZE"}


def _prefix_model(data: bytes) -> tuple[bytes, int]:
    """The model cut after its longest prefix of this family's operators (and reshapes)."""
    g = read_tflite(data)
    k = 0
    while k < len(g.operators) and g.operators[k].opcode in OUR_OPS:
        k += 1
    g.operators = g.operators[:k]
    g.outputs = list(g.operators[-1].outputs)
    return write_tflite(g), k


@pytest.mark.parametrize(
    "name",
    ["kws_ref_model", "person_detect", "vww_96_int8", "micro_speech_quantized", "pretrainedResnet_quant"],
)
def test_shared_model_prefix(name: str) -> None:
    model, n_ops = _prefix_model(shared_model(f"{name}.tflite").read_bytes())
    g = read_tflite(model)
    assert n_ops >= 3
    inputs = [(g.tensors[i].shape, "int8") for i in g.inputs]
    check(model, inputs, seed=7, n=2, name="prefix")
