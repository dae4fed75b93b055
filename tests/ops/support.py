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
- ``behind_copies``: a model whose operators read and write the arena, not the
  caller's buffers (so the planner may run them in place).
- ``merge_models``: several single-subgraph models side by side in one.
- ``requires_arm_tools`` and ``run_on_board``: a compiled model as a standalone
  baremetal_cmsis image on an emulated board, checked against expected outputs.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
import pytest

import utvm
import utvm.host
from utvm.errors import ModelError
from utvm.frontend.tflite_reader import read_tflite
from utvm.frontend.tflite_writer import write_tflite
from utvm.ir import Graph, Operator
from utvm.reference import tflm_available, tflm_run

#: Skip a module (``pytestmark = requires_tflm``) or a test when the TFLM oracle is missing.
requires_tflm = pytest.mark.skipif(
    not tflm_available(), reason="TFLite Micro (pip install tflite-micro) is not installed"
)

#: Skip a test that runs images on an emulated Cortex-M when the cross compiler or QEMU is missing.
requires_arm_tools = pytest.mark.skipif(
    shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None,
    reason="arm-none-eabi-gcc and qemu-system-arm are needed (apt-get install gcc-arm-none-eabi "
    "libnewlib-arm-none-eabi qemu-system-arm)",
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


def behind_copies(model: bytes) -> bytes:
    """``model`` with each 4-D input and output passed through a 1x1 MAX_POOL_2D (an exact copy).

    The model's own operators then read and write arena tensors, which the
    planner may overlap (in-place kernels); the caller's buffers stay apart.
    """
    g = read_tflite(model)
    tensors = list(g.tensors)
    copy = dict(padding="VALID", stride_h=1, stride_w=1, filter_height=1, filter_width=1,
                fused_activation_function="NONE")

    def twin(t: int, suffix: str) -> int:
        tensors.append(replace(tensors[t], index=len(tensors), name=f"{tensors[t].name}_{suffix}"))
        return len(tensors) - 1

    before, after, inputs, outputs = [], [], [], []
    for t in g.inputs:
        outer = twin(t, "copied") if len(tensors[t].shape) == 4 else t
        if outer != t:
            before.append(("MAX_POOL_2D", [outer], [t]))
        inputs.append(outer)
    for t in g.outputs:
        outer = twin(t, "copy") if len(tensors[t].shape) == 4 else t
        if outer != t:
            after.append(("MAX_POOL_2D", [t], [outer]))
        outputs.append(outer)
    ops = [(o.opcode, o.inputs, o.outputs, o.options) for o in g.operators]
    ops = [(c, i, o, copy) for c, i, o in before] + ops + [(c, i, o, copy) for c, i, o in after]
    operators = [Operator(k, c, list(i), list(o), dict(opts)) for k, (c, i, o, opts) in enumerate(ops)]
    return write_tflite(Graph(name=g.name, tensors=tensors, operators=operators, inputs=inputs, outputs=outputs))


def run_on_board(
    compiled: utvm.CompiledModel, board: str, inputs: Sequence[np.ndarray], expected: Sequence[np.ndarray],
    work: Path,
) -> dict:
    """Build ``compiled`` as a standalone baremetal_cmsis image for ``board``, run it under QEMU, check it.

    The image holds ``inputs`` and compares its outputs with ``expected`` itself;
    every output must also be ``expected``'s, element for element. Returns the
    flash result (instructions, stack_used...).
    """
    from utvm.project import create_project

    np.savez(work / "x.npz", *inputs)
    np.savez(work / "y.npz", *expected)
    project = create_project(work / "p", compiled.export(work / "m.tar"), "baremetal_cmsis", board, {
        "project_type": "standalone", "inputs": work / "x.npz", "expected_outputs": work / "y.npz"})
    with project.connect() as client:
        client.build(project.path)
        run = client.flash(project.path)
    assert run["exit_status"] == 0 and run["status"] == "ok", run["output"][-2000:]
    assert len(run["outputs"]) == len(expected)
    for k, w in enumerate(expected):
        assert run["outputs"][k] == [int(v) for v in np.asarray(w).reshape(-1)], f"output {k}"
    return run


def merge_models(models: Sequence[bytes], name: str = "grid") -> bytes:
    """One model running the given single-subgraph models side by side (inputs and outputs concatenated)."""
    tensors, operators, inputs, outputs = [], [], [], []
    for k, data in enumerate(models):
        g = read_tflite(data, f"m{k}")
        base = len(tensors)

        def shift(ts: list[int]) -> list[int]:
            return [t + base if t >= 0 else t for t in ts]

        tensors += [replace(t, index=base + t.index, name=f"m{k}_{t.name}") for t in g.tensors]
        operators += [
            replace(op, index=len(operators) + j, inputs=shift(op.inputs), outputs=shift(op.outputs))
            for j, op in enumerate(g.operators)
        ]
        inputs += shift(g.inputs)
        outputs += shift(g.outputs)
    return write_tflite(Graph(name, tensors, operators, inputs, outputs))
