"""Compile-time quantization arithmetic, matching TFLite Micro bit for bit.

TFLite Micro is built without TFLITE_SINGLE_ROUNDING, so requantization is the
gemmlowp double-rounding form: a saturating rounding doubling high multiply
by a Q31 multiplier, then a rounding right shift. These functions produce the
(multiplier, shift) pairs the C kernels consume, and a numpy model of the
runtime arithmetic used by constant folding and tests.
"""

from __future__ import annotations

import math

import numpy as np

INT32_MIN = -(1 << 31)
INT32_MAX = (1 << 31) - 1


def _round_half_away(x: float) -> int:
    """std::round: halves away from zero."""
    return int(math.floor(abs(x) + 0.5)) * (1 if x >= 0 else -1)


def quantize_multiplier(real_multiplier: float) -> tuple[int, int]:
    """Split a real multiplier into a Q31 multiplier and a power-of-two shift.

    Returns ``(multiplier, shift)`` with ``real ~= multiplier * 2**(shift - 31)``;
    a positive shift is a left shift. Mirrors TFLite's QuantizeMultiplier,
    including the flush to zero of multipliers below 2**-31.
    """
    if real_multiplier == 0.0:
        return 0, 0
    q, shift = math.frexp(real_multiplier)
    q_fixed = _round_half_away(q * (1 << 31))
    if q_fixed == (1 << 31):
        q_fixed //= 2
        shift += 1
    if shift < -31:
        shift = 0
        q_fixed = 0
    return int(q_fixed), int(shift)


def quantize_multiplier_smaller_than_one(real_multiplier: float) -> tuple[int, int]:
    """QuantizeMultiplierSmallerThanOneExp: as :func:`quantize_multiplier`, shift <= 0."""
    if not 0.0 <= real_multiplier < 1.0:
        raise ValueError(f"multiplier {real_multiplier} is not in [0, 1)")
    return quantize_multiplier(real_multiplier)


def saturating_rounding_doubling_high_mul(a: np.ndarray, b: int) -> np.ndarray:
    """gemmlowp SaturatingRoundingDoublingHighMul, elementwise over int64 arrays."""
    a = np.asarray(a, dtype=np.int64)
    ab = a * np.int64(b)
    nudge = np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    # C++ integer division truncates toward zero.
    total = ab + nudge
    q = np.where(total >= 0, total // (1 << 31), -((-total) // (1 << 31)))
    overflow = (a == INT32_MIN) & (b == INT32_MIN)
    return np.where(overflow, INT32_MAX, q).astype(np.int64)


def rounding_divide_by_pot(x: np.ndarray, exponent: int) -> np.ndarray:
    """gemmlowp RoundingDivideByPOT: arithmetic shift right, rounding half away from zero."""
    x = np.asarray(x, dtype=np.int64)
    mask = (1 << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0).astype(np.int64)
    return (x >> exponent) + (remainder > threshold).astype(np.int64)


def multiply_by_quantized_multiplier(x: np.ndarray, multiplier: int, shift: int) -> np.ndarray:
    """TFLite's MultiplyByQuantizedMultiplier (double rounding), elementwise."""
    left = shift if shift > 0 else 0
    right = 0 if shift > 0 else -shift
    x = np.asarray(x, dtype=np.int64) * (1 << left)
    # x * 2**left wraps in int32 in C; keep the same semantics.
    x = ((x + (1 << 31)) % (1 << 32)) - (1 << 31)
    return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(x, multiplier), right)


def activation_range(activation: str, scale: float, zero_point: int, dtype: str = "int8") -> tuple[int, int]:
    """CalculateActivationRangeQuantized: the clamp a fused activation implies.

    ``activation`` is a TFLite ActivationFunctionType name.
    """
    info = np.iinfo(dtype)
    qmin, qmax = int(info.min), int(info.max)

    def q(real: float) -> int:
        return zero_point + _round_half_away(float(np.float32(real) / np.float32(scale)))

    if activation == "NONE":
        return qmin, qmax
    if activation == "RELU":
        return max(qmin, q(0.0)), qmax
    if activation == "RELU6":
        return max(qmin, q(0.0)), min(qmax, q(6.0))
    if activation == "RELU_N1_TO_1":
        return max(qmin, q(-1.0)), min(qmax, q(1.0))
    raise ValueError(f"unsupported fused activation {activation}")
