"""ADD, SUB and MUL: bit-exact with TFLite Micro on single-operator (and tiny) models.

Each case builds a model, compiles it, builds the host runner once and
compares its outputs with TFLite Micro's interpreter on several random inputs.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pytest

from utvm.ops.base import InPlace
from utvm.frontend.model_builder import ModelBuilder

from .support import check, compile_error, random_tensor, requires_tflm

pytestmark = requires_tflm

ACTS = ["NONE", "RELU", "RELU6", "RELU_N1_TO_1"]


@dataclass(frozen=True)
class Case:
    opcode: str = "ADD"
    shape1: tuple = (1, 4, 4, 8)
    shape2: tuple = (1, 4, 4, 8)
    act: str = "NONE"
    dtype: str = "int8"
    s1: float = 0.05
    s2: float = 0.03
    so: float = 0.07
    z1: int = 3
    z2: int = -7
    zo: int = 1
    const2: bool = False  # the second input is a constant tensor
    seed: int = 0
    out: tuple | None = None  # the output shape if not the broadcast of the inputs'

    @property
    def out_shape(self) -> tuple:
        if self.out is not None:
            return self.out
        return tuple(np.broadcast_shapes(self.shape1, self.shape2))

    def id(self) -> str:
        s = (
            f"{self.opcode}-{self.dtype}-{'x'.join(map(str, self.shape1)) or 'scalar'}"
            f"+{'x'.join(map(str, self.shape2)) or 'scalar'}-{self.act}"
            f"-s{self.s1:g},{self.s2:g},{self.so:g}-zp{self.z1},{self.z2},{self.zo}"
        )
        return s + ("-const" if self.const2 else "")


def build(case: Case) -> bytes:
    mb = ModelBuilder("eltwise_test")
    a = mb.input("a", case.shape1, case.dtype, scale=case.s1, zero_point=case.z1)
    if case.const2:
        data = random_tensor(np.random.default_rng(case.seed + 99), case.shape2, case.dtype)
        b = mb.const("b", data, scale=case.s2, zero_point=case.z2)
    else:
        b = mb.input("b", case.shape2, case.dtype, scale=case.s2, zero_point=case.z2)
    y = mb.tensor("y", case.out_shape, case.dtype, scale=case.so, zero_point=case.zo)
    mb.op(case.opcode, [a, b], [y], fused_activation_function=case.act)
    mb.output(y)
    return mb.build()


def check_case(case: Case) -> None:
    inputs = [(case.shape1, case.dtype)] + ([] if case.const2 else [(case.shape2, case.dtype)])
    check(build(case), inputs, seed=case.seed, name="eltwise_test")


A = Case()
S = Case(opcode="SUB")
M = Case(opcode="MUL", so=0.002)  # products of two ~[-6, 6] reals

CASES = [
    # every op x every fused activation, same shapes
    *[replace(base, act=act, seed=i) for base in (A, S, M) for i, act in enumerate(ACTS)],
    # same-shape ranks 1..6 and a scalar
    *[
        replace(base, shape1=shape, shape2=shape, act=ACTS[i % 4], seed=10 + i)
        for base in (A, S, M)
        for i, shape in enumerate([(17,), (3, 5), (2, 3, 7), (1, 2, 3, 4, 5), (2, 1, 3, 2, 2, 3), ()])
        if not (base is S and len(shape) in (1, 6))
    ],
    # broadcasting patterns
    *[
        replace(base, shape1=s1, shape2=s2, act=ACTS[i % 4], seed=30 + i)
        for i, (s1, s2) in enumerate(
            [
                ((1, 4, 4, 8), (8,)),  # per-channel vector
                ((1, 4, 4, 8), (1, 1, 1, 8)),
                ((8,), (1, 4, 4, 8)),  # first input broadcast
                ((1, 4, 4, 8), ()),  # scalar
                ((), (2, 3)),
                ((2, 3, 4), (3, 1)),  # broadcast in the middle and the inner dimension
                ((4, 1, 3), (1, 5, 1)),  # both inputs broadcast
                ((1, 4), (4,)),  # equal after extension: no broadcast
                ((2, 1, 3, 1, 2, 1), (1, 4, 1, 3, 1, 5)),  # rank 6, alternating
                ((3, 1, 1, 5), (1, 2, 2, 1)),
                ((2, 3, 1, 4, 1), (3, 5, 4, 6)),  # rank 5 against rank 4
            ]
        )
        for base in (A, S, M)
        if not (base is S and i % 3 == 1)
    ],
    # a constant operand
    replace(A, shape2=(8,), const2=True, act="RELU"),
    replace(S, shape2=(1, 4, 4, 8), const2=True),
    replace(M, shape2=(), const2=True, act="RELU6"),
    replace(M, shape1=(2, 5, 3), shape2=(5, 1), const2=True),
    # zero points at the ends of the range
    replace(A, z1=-128, z2=127, zo=-128, act="RELU"),
    replace(A, z1=127, z2=-128, zo=127),
    replace(S, z1=-128, z2=-128, zo=127, act="RELU6"),
    replace(M, z1=-128, z2=127, zo=-128),
    replace(M, z1=127, z2=127, zo=0, act="RELU_N1_TO_1"),
    # scales: far apart, equal, output multiplier close to the ADD/SUB limit
    replace(A, s1=1e-3, s2=10.0, so=5.0),
    replace(A, s1=0.02, s2=0.02, so=0.02, act="RELU6"),
    replace(A, s1=1.0, s2=1.0, so=1.01 / 2**19),  # output multiplier 0.99, just below one
    replace(A, s1=0.5, s2=1e-11, so=0.4),  # second input multiplier flushes to 0
    replace(S, s1=10.0, s2=1e-3, so=5.0),
    replace(S, s1=0.1, s2=0.3, so=3e-6, act="RELU"),
    replace(S, s1=0.1, s2=0.1, so=0.1),
    replace(M, s1=0.5, s2=0.5, so=0.001),  # multiplier > 1 (250)
    replace(M, s1=1.0, s2=1.0, so=1.0 / 3),  # multiplier 3
    replace(M, s1=1e-3, s2=1e-3, so=1.0),  # tiny multiplier
    replace(M, s1=1e-6, s2=1e-6, so=1e3),  # multiplier below 2**-31: flushed to zero
    replace(M, s1=0.05, s2=0.05, so=0.05, act="RELU"),
    # int16
    replace(A, dtype="int16", z1=0, z2=0, zo=0, s1=1e-3, s2=2e-3, so=3e-3),
    replace(A, dtype="int16", z1=100, z2=-3000, zo=5, s1=1e-3, s2=2e-3, so=3e-3, act="RELU", shape2=(8,)),
    replace(S, dtype="int16", z1=0, z2=0, zo=0, s1=1e-3, s2=2e-3, so=3e-3, act="RELU6"),
    replace(S, dtype="int16", z1=-7, z2=9, zo=-11, s1=4e-3, s2=1e-3, so=1e-3, shape1=(4, 1, 8)),
    replace(M, dtype="int16", z1=0, z2=0, zo=0, s1=1e-3, s2=1e-3, so=2e-2),
    replace(M, dtype="int16", z1=0, z2=0, zo=0, s1=1e-3, s2=1e-3, so=1e-6, act="RELU", shape2=(1, 1, 4, 1)),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id() for c in CASES])
def test_elementwise_matches_tflm(case: Case) -> None:
    check_case(case)


def test_same_tensor_twice() -> None:
    """x + x, x - x and x * x read one buffer through both inputs."""
    for opcode, so in (("ADD", 0.1), ("SUB", 0.01), ("MUL", 0.5)):
        mb = ModelBuilder("eltwise_test")
        x = mb.input("x", (2, 9), "int8", scale=0.05, zero_point=-4)
        y = mb.tensor("y", (2, 9), "int8", scale=so, zero_point=2)
        mb.op(opcode, [x, x], [y], fused_activation_function="NONE")
        mb.output(y)
        check(mb.build(), [((2, 9), "int8")], name="eltwise_test")


def test_chain_of_elementwise_ops() -> None:
    """A chain where each output can overwrite its input (in-place candidates)."""
    mb = ModelBuilder("eltwise_test")
    x = mb.input("x", (1, 6, 6, 4), "int8", scale=0.04, zero_point=-10)
    z = mb.input("z", (1, 6, 6, 4), "int8", scale=0.06, zero_point=12)
    c = mb.const("c", np.arange(-2, 2, dtype=np.int8) * 30, scale=0.02, zero_point=0)
    t1 = mb.tensor("t1", (1, 6, 6, 4), "int8", scale=0.05, zero_point=-5)
    t2 = mb.tensor("t2", (1, 6, 6, 4), "int8", scale=0.05, zero_point=3)
    t3 = mb.tensor("t3", (1, 6, 6, 4), "int8", scale=0.01, zero_point=-20)
    y = mb.tensor("y", (1, 6, 6, 4), "int8", scale=0.08, zero_point=0)
    mb.op("ADD", [x, c], [t1], fused_activation_function="RELU")
    mb.op("MUL", [t1, z], [t2], fused_activation_function="NONE")
    mb.op("SUB", [c, t2], [t3], fused_activation_function="RELU6")
    mb.op("ADD", [t3, t1], [y], fused_activation_function="NONE")
    mb.output(y)
    check(mb.build(), [((1, 6, 6, 4), "int8")] * 2, name="eltwise_test")


def test_lowering_marks_inplace() -> None:
    from utvm.frontend.tflite_reader import read_tflite
    from utvm.ops import lower

    g = read_tflite(build(replace(A, shape1=(8,), shape2=(1, 4, 4, 8))))
    assert lower(g.operators[0], g).inplace == InPlace(input=1)
    g = read_tflite(build(replace(M, shape2=(8,))))
    assert lower(g.operators[0], g).inplace == InPlace()
    g = read_tflite(build(replace(S, shape1=(4, 1, 3), shape2=(1, 5, 1))))
    assert lower(g.operators[0], g).inplace is None


# --------------------------------------------------------------------------- refusals


def _refused(case: Case, *fragments: str) -> None:
    msg = compile_error(build(case), case.opcode)
    for f in fragments:
        assert f in msg


@pytest.mark.parametrize("opcode", ["ADD", "SUB", "MUL"])
def test_float32_is_refused(opcode: str) -> None:
    mb = ModelBuilder("eltwise_test")
    a = mb.input("a", (4,), "float32")
    b = mb.input("b", (4,), "float32")
    y = mb.tensor("y", (4,), "float32")
    mb.op(opcode, [a, b], [y], fused_activation_function="NONE")
    mb.output(y)
    compile_error(mb.build(), opcode)


def test_refusals() -> None:
    _refused(replace(A, s1=1.0, s2=1.0, so=1.0 / 2**20), "multiplier")  # output multiplier >= 1: TFLM aborts
    _refused(replace(S, s1=1.0, s2=0.5, so=1e-7), "multiplier")
    _refused(replace(M, dtype="int16", z1=3, z2=0, zo=0), "zero point")
    _refused(replace(A, act="TANH"), "TANH")
    _refused(replace(A, shape1=(2, 3), shape2=(3, 2), out=(2, 3)), "broadcast")
    _refused(replace(M, shape1=(2, 4), shape2=(4,), out=(8,)), "output shape")
    _refused(replace(M, shape1=(1, 1, 1, 1, 1, 1, 2), shape2=(2,)), "rank")


def test_mixed_types_are_refused() -> None:
    mb = ModelBuilder("eltwise_test")
    a = mb.input("a", (4,), "int8", scale=0.1, zero_point=0)
    b = mb.input("b", (4,), "int16", scale=0.1, zero_point=0)
    y = mb.tensor("y", (4,), "int8", scale=0.1, zero_point=0)
    mb.op("ADD", [a, b], [y], fused_activation_function="NONE")
    mb.output(y)
    compile_error(mb.build(), "ADD")
