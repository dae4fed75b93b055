"""Helpers shared by the per-operator tests: random inputs, the TFLM comparison, refusals.

Every operator test compiles a small model with ``utvm.compile``, runs the C
on the host (``utvm.host.build(...).run``) and compares the outputs with
TFLite Micro's interpreter (``utvm.reference.tflm_run``) byte for byte; a
refused model must raise ``ModelError`` naming the operator. The pieces:

- ``requires_tflm``: the skip marker (``pytestmark = requires_tflm``).
- ``random_tensor``: random data of any supported type.
- ``assert_same``: one output against TFLM's, dtype, shape and every byte.
- ``compare_runs``: a model on given input sets, each compared as above.
- ``check``: ``compare_runs`` on random inputs described by (shape, dtype).
- ``check_with``: ``compare_runs`` on inputs from a callable ``make_inputs(rng)``.
- ``compile_error``: the message of the ``ModelError`` a refused model raises.
"""

from __future__ import annotations

from typing import Callable, Iterable, Sequence

import numpy as np
import pytest

import utvm
import utvm.host
from utvm.errors import ModelError
from utvm.reference import tflm_available, tflm_run

#: Skip a module (``pytestmark = requires_tflm``) or a test when the TFLM oracle is missing.
requires_tflm = pytest.mark.skipif(
    not tflm_available(), reason="TFLite Micro (pip install tflite-micro) is not installed"
)

#: How many random input sets ``check`` and ``check_with`` compare by default.
N_INPUTS = 3

InputSpec = Sequence[tuple[Sequence[int], str]]


def random_tensor(rng: np.random.Generator, shape: Sequence[int], dtype: str, extremes: bool = False) -> np.ndarray:
    """A random array of ``shape`` and ``dtype`` drawn from ``rng``.

    Integer types cover their whole range uniformly (for int8 the draw is the
    same as ``rng.integers(-128, 128, size=shape)``); float32 is normal with
    standard deviation 10; bool is a fair coin. With ``extremes`` (integer
    types only) the first two elements are set to the type's minimum and
    maximum, so both ends of the range are always present.
    """
    if dtype in ("float32", "bool"):
        if extremes:
            raise ValueError(f"extremes are defined for integer types only, not {dtype}")
        if dtype == "float32":
            return (rng.standard_normal(shape) * 10).astype(np.float32)
        return rng.integers(0, 2, size=shape).astype(bool)
    info = np.iinfo(dtype)
    x = rng.integers(info.min, info.max, size=shape, endpoint=True).astype(dtype)
    if extremes:
        x.reshape(-1)[:2] = [info.min, info.max]
    return x


def _bytes(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a).reshape(-1).view(np.uint8)


def assert_same(got: np.ndarray, want: np.ndarray) -> None:
    """``got`` is ``want`` to the bit: same dtype, same shape, identical bytes.

    Stricter than equal values for floats (-0.0 is not 0.0, NaN payloads count).
    """
    assert got.dtype == want.dtype, f"dtype {got.dtype} != TFLM's {want.dtype}"
    assert got.shape == want.shape, f"shape {got.shape} != TFLM's {want.shape}"
    if got.tobytes() != want.tobytes():
        np.testing.assert_array_equal(got, want)  # a readable report of the values that differ
        np.testing.assert_array_equal(_bytes(got), _bytes(want), err_msg="equal values, different bits")


def compare_runs(
    model: bytes, input_sets: Iterable[Sequence[np.ndarray]], name: str | None = None
) -> list[list[np.ndarray]]:
    """Compile ``model`` (as ``name``), build its host runner once and run it on each input set.

    Each run must give as many outputs as TFLM, each the same as TFLM's
    (``assert_same``). The sets are consumed lazily, one run at a time.
    Returns our outputs of every run, for callers that check more.
    """
    runner = utvm.host.build(utvm.compile(model, name=name))
    runs = []
    for inputs in input_sets:
        got, _ = runner.run(inputs)
        want = tflm_run(model, inputs)
        assert len(got) == len(want), f"{len(got)} outputs, TFLM gives {len(want)}"
        for g, w in zip(got, want):
            assert_same(g, w)
        runs.append(got)
    return runs


def check_with(
    model: bytes,
    make_inputs: Callable[[np.random.Generator], Sequence[np.ndarray]],
    seed: int = 0,
    n: int = N_INPUTS,
    name: str | None = None,
) -> list[list[np.ndarray]]:
    """``compare_runs`` on ``n`` input sets ``make_inputs(rng)``, with ``rng`` seeded by ``seed``."""
    rng = np.random.default_rng(seed)
    return compare_runs(model, (make_inputs(rng) for _ in range(n)), name=name)


def check(
    model: bytes, inputs: InputSpec, seed: int = 0, n: int = N_INPUTS, name: str | None = None
) -> list[list[np.ndarray]]:
    """``compare_runs`` on ``n`` sets of random inputs, one ``random_tensor`` per (shape, dtype) of ``inputs``."""
    return check_with(model, lambda rng: [random_tensor(rng, shape, dtype) for shape, dtype in inputs], seed, n, name)


def compile_error(model: bytes, opcode: str | None = None) -> str:
    """The message of the ``ModelError`` that compiling ``model`` must raise.

    With ``opcode``, the message must name that operator. (The model's name
    never enters these messages, so the default one is used.)
    """
    with pytest.raises(ModelError) as info:
        utvm.compile(model)
    msg = str(info.value)
    if opcode is not None:
        assert opcode in msg, f"{opcode} is not named in: {msg}"
    return msg
