"""QUANTIZE and DEQUANTIZE: bit-exact with TFLite Micro.

Float inputs include exact rounding ties (power-of-two scales), near-ties,
signed zeros, subnormals and values that saturate; float outputs are compared
bit for bit. The integer requantization covers every type pair TFLite Micro
accepts. The end-to-end cases run float32 models with an int8 body.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import numpy as np
import pytest

from utvm.ops.base import InPlace
from utvm.frontend.model_builder import ModelBuilder
from utvm.frontend.tflite_reader import read_tflite
from utvm.ops import lower

from .support import check_with, compile_error, random_tensor, requires_tflm

pytestmark = requires_tflm


def float_inputs(rng: np.random.Generator, shape: tuple, scale: float, zp: int, dtype: str) -> np.ndarray:
    """Floats around the representable range, with ties, near-ties and specials mixed in."""
    info = np.iinfo(dtype)
    lo, hi = (float(info.min) - zp) * scale, (float(info.max) - zp) * scale
    size = int(np.prod(shape))
    x = rng.uniform(lo - 0.1 * (hi - lo), hi + 0.1 * (hi - lo), size=size).astype(np.float32)
    s = np.float32(scale)
    k = rng.integers(int(info.min) - zp - 3, int(info.max) - zp + 3, size=size)
    ties = ((k.astype(np.float32) + np.float32(0.5)) * s).astype(np.float32)
    near = np.nextafter(ties, np.where(rng.random(size) < 0.5, np.float32(-np.inf), np.float32(np.inf)))
    pick = rng.integers(0, 4, size=size)
    x = np.where(pick == 1, ties, np.where(pick == 2, near, x)).astype(np.float32)
    # |x / scale| stays below 2**31: beyond, TFLite's float -> int32 conversion is undefined.
    big = min(1e5, 1e9 * scale)
    specials = np.array(
        [0.0, -0.0, 1e-42, -1e-42, big, -big, 3e6 * scale, -3e6 * scale, lo, hi, 0.5 * scale, -0.5 * scale],
        dtype=np.float32,
    )
    x[: min(size, specials.size)] = specials[: min(size, specials.size)]
    return x.reshape(shape)


# --------------------------------------------------------------------------- float -> int


@dataclass(frozen=True)
class QCase:
    shape: tuple = (2, 40)
    dtype: str = "int8"
    scale: float = 0.05
    zp: int = -3
    seed: int = 0

    def id(self) -> str:
        return f"f32-{self.dtype}-{'x'.join(map(str, self.shape))}-s{self.scale:g}-zp{self.zp}"


def build_quantize(case: QCase) -> bytes:
    mb = ModelBuilder("quantize_test")
    x = mb.input("x", case.shape, "float32")
    y = mb.tensor("y", case.shape, case.dtype, scale=case.scale, zero_point=case.zp)
    mb.op("QUANTIZE", [x], [y])
    mb.output(y)
    return mb.build()


Q = QCase()
QUANTIZE_CASES = [
    Q,
    replace(Q, scale=0.25, zp=0),  # power-of-two scales: exact ties
    replace(Q, scale=2.0**-7, zp=-128),
    replace(Q, scale=4.0, zp=127),
    replace(Q, scale=1.0 / 255, zp=-128, shape=(1, 8, 8, 3)),
    replace(Q, scale=0.1, zp=0),
    replace(Q, scale=0.3, zp=10, shape=(97,)),
    replace(Q, scale=1e-3, zp=-50),
    replace(Q, scale=123.456, zp=-1),
    replace(Q, scale=1e-6, zp=0),
    replace(Q, dtype="int16", scale=1e-3, zp=0),
    replace(Q, dtype="int16", scale=2.0**-12, zp=0),
    replace(Q, dtype="int16", scale=0.37, zp=-1234, shape=(3, 5, 7)),
]


@pytest.mark.parametrize("case", QUANTIZE_CASES, ids=[c.id() for c in QUANTIZE_CASES])
def test_quantize_float_matches_tflm(case: QCase) -> None:
    check_with(
        build_quantize(case),
        lambda rng: [float_inputs(rng, case.shape, case.scale, case.zp, case.dtype)],
        seed=case.seed,
        name="quantize_test",
    )


# --------------------------------------------------------------------------- int -> int


@dataclass(frozen=True)
class RCase:
    src: str = "int8"
    dst: str = "int8"
    s_in: float = 0.05
    z_in: int = 3
    s_out: float = 0.1
    z_out: int = -5
    shape: tuple = (3, 33)

    def id(self) -> str:
        return f"{self.src}-{self.dst}-in{self.s_in:g},{self.z_in}-out{self.s_out:g},{self.z_out}"


def build_requantize(case: RCase) -> bytes:
    mb = ModelBuilder("quantize_test")
    x = mb.input("x", case.shape, case.src, scale=case.s_in, zero_point=case.z_in)
    y = mb.tensor("y", case.shape, case.dst, scale=case.s_out, zero_point=case.z_out)
    mb.op("QUANTIZE", [x], [y])
    mb.output(y)
    return mb.build()


def int_inputs(rng: np.random.Generator, shape: tuple, dtype: str) -> np.ndarray:
    if dtype == "int32":
        x = rng.integers(-(1 << 20), 1 << 20, size=shape).astype(np.int32)
        x.reshape(-1)[:4] = [0, 1, -1, 1 << 24]
        return x
    return random_tensor(rng, shape, dtype, extremes=True)


R = RCase()
REQUANTIZE_CASES = [
    R,
    replace(R, s_out=0.02),  # multiplier > 1
    replace(R, s_out=0.05, z_out=3),  # identity
    replace(R, s_out=0.05, z_out=-128),  # same scale, shifted zero point
    replace(R, s_in=0.9, s_out=1e-3, z_in=-128, z_out=127),  # saturating
    replace(R, s_in=1e-4, s_out=1.0),
    replace(R, s_in=1e-9, s_out=10.0),  # multiplier flushed to zero
    replace(R, dst="uint8", z_out=128),
    replace(R, dst="uint8", s_out=0.05, z_in=-128, z_out=0),  # the int8 -> uint8 xor fast path
    replace(R, src="uint8", z_in=128, z_out=0),
    replace(R, src="uint8", s_out=0.05, z_in=128, z_out=0),  # the uint8 -> int8 xor fast path
    replace(R, dst="int16", s_out=1e-3, z_out=0),
    replace(R, dst="int16", s_out=1e-5, z_out=100),  # saturates int16
    replace(R, dst="int32", s_out=1e-3, z_out=7),
    replace(R, src="int16", dst="int8", s_in=1e-3, z_in=0, s_out=0.1, z_out=-1),
    replace(R, src="int16", dst="int8", s_in=1e-3, z_in=-200, s_out=0.01, z_out=3),
    replace(R, src="int16", dst="int16", s_in=1e-3, z_in=0, s_out=3e-4, z_out=0),
    replace(R, src="int16", dst="int16", s_in=1e-3, z_in=12, s_out=5e-3, z_out=-7),
    replace(R, src="int16", dst="int32", s_in=1e-3, z_in=0, s_out=1e-6, z_out=0),
    replace(R, src="int32", dst="int8", s_in=1e-4, z_in=0, s_out=0.05, z_out=-10),
    replace(R, src="int32", dst="int16", s_in=1e-5, z_in=5, s_out=1e-3, z_out=0),
]


@pytest.mark.parametrize("case", REQUANTIZE_CASES, ids=[c.id() for c in REQUANTIZE_CASES])
def test_requantize_matches_tflm(case: RCase) -> None:
    check_with(build_requantize(case), lambda rng: [int_inputs(rng, case.shape, case.src)], name="quantize_test")


# --------------------------------------------------------------------------- int -> float


DEQUANTIZE_CASES = [
    ("int8", 0.05, 3),
    ("int8", 1.0 / 255, -128),
    ("int8", 123.25, 127),
    ("int8", 1e-30, 0),
    ("int8", 1e-40, -1),  # subnormal scale
    ("uint8", 0.02, 128),
    ("uint8", 0.7, 0),
    ("int16", 1e-3, 0),
    ("int16", 3.3e-5, -300),
    ("int16", 3e33, 0),  # products overflow to infinity
]


@pytest.mark.parametrize(
    "dtype, scale, zp", DEQUANTIZE_CASES, ids=[f"{d}-s{s:g}-zp{z}" for d, s, z in DEQUANTIZE_CASES]
)
def test_dequantize_matches_tflm(dtype: str, scale: float, zp: int) -> None:
    mb = ModelBuilder("quantize_test")
    x = mb.input("x", (4, 17), dtype, scale=scale, zero_point=zp)
    y = mb.tensor("y", (4, 17), "float32")
    mb.op("DEQUANTIZE", [x], [y])
    mb.output(y)
    check_with(mb.build(), lambda rng: [int_inputs(rng, (4, 17), dtype)], name="quantize_test")


# --------------------------------------------------------------------------- float models with an int8 body


def test_float_model_quantize_fully_connected_dequantize() -> None:
    rng = np.random.default_rng(7)
    mb = ModelBuilder("quantize_test")
    x = mb.input("x", (1, 16), "float32")
    q = mb.tensor("q", (1, 16), "int8", scale=0.02, zero_point=-4)
    w = mb.const("w", rng.integers(-127, 128, size=(8, 16)).astype(np.int8), scale=0.01, zero_point=0)
    b = mb.const("b", rng.integers(-2000, 2000, size=8).astype(np.int32), scale=0.02 * 0.01, zero_point=0)
    h = mb.tensor("h", (1, 8), "int8", scale=0.1, zero_point=2)
    y = mb.tensor("y", (1, 8), "float32")
    mb.op("QUANTIZE", [x], [q])
    mb.op(
        "FULLY_CONNECTED",
        [q, w, b],
        [h],
        fused_activation_function="RELU",
        weights_format="DEFAULT",
        keep_num_dims=False,
        asymmetric_quantize_inputs=False,
    )
    mb.op("DEQUANTIZE", [h], [y])
    mb.output(y)
    check_with(mb.build(), lambda rng: [float_inputs(rng, (1, 16), 0.02, -4, "int8")], n=5, name="quantize_test")


def test_float_model_quantize_add_requantize_dequantize() -> None:
    mb = ModelBuilder("quantize_test")
    x = mb.input("x", (2, 3, 4), "float32")
    q = mb.tensor("q", (2, 3, 4), "int8", scale=0.03, zero_point=7)
    c = mb.const("c", np.array([-100, -3, 50, 127], dtype=np.int8), scale=0.02, zero_point=-1)
    s = mb.tensor("s", (2, 3, 4), "int8", scale=0.05, zero_point=-2)
    r = mb.tensor("r", (2, 3, 4), "int8", scale=0.04, zero_point=-128)
    y = mb.tensor("y", (2, 3, 4), "float32")
    mb.op("QUANTIZE", [x], [q])
    mb.op("ADD", [q, c], [s], fused_activation_function="RELU6")
    mb.op("QUANTIZE", [s], [r])
    mb.op("DEQUANTIZE", [r], [y])
    mb.output(y)
    check_with(mb.build(), lambda rng: [float_inputs(rng, (2, 3, 4), 0.03, 7, "int8")], n=5, name="quantize_test")


def test_inplace_marks() -> None:
    g = read_tflite(build_requantize(R))
    assert lower(g.operators[0], g).inplace == InPlace()
    g = read_tflite(build_requantize(replace(R, dst="int16")))
    assert lower(g.operators[0], g).inplace is None
    g = read_tflite(build_quantize(Q))
    assert lower(g.operators[0], g).inplace is None


# --------------------------------------------------------------------------- refusals


def _single_model(opcode: str, src: tuple, dst: tuple) -> bytes:
    """src/dst: (dtype, scale or None, zero point)."""
    mb = ModelBuilder("quantize_test")
    x = mb.input("x", (4,), src[0], scale=src[1], zero_point=src[2])
    y = mb.tensor("y", (4,), dst[0], scale=dst[1], zero_point=dst[2])
    mb.op(opcode, [x], [y])
    mb.output(y)
    return mb.build()


@pytest.mark.parametrize(
    "opcode, src, dst",
    [
        ("QUANTIZE", ("float32", None, 0), ("uint8", 0.1, 128)),  # TFLM: float -> uint8 not supported
        ("QUANTIZE", ("float32", None, 0), ("int32", 0.1, 0)),
        ("QUANTIZE", ("int16", 0.1, 0), ("uint8", 0.1, 0)),
        ("QUANTIZE", ("float32", None, 0), ("int8", None, 0)),  # output not quantized
        ("DEQUANTIZE", ("int8", 0.1, 0), ("int8", 0.1, 0)),
        ("DEQUANTIZE", ("int32", 0.1, 0), ("float32", None, 0)),
        ("DEQUANTIZE", ("int8", None, 0), ("float32", None, 0)),
    ],
    ids=["f32-u8", "f32-s32", "s16-u8", "unquantized-output", "deq-s8-s8", "deq-s32", "deq-unquantized"],
)
def test_refusals(opcode: str, src: tuple, dst: tuple) -> None:
    compile_error(_single_model(opcode, src, dst), opcode)


def test_per_channel_output_is_refused() -> None:
    mb = ModelBuilder("quantize_test")
    x = mb.input("x", (2, 3), "float32")
    y = mb.tensor("y", (2, 3), "int8", scale=[0.1, 0.2, 0.3], zero_point=0, axis=1)
    mb.op("QUANTIZE", [x], [y])
    mb.output(y)
    msg = compile_error(mb.build(), "QUANTIZE")
    assert re.search("QUANTIZE.*per tensor|per tensor.*QUANTIZE", msg)
