"""CONCATENATION: bit-exact with TFLite Micro on single-operator models.

TFLM concatenates without requantizing (int8 inputs must share the output's
quantization), along any axis, of up to 10 inputs of up to 6 dimensions;
cases cover every axis of 1-D to 6-D tensors, negative axes, 1/2/3/10
inputs, constant and repeated inputs, all supported types, and the errors.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pytest

from utvm.frontend.model_builder import ModelBuilder

from .support import check, compile_error, random_tensor, requires_tflm

pytestmark = requires_tflm

Q = {"scale": 0.05, "zero_point": -3}


def concat_shapes(base: Sequence[int], axis: int, sizes: Sequence[int]) -> list[tuple[int, ...]]:
    ax = axis % len(base)
    return [tuple(s if d == ax else n for d, n in enumerate(base)) for s in sizes]


def concat_model(
    base: Sequence[int],
    axis: int,
    sizes: Sequence[int],
    dtype: str = "int8",
    const_inputs: Sequence[int] = (),
    repeat_first: bool = False,
    act: str | None = "NONE",
    quants: Sequence[dict] | None = None,
    out_quant: dict | None = None,
) -> tuple[bytes, list[tuple[tuple[int, ...], str]]]:
    """A one-op model; returns it and the (shape, dtype) of its runtime inputs."""
    q = Q if dtype == "int8" else ({"scale": 0.01, "zero_point": 0} if dtype == "int16" else {})
    shapes = concat_shapes(base, axis, sizes)
    mb = ModelBuilder("concat")
    rng = np.random.default_rng(99)
    ins, runtime = [], []
    for k, shape in enumerate(shapes):
        qk = quants[k] if quants is not None else q
        if k in const_inputs:
            ins.append(mb.const(f"c{k}", random_tensor(rng, shape, dtype), dtype, **qk))
        elif repeat_first and k > 0 and shape == shapes[0]:
            ins.append(ins[0])
        else:
            ins.append(mb.input(f"x{k}", shape, dtype, **qk))
            runtime.append((shape, dtype))
    out_shape = list(base)
    out_shape[axis % len(base)] = sum(sizes)
    y = mb.tensor("y", out_shape, dtype, **(out_quant if out_quant is not None else q))
    options: dict = {} if act is None and axis == 0 else {"axis": axis}
    if act is not None:
        options["fused_activation_function"] = act
    mb.op("CONCATENATION", ins, [y], **options)
    mb.output(y)
    return mb.build(), runtime


AXIS_CASES = [
    # (base shape, axis, sizes along axis)
    ((1, 4, 5, 3), 0, (1, 2)),
    ((2, 4, 5, 3), 1, (4, 1)),
    ((2, 4, 5, 3), 2, (5, 3)),
    ((2, 4, 5, 3), 3, (3, 8)),
    ((1, 4, 5, 3), -1, (3, 17)),
    ((1, 4, 5, 3), -3, (2, 2)),
    ((1, 4, 5, 3), -4, (1, 1)),
    ((1, 6, 6, 1), 3, (1, 1)),  # channel counts 1 + 1
    ((9,), 0, (9, 4)),
    ((3, 7), 0, (3, 1)),
    ((3, 7), 1, (7, 2)),
    ((3, 7), -1, (1, 1)),
    ((2, 3, 4), 1, (3, 5)),
    ((2, 3, 4, 2, 3), 2, (4, 1)),  # 5-D
    ((2, 3, 4, 2, 3), 4, (3, 2)),
    ((2, 1, 3, 2, 2, 3), 3, (2, 3)),  # 6-D, TFLM's maximum
    ((2, 1, 3, 2, 2, 3), 0, (2, 1)),
]


@pytest.mark.parametrize("base,axis,sizes", AXIS_CASES, ids=[f"{len(c[0])}d-axis{c[1]}" for c in AXIS_CASES])
def test_concatenation_axes(base, axis, sizes) -> None:
    model, runtime = concat_model(base, axis, sizes)
    check(model, runtime, seed=abs(axis))


@pytest.mark.parametrize("n", [1, 3, 10])
def test_concatenation_input_counts(n: int) -> None:
    model, runtime = concat_model((1, 3, 4, 2), 3, [1 + k % 4 for k in range(n)])
    check(model, runtime, seed=n)


def test_concatenation_constant_input() -> None:
    model, runtime = concat_model((1, 3, 4, 2), 2, (4, 2, 3), const_inputs=(1,))
    check(model, runtime)


def test_concatenation_same_tensor_twice() -> None:
    model, runtime = concat_model((2, 3, 4), 1, (3, 3), repeat_first=True)
    assert len(runtime) == 1
    check(model, runtime)


def test_concatenation_without_options() -> None:
    """No ConcatenationOptions table: axis 0 and no activation, as TFLM reads it."""
    model, runtime = concat_model((2, 3), 0, (2, 1), act=None)
    check(model, runtime)


TYPE_CASES = [
    ("float32", (1, 3, 4, 2), 3, (2, 5)),
    ("float32", (4, 3), 0, (4, 1)),
    ("int16", (1, 3, 4, 2), 1, (3, 2)),
    ("int32", (2, 3, 5), 2, (5, 5)),
    ("int64", (2, 3, 5), 1, (3, 1)),
    ("bool", (2, 3, 5), 2, (5, 2)),
]


@pytest.mark.parametrize("dtype,base,axis,sizes", TYPE_CASES, ids=[f"{c[0]}-axis{c[2]}" for c in TYPE_CASES])
def test_concatenation_types(dtype, base, axis, sizes) -> None:
    model, runtime = concat_model(base, axis, sizes, dtype)
    check(model, runtime, seed=7)


# --------------------------------------------------------------------------- refused models


@pytest.mark.parametrize("act", ["RELU", "RELU6"])
def test_concatenation_refuses_fused_activation(act: str) -> None:
    model, _ = concat_model((1, 2, 2, 3), 3, (3, 3), act=act)
    assert act in compile_error(model, "CONCATENATION")


def test_concatenation_refuses_different_scales() -> None:
    qs = [{"scale": 0.05, "zero_point": -3}, {"scale": 0.1, "zero_point": -3}]
    model, _ = concat_model((1, 2, 2, 3), 3, (3, 3), quants=qs, out_quant=qs[0])
    assert "requantize" in compile_error(model, "CONCATENATION")


def test_concatenation_refuses_different_zero_points() -> None:
    qs = [{"scale": 0.05, "zero_point": -3}, {"scale": 0.05, "zero_point": -3}]
    model, _ = concat_model((1, 2, 2, 3), 3, (3, 3), quants=qs, out_quant={"scale": 0.05, "zero_point": 4})
    assert "requantize" in compile_error(model, "CONCATENATION")


def test_concatenation_refuses_eleven_inputs() -> None:
    model, _ = concat_model((1, 2, 3), 2, [1] * 11)
    assert "10" in compile_error(model, "CONCATENATION")


def test_concatenation_refuses_mismatched_shapes() -> None:
    mb = ModelBuilder("concat")
    a = mb.input("a", (1, 2, 3), "int8", **Q)
    b = mb.input("b", (1, 3, 3), "int8", **Q)
    y = mb.tensor("y", (1, 2, 6), "int8", **Q)
    mb.op("CONCATENATION", [a, b], [y], axis=2, fused_activation_function="NONE")
    mb.output(y)
    compile_error(mb.build(), "CONCATENATION")


def test_concatenation_refuses_mixed_types() -> None:
    mb = ModelBuilder("concat")
    a = mb.input("a", (1, 2, 3), "int8", **Q)
    b = mb.input("b", (1, 2, 3), "int16", scale=0.01, zero_point=0)
    y = mb.tensor("y", (1, 2, 6), "int8", **Q)
    mb.op("CONCATENATION", [a, b], [y], axis=2, fused_activation_function="NONE")
    mb.output(y)
    assert "int16" in compile_error(mb.build(), "CONCATENATION")


def test_concatenation_refuses_int16_zero_point() -> None:
    mb = ModelBuilder("concat")
    a = mb.input("a", (1, 2, 3), "int16", scale=0.01, zero_point=5)
    y = mb.tensor("y", (1, 4, 3), "int16", scale=0.01, zero_point=5)
    mb.op("CONCATENATION", [a, a], [y], axis=1, fused_activation_function="NONE")
    mb.output(y)
    assert "zero point" in compile_error(mb.build(), "CONCATENATION")


def test_concatenation_refuses_seven_dims() -> None:
    model, _ = concat_model((1, 1, 2, 1, 2, 1, 2), 6, (2, 2))
    compile_error(model, "CONCATENATION")


def test_concatenation_refuses_unsupported_type() -> None:
    mb = ModelBuilder("concat")
    a = mb.input("a", (2, 3), "uint8", scale=0.1, zero_point=128)
    y = mb.tensor("y", (4, 3), "uint8", scale=0.1, zero_point=128)
    mb.op("CONCATENATION", [a, a], [y], axis=0, fused_activation_function="NONE")
    mb.output(y)
    assert "uint8" in compile_error(mb.build(), "CONCATENATION")
