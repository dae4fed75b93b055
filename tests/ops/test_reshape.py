"""RESHAPE and SQUEEZE: zero-copy aliases, bit-exact with TFLite Micro.

The output shares its input's storage and no code is emitted, except where
input and output must live in different buffers (a model input reshaped
straight into a model output), which the compiler turns into a copy. Cases
cover RESHAPE with the new_shape option, with a shape tensor (and -1),
SQUEEZE with and without squeeze_dims, and reshapes between real operators
so the alias is exercised in the arena, in a model input and in a model
output.
"""

from __future__ import annotations

import numpy as np
import pytest

import utvm
import utvm.host
from utvm.frontend.model_builder import ModelBuilder
from utvm.reference import tflm_run

from .support import assert_same, check, compile_error, requires_tflm

pytestmark = requires_tflm

Q = {"scale": 0.05, "zero_point": -4}


def kernels(model: bytes) -> list[str]:
    return [op["kernel"] for op in utvm.compile(model).metadata["operators"]]


@pytest.mark.parametrize("dtype", ["int8", "float32", "int32"])
def test_reshape_new_shape_option(dtype: str) -> None:
    q = Q if dtype == "int8" else {}
    mb = ModelBuilder("reshape")
    x = mb.input("x", (1, 4, 4, 2), dtype, **q)
    y = mb.tensor("y", (1, 32), dtype, **q)
    mb.op("RESHAPE", [x], [y], new_shape=[1, 32])
    mb.output(y)
    check(mb.build(), [((1, 4, 4, 2), dtype)])


@pytest.mark.parametrize(
    "shape_values,options", [([6, 4], {"new_shape": [6, 4]}), ([-1, 4], {}), ([6, -1], {"new_shape": [6, -1]})]
)
def test_reshape_shape_tensor(shape_values, options) -> None:
    mb = ModelBuilder("reshape")
    x = mb.input("x", (2, 3, 4), "int8", **Q)
    s = mb.const("shape", np.array(shape_values, np.int32))
    y = mb.tensor("y", (6, 4), "int8", **Q)
    mb.op("RESHAPE", [x, s], [y], **options)
    mb.output(y)
    check(mb.build(), [((2, 3, 4), "int8")])


@pytest.mark.parametrize(
    "shape,squeeze_dims,out_shape",
    [
        ((1, 5, 1, 3), None, (5, 3)),  # every size-1 axis
        ((1, 5, 1, 3), [0, 2], (5, 3)),
        ((1, 5, 1, 3), [2], (1, 5, 3)),
        ((1, 5, 1, 3), [-2], (1, 5, 3)),  # negative axis
        ((1, 1, 1, 8), None, (8,)),
    ],
)
def test_squeeze(shape, squeeze_dims, out_shape) -> None:
    mb = ModelBuilder("squeeze")
    x = mb.input("x", shape, "int8", **Q)
    y = mb.tensor("y", out_shape, "int8", **Q)
    options = {"squeeze_dims": squeeze_dims} if squeeze_dims is not None else {}
    mb.op("SQUEEZE", [x], [y], **options)
    mb.output(y)
    check(mb.build(), [(shape, "int8")])


def test_reshape_between_two_ops_is_an_alias() -> None:
    """PAD -> RESHAPE -> TRANSPOSE: the reshaped tensor is the padded one, in the arena."""
    mb = ModelBuilder("chain")
    x = mb.input("x", (1, 3, 4, 2), "int8", **Q)
    pads = mb.const("pads", np.array([[0, 0], [1, 0], [0, 2], [0, 0]], np.int32))
    a = mb.tensor("a", (1, 4, 6, 2), "int8", **Q)
    b = mb.tensor("b", (4, 12), "int8", **Q)
    perm = mb.const("perm", np.array([1, 0], np.int32))
    y = mb.tensor("y", (12, 4), "int8", **Q)
    mb.op("PAD", [x, pads], [a])
    mb.op("RESHAPE", [a], [b], new_shape=[4, 12])
    mb.op("TRANSPOSE", [b, perm], [y])
    mb.output(y)
    model = mb.build()
    assert kernels(model) == ["utvm_pad", "alias", "utvm_transpose"]
    check(model, [((1, 3, 4, 2), "int8")])


def _io_alias_model() -> bytes:
    """SQUEEZE of the model input, TRANSPOSE, RESHAPE into the model output."""
    mb = ModelBuilder("io_alias")
    x = mb.input("x", (1, 5, 1, 3), "int8", **Q)
    a = mb.tensor("a", (5, 3), "int8", **Q)
    perm = mb.const("perm", np.array([1, 0], np.int32))
    b = mb.tensor("b", (3, 5), "int8", **Q)
    y = mb.tensor("y", (1, 15), "int8", **Q)
    mb.op("SQUEEZE", [x], [a])
    mb.op("TRANSPOSE", [a, perm], [b])
    mb.op("RESHAPE", [b], [y], new_shape=[1, 15])
    mb.output(y)
    return mb.build()


def _two_outputs_model() -> bytes:
    """A reshaped tensor that is a model output while the unreshaped one is another output."""
    mb = ModelBuilder("two_outputs")
    x = mb.input("x", (2, 3), "int8", **Q)
    pads = mb.const("pads", np.array([[1, 0], [0, 1]], np.int32))
    a = mb.tensor("a", (3, 4), "int8", **Q)
    y = mb.tensor("y", (12,), "int8", **Q)
    mb.op("PAD", [x, pads], [a])
    mb.op("RESHAPE", [a], [y], new_shape=[12])
    mb.output(a)
    mb.output(y)
    return mb.build()


def _input_to_output_model() -> bytes:
    """The model input reshaped straight into the model output: no kernel at all."""
    mb = ModelBuilder("passthrough")
    x = mb.input("x", (1, 4, 4, 2), "int8", **Q)
    y = mb.tensor("y", (1, 32), "int8", **Q)
    mb.op("RESHAPE", [x], [y], new_shape=[1, 32])
    mb.output(y)
    return mb.build()


def test_squeeze_of_model_input_and_reshape_into_model_output() -> None:
    """SQUEEZE reads the caller's input buffer; RESHAPE's output is the caller's output buffer."""
    model = _io_alias_model()
    assert kernels(model) == ["alias", "utvm_transpose", "alias"]
    check(model, [((1, 5, 1, 3), "int8")])


def test_reshape_output_and_intermediate_both_model_outputs() -> None:
    check(_two_outputs_model(), [((2, 3), "int8")])


@pytest.mark.parametrize(
    "make, shape",
    [(_io_alias_model, (1, 5, 1, 3)), (_two_outputs_model, (2, 3)), (_input_to_output_model, (1, 4, 4, 2))],
    ids=["io-alias", "two-outputs", "input-to-output"],
)
def test_aliases_with_io_in_the_arena(make, shape) -> None:
    """With the I/O in the arena an input, its aliases and the outputs share arena places, copied in and
    out of the caller's buffers."""
    model = make()
    compiled = utvm.compile(model, io_in_arena=True)
    assert all("arena_offset" in e for e in compiled.metadata["inputs"] + compiled.metadata["outputs"])
    x = np.random.default_rng(1).integers(-128, 128, size=shape).astype(np.int8)
    got = utvm.host.run(compiled, [x])
    want = tflm_run(model, [x])
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert_same(g, w)


def test_reshape_refuses_changed_element_count() -> None:
    mb = ModelBuilder("reshape")
    x = mb.input("x", (2, 3), "int8", **Q)
    y = mb.tensor("y", (7,), "int8", **Q)
    mb.op("RESHAPE", [x], [y], new_shape=[7])
    mb.output(y)
    compile_error(mb.build(), "RESHAPE")
