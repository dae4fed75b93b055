"""AVERAGE_POOL_2D and MAX_POOL_2D (int8): bit-exact with TFLite Micro on single-operator models.

The grid covers SAME and VALID padding (including windows that hang over
the edge, where the average divides by the count of elements inside the
input), strides smaller than, equal to and larger than the window, windows
as large as the input, the four fused activations, channel counts 1..64,
batches, zero points at both ends, and the geometries of the shared models.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Iterator

import numpy as np
import pytest

from utvm.frontend.model_builder import ModelBuilder
from utvm.frontend.tflite_reader import read_tflite
from utvm.ops import lower
from utvm.ops.pooling import _out_size_and_padding

from .support import N_INPUTS, check, compare_runs, compile_error, requires_tflm

pytestmark = requires_tflm


@dataclass(frozen=True)
class Case:
    opcode: str = "AVERAGE_POOL_2D"
    shape: tuple = (1, 8, 8, 3)  # NHWC
    filter: tuple = (2, 2)
    stride: tuple = (2, 2)
    padding: str = "VALID"
    activation: str = "NONE"
    scale: float = 0.05
    zero_point: int = -3
    out_scale: float | None = None  # None: the input's
    seed: int = 0

    @property
    def out_shape(self) -> tuple:
        n, h, w, c = self.shape
        oh, _ = _out_size_and_padding(self.padding, h, self.filter[0], self.stride[0])
        ow, _ = _out_size_and_padding(self.padding, w, self.filter[1], self.stride[1])
        return (n, oh, ow, c)

    def id(self) -> str:
        short = "avg" if self.opcode == "AVERAGE_POOL_2D" else "max"
        return (
            f"{short}-{'x'.join(map(str, self.shape))}-f{self.filter[0]}x{self.filter[1]}"
            f"-s{self.stride[0]}x{self.stride[1]}-{self.padding}-{self.activation}-zp{self.zero_point}"
        )


def build(case: Case, out_shape: tuple | None = None, out_zero_point: int | None = None) -> bytes:
    mb = ModelBuilder("pool_test")
    x = mb.input("x", case.shape, "int8", scale=case.scale, zero_point=case.zero_point)
    y = mb.tensor(
        "y",
        out_shape or case.out_shape,
        "int8",
        scale=case.scale if case.out_scale is None else case.out_scale,
        zero_point=case.zero_point if out_zero_point is None else out_zero_point,
    )
    mb.op(
        case.opcode,
        [x],
        [y],
        padding=case.padding,
        stride_h=case.stride[0],
        stride_w=case.stride[1],
        filter_height=case.filter[0],
        filter_width=case.filter[1],
        fused_activation_function=case.activation,
    )
    mb.output(y)
    return mb.build()


def pool_inputs(case: Case, rng: np.random.Generator) -> Iterator[list[np.ndarray]]:
    """N_INPUTS input sets: random, then a narrow range, then random with -128 and 127 in its first elements."""
    for k in range(N_INPUTS):
        x = rng.integers(-128, 128, size=case.shape).astype(np.int8)
        if k == 1:  # narrow range: averages land near rounding boundaries often
            x = rng.integers(-3, 4, size=case.shape).astype(np.int8)
        if k == 2:
            x.reshape(-1)[:4] = [-128, 127, -128, 127]
        yield [x]


def check_case(case: Case) -> None:
    compare_runs(build(case), pool_inputs(case, np.random.default_rng(case.seed)), name="pool_test")


A = Case()
M = Case(opcode="MAX_POOL_2D")

GEOMETRIES = [
    # (shape, filter, stride, padding)
    ((1, 8, 8, 3), (2, 2), (2, 2), "VALID"),
    ((1, 7, 9, 8), (3, 3), (2, 2), "SAME"),  # window hangs over the bottom/right edge
    ((1, 6, 6, 17), (3, 3), (1, 1), "SAME"),  # padding on all sides
    ((2, 5, 7, 1), (2, 3), (1, 2), "VALID"),  # batches, asymmetric window and strides
    ((1, 9, 4, 3), (4, 1), (3, 1), "SAME"),
    ((1, 10, 10, 8), (2, 2), (3, 3), "SAME"),  # stride larger than the window
    ((1, 5, 5, 3), (5, 5), (1, 1), "VALID"),  # global pool
    ((1, 4, 6, 5), (5, 5), (2, 3), "SAME"),  # window larger than the input
    ((1, 1, 1, 7), (1, 1), (1, 1), "VALID"),
    ((1, 1, 12, 4), (1, 4), (1, 4), "VALID"),  # 1-D pooling along the width
    ((3, 11, 3, 2), (3, 2), (2, 1), "SAME"),
]

ACTIVATIONS = ["NONE", "RELU", "RELU6", "RELU_N1_TO_1"]

CASES = [
    replace(base, shape=s, filter=f, stride=st, padding=p, activation=ACTIVATIONS[i % 4], seed=i)
    for base in (A, M)
    for i, (s, f, st, p) in enumerate(GEOMETRIES)
] + [
    # activations with scales where they bite inside the int8 range, zero points at the ends
    *[
        replace(base, shape=(1, 6, 6, 4), filter=(3, 3), stride=(1, 1), padding="SAME", activation="RELU6",
                scale=0.03, zero_point=-128)
        for base in (A, M)
    ],
    replace(A, activation="RELU_N1_TO_1", scale=0.004, zero_point=0),
    replace(M, activation="RELU_N1_TO_1", scale=0.004, zero_point=0),
    replace(A, activation="RELU", scale=0.1, zero_point=127),
    replace(M, activation="RELU", scale=0.1, zero_point=127),
    replace(A, activation="RELU", scale=1e-3, zero_point=-100),
    replace(M, activation="RELU6", scale=10.0, zero_point=5),
    # input and output scales may differ by up to 1e-6 (TFLM's tolerance)
    replace(A, scale=0.05, out_scale=0.0500005),
    # the shared models' pools
    replace(A, shape=(1, 25, 5, 64), filter=(25, 5), stride=(25, 5), scale=0.08023616, zero_point=-128),  # kws
    replace(A, shape=(1, 3, 3, 256), filter=(3, 3), stride=(2, 2), scale=0.01860933, zero_point=-128),  # person_detect
    replace(A, shape=(1, 8, 8, 64), filter=(8, 8), stride=(8, 8), scale=0.12706915, zero_point=-128),  # resnet
    replace(A, shape=(1, 3, 3, 256), filter=(3, 3), stride=(3, 3), scale=0.01565691, zero_point=-128),  # vww
]


@pytest.mark.parametrize("case", CASES, ids=[c.id() for c in CASES])
def test_pool_matches_tflm(case: Case) -> None:
    check_case(case)


def test_pool_chain() -> None:
    """MAX_POOL_2D -> AVERAGE_POOL_2D: two pools through an intermediate activation buffer."""
    mb = ModelBuilder("pool_test")
    x = mb.input("x", (1, 9, 9, 5), "int8", scale=0.02, zero_point=7)
    t = mb.tensor("t", (1, 5, 5, 5), "int8", scale=0.02, zero_point=7)
    y = mb.tensor("y", (1, 2, 2, 5), "int8", scale=0.02, zero_point=7)
    mb.op("MAX_POOL_2D", [x], [t], padding="SAME", stride_h=2, stride_w=2, filter_height=3, filter_width=3,
          fused_activation_function="NONE")
    mb.op("AVERAGE_POOL_2D", [t], [y], padding="VALID", stride_h=2, stride_w=2, filter_height=2, filter_width=2,
          fused_activation_function="RELU")
    mb.output(y)
    check(mb.build(), [((1, 9, 9, 5), "int8")], seed=11, name="pool_test")


def test_padding_params() -> None:
    """The kernel receives TFLite's top/left padding (the smaller half of an odd total)."""
    g = read_tflite(build(replace(A, shape=(1, 7, 8, 2), filter=(4, 3), stride=(2, 3), padding="SAME")))
    p = lower(g.operators[0], g).params
    # height: out 4, total (4-1)*2+4-7 = 3 -> 1; width: out 3, total (3-1)*3+3-8 = 1 -> 0
    assert (p["output_height"], p["output_width"], p["padding_height"], p["padding_width"]) == (4, 3, 1, 0)


@pytest.mark.parametrize("opcode", ["AVERAGE_POOL_2D", "MAX_POOL_2D"])
def test_refusals(opcode: str) -> None:
    base = replace(A, opcode=opcode)
    # different zero point / scale on input and output
    msg = compile_error(build(base, out_zero_point=base.zero_point + 1), opcode)
    assert "zero point" in msg
    msg = compile_error(build(replace(base, out_scale=0.051)), opcode)
    assert "scale" in msg
    # an output shape that is not the one TFLite computes
    msg = compile_error(build(base, out_shape=(1, 3, 4, 3)), opcode)
    assert "shape" in msg
    # a fused activation TFLM's pooling does not support
    msg = compile_error(build(replace(base, activation="TANH")), opcode)
    assert "TANH" in msg


@pytest.mark.parametrize("opcode", ["AVERAGE_POOL_2D", "MAX_POOL_2D"])
@pytest.mark.parametrize("dtype", ["int16", "float32"])
def test_other_types_are_refused(opcode: str, dtype: str) -> None:
    mb = ModelBuilder("pool_test")
    quant = {"scale": 0.01, "zero_point": 0} if dtype == "int16" else {}
    x = mb.input("x", (1, 4, 4, 2), dtype, **quant)
    y = mb.tensor("y", (1, 2, 2, 2), dtype, **quant)
    mb.op(opcode, [x], [y], padding="VALID", stride_h=2, stride_w=2, filter_height=2, filter_width=2,
          fused_activation_function="NONE")
    mb.output(y)
    msg = compile_error(mb.build(), opcode)
    assert dtype in msg
