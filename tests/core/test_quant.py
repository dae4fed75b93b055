"""Requantization arithmetic: Python precomputation, the numpy model, and common.h agree."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from utvm import quant
from utvm.mlf import RUNTIME_DIR


@pytest.mark.parametrize(
    "real, expected",
    [
        (0.5, (1 << 30, 0)),
        (1.0, (1 << 30, 1)),
        (0.75, (3 << 29, 0)),
        (0.25, (1 << 30, -1)),
        (3.0, (3 << 29, 2)),
        (0.0, (0, 0)),
        (1e-12, (0, 0)),  # below 2**-31: flushed to zero like TFLite
        (1.0 - 2.0**-40, (1 << 30, 1)),  # rounds up to 2**31, renormalized
    ],
)
def test_quantize_multiplier_known_values(real, expected):
    assert quant.quantize_multiplier(real) == expected


def test_multiply_by_quantized_multiplier_hand_cases():
    # multiplier 2**30 is 0.5. The doubling high multiply rounds ties toward
    # +inf (-1.5 -> -1), the power-of-two divide rounds ties away from zero.
    assert quant.multiply_by_quantized_multiplier(np.array([100]), 1 << 30, 0)[0] == 50
    assert quant.multiply_by_quantized_multiplier(np.array([-3]), 1 << 30, 0)[0] == -1
    assert quant.multiply_by_quantized_multiplier(np.array([7]), 1 << 30, -1)[0] == 2  # 3.5 -> 4, /2
    assert quant.multiply_by_quantized_multiplier(np.array([-6]), 1 << 30, -1)[0] == -2  # -3 / 2 -> -2
    assert quant.multiply_by_quantized_multiplier(np.array([5]), 1 << 30, 3)[0] == 20  # 5 * 0.5 * 8


def test_activation_ranges():
    assert quant.activation_range("NONE", 0.1, 3) == (-128, 127)
    assert quant.activation_range("RELU", 0.1, 3) == (3, 127)
    assert quant.activation_range("RELU6", 0.1, -128) == (-128, -68)
    assert quant.activation_range("RELU_N1_TO_1", 0.01, 0) == (-100, 100)


def test_common_h_matches_numpy_model(tmp_path):
    rng = np.random.default_rng(7)
    xs = np.concatenate([rng.integers(-(1 << 31), 1 << 31, 400), [-(1 << 31), (1 << 31) - 1, 0, -1, 1]])
    cases = [(int(x), int(rng.integers(1 << 30, (1 << 31) - 1)), int(rng.integers(-31, 8))) for x in xs]
    cases = [(x if s <= 0 else x >> 8, m, s) for x, m, s in cases]  # keep left shifts from wrapping
    src = tmp_path / "t.c"
    src.write_text(
        '#include <stdio.h>\n#include "utvm/kernels/common.h"\n'
        "static const long long c[][3] = {"
        + ",".join(f"{{{x}LL,{m}LL,{s}LL}}" for x, m, s in cases)
        + "};\nint main(void) { size_t i; for (i = 0; i < sizeof c / sizeof c[0]; i++)"
        ' printf("%ld\\n", (long)utvm_requantize((int32_t)c[i][0], (int32_t)c[i][1], (int32_t)c[i][2]));'
        " return 0; }\n"
    )
    exe = tmp_path / "t"
    subprocess.run(
        ["cc", "-std=c99", "-Wall", "-Wextra", "-Werror", f"-I{RUNTIME_DIR / 'include'}", str(src), "-o", str(exe)],
        check=True,
    )
    got = [int(line) for line in subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.split()]
    want = [int(quant.multiply_by_quantized_multiplier(np.array([x]), m, s)[0]) for x, m, s in cases]
    assert got == want
