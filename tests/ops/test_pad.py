"""PAD and PADV2: bit-exact with TFLite Micro on single-operator models.

TFLM copies the input values unchanged and pads int8 with the output zero
point (PADV2: its constant), other types with 0; cases cover ranks 1-5, the
image-style 4-D form, every axis padded alone, quantization that differs
between input and output, and the error paths.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pytest

from utvm.frontend.model_builder import ModelBuilder

from .support import check, compile_error, requires_tflm

pytestmark = requires_tflm


def quant(dtype: str, scale: float | None, zp: int) -> dict:
    return {"scale": scale, "zero_point": zp} if scale is not None else {}


def pad_model(
    shape: Sequence[int],
    paddings: Sequence[Sequence[int]],
    dtype: str = "int8",
    in_q: tuple[float | None, int] = (0.05, 5),
    out_q: tuple[float | None, int] | None = None,
    constant: float | int | None = None,
    opcode: str = "PAD",
) -> bytes:
    out_q = in_q if out_q is None else out_q
    out_shape = [n + b + a for n, (b, a) in zip(shape, paddings)]
    mb = ModelBuilder("pad")
    x = mb.input("x", shape, dtype, **quant(dtype, *in_q))
    p = mb.const("paddings", np.asarray(paddings, dtype=np.int32).reshape(len(shape), 2))
    ins = [x, p]
    if constant is not None:
        ins.append(mb.const("constant", np.asarray([constant], dtype=dtype).reshape(()), dtype, **quant(dtype, *out_q)))
    y = mb.tensor("y", out_shape, dtype, **quant(dtype, *out_q))
    mb.op(opcode, ins, [y])
    mb.output(y)
    return mb.build()


INT8_CASES = [
    # (shape, paddings, in (scale, zp), out (scale, zp))
    ((1, 3, 4, 2), [[0, 0], [1, 2], [2, 0], [0, 1]], (0.05, 5), None),
    ((1, 5, 5, 3), [[0, 0], [1, 1], [1, 1], [0, 0]], (0.1, -128), None),  # image style, zp -128
    ((1, 6, 7, 8), [[0, 0], [0, 1], [0, 1], [0, 0]], (0.02, 127), None),  # SAME-pad style, zp 127
    ((1, 4, 4, 3), [[0, 0], [0, 0], [0, 0], [3, 2]], (0.05, 0), None),  # channels only
    ((2, 2, 2, 3), [[1, 2], [0, 0], [0, 0], [0, 0]], (0.05, -7), None),  # batch only
    ((1, 2, 3, 17), [[0, 0], [2, 0], [0, 0], [0, 0]], (0.05, 9), None),  # rows only
    ((1, 2, 3, 1), [[0, 0], [0, 0], [1, 3], [0, 0]], (0.05, 9), None),  # columns only, 1 channel
    ((7,), [[3, 4]], (0.05, 1), None),
    ((3, 17), [[1, 0], [0, 5]], (0.05, -1), None),
    ((2, 3, 8), [[0, 1], [2, 2], [1, 0]], (0.05, 33), None),
    ((2, 1, 3, 2, 3), [[1, 0], [0, 1], [1, 1], [0, 2], [1, 0]], (0.05, -20), None),  # 5-D
    ((1, 1, 2, 1, 4), [[0, 0], [0, 0], [0, 0], [2, 1], [0, 0]], (0.05, 3), None),  # 5-D, one axis
    ((1, 4, 4, 3), [[0, 0], [0, 0], [0, 0], [0, 0]], (0.05, 5), None),  # no padding at all
    ((1, 1, 1, 1), [[0, 0], [5, 5], [3, 3], [0, 0]], (0.05, -100), None),  # mostly padding
    ((3, 3), [[4, 4], [4, 4]], (0.05, 0), None),
    ((1, 3, 3, 2), [[0, 0], [1, 1], [1, 1], [0, 0]], (0.05, 5), (0.2, -9)),  # TFLM does not requantize
    ((1, 3, 3, 2), [[0, 0], [1, 1], [1, 1], [0, 0]], (None, 0), (None, 0)),  # unquantized int8
]


@pytest.mark.parametrize("shape,paddings,in_q,out_q", INT8_CASES, ids=[f"i8-{i}" for i in range(len(INT8_CASES))])
def test_pad_int8(shape, paddings, in_q, out_q) -> None:
    check(pad_model(shape, paddings, "int8", in_q, out_q), [(shape, "int8")], seed=len(shape))


OTHER_TYPE_CASES = [
    ("int16", (1, 3, 3, 2), [[0, 0], [1, 2], [0, 1], [0, 0]], (0.01, 0)),
    ("int16", (2, 5), [[1, 1], [2, 0]], (None, 0)),
    ("int32", (1, 3, 3, 2), [[0, 0], [2, 1], [1, 1], [1, 0]], (None, 0)),
    ("float32", (1, 3, 3, 2), [[0, 0], [1, 1], [1, 1], [0, 0]], (None, 0)),
    ("float32", (2, 3, 1, 2, 2), [[0, 1], [1, 0], [0, 0], [1, 1], [2, 0]], (None, 0)),
]


@pytest.mark.parametrize(
    "dtype,shape,paddings,q", OTHER_TYPE_CASES, ids=[c[0] + f"-{i}" for i, c in enumerate(OTHER_TYPE_CASES)]
)
def test_pad_other_types(dtype, shape, paddings, q) -> None:
    check(pad_model(shape, paddings, dtype, q), [(shape, dtype)], seed=3)


PADV2_CASES = [
    ("PADV2", "int8", 42, (0.05, 5)),
    ("PADV2", "int8", -128, (0.05, -128)),
    ("PAD", "int8", 17, (0.05, 5)),  # TFLM's PAD takes the optional third input too
    ("PADV2", "int16", -1234, (None, 0)),
    ("PADV2", "int32", 123456789, (None, 0)),
    ("PADV2", "float32", -1.5, (None, 0)),
]


@pytest.mark.parametrize("opcode,dtype,constant,q", PADV2_CASES, ids=[f"{c[0]}-{c[1]}-{c[2]}" for c in PADV2_CASES])
def test_pad_constant_values(opcode, dtype, constant, q) -> None:
    shape, paddings = (1, 3, 4, 2), [[0, 0], [1, 2], [2, 1], [1, 0]]
    check(pad_model(shape, paddings, dtype, q, constant=constant, opcode=opcode), [(shape, dtype)], seed=5)


def test_pad_feeds_and_follows_other_ops() -> None:
    """PAD -> PAD -> TRANSPOSE: the intermediate tensors live in the arena."""
    mb = ModelBuilder("chain")
    x = mb.input("x", (1, 3, 3, 2), "int8", scale=0.05, zero_point=2)
    p1 = mb.const("p1", np.array([[0, 0], [1, 1], [1, 1], [0, 0]], np.int32))
    p2 = mb.const("p2", np.array([[0, 0], [0, 0], [0, 0], [1, 2]], np.int32))
    perm = mb.const("perm", np.array([0, 3, 1, 2], np.int32))
    a = mb.tensor("a", (1, 5, 5, 2), "int8", scale=0.05, zero_point=2)
    b = mb.tensor("b", (1, 5, 5, 5), "int8", scale=0.05, zero_point=-4)
    y = mb.tensor("y", (1, 5, 5, 5), "int8", scale=0.05, zero_point=-4)
    mb.op("PAD", [x, p1], [a])
    mb.op("PAD", [a, p2], [b])
    mb.op("TRANSPOSE", [b, perm], [y])
    mb.output(y)
    check(mb.build(), [((1, 3, 3, 2), "int8")])


# --------------------------------------------------------------------------- refused models


def test_pad_refuses_runtime_paddings() -> None:
    mb = ModelBuilder("pad")
    x = mb.input("x", (1, 2, 2, 1), "int8", scale=0.1, zero_point=0)
    p = mb.input("p", (4, 2), "int32")
    y = mb.tensor("y", (1, 4, 4, 1), "int8", scale=0.1, zero_point=0)
    mb.op("PAD", [x, p], [y])
    mb.output(y)
    msg = compile_error(mb.build(), "PAD")
    assert "constant" in msg


#: (what, input shape, paddings, paddings dtype, output shape, dtype, zero point, a word the message must hold)
PAD_REFUSALS = [
    ("negative", (1, 4, 4, 1), [[0, 0], [-1, 0], [0, 0], [0, 0]], np.int32, (1, 3, 4, 1), "int8", 0, None),
    ("int64", (1, 2, 2, 1), [[0, 0], [1, 1], [1, 1], [0, 0]], np.int64, (1, 4, 4, 1), "int8", 0, "int32"),
    ("six-dims", (1, 1, 2, 1, 2, 1), [[0, 0]] * 5 + [[1, 1]], np.int32, (1, 1, 2, 1, 2, 3), "int8", 0, None),
    ("output-shape", (1, 2, 2, 1), [[0, 0], [1, 1], [1, 1], [0, 0]], np.int32, (1, 4, 5, 1), "int8", 0, None),
    ("uint8", (1, 2, 2, 1), [[0, 0], [1, 1], [1, 1], [0, 0]], np.int32, (1, 4, 4, 1), "uint8", 128, "uint8"),
]


@pytest.mark.parametrize("what,shape,paddings,pdtype,out_shape,dtype,zp,word", PAD_REFUSALS,
                         ids=[r[0] for r in PAD_REFUSALS])
def test_pad_refuses(what, shape, paddings, pdtype, out_shape, dtype, zp, word) -> None:
    mb = ModelBuilder("pad")
    x = mb.input("x", shape, dtype, scale=0.1, zero_point=zp)
    p = mb.const("p", np.array(paddings, pdtype))
    y = mb.tensor("y", out_shape, dtype, scale=0.1, zero_point=zp)
    mb.op("PAD", [x, p], [y])
    mb.output(y)
    msg = compile_error(mb.build(), "PAD")
    assert word is None or word in msg


def test_padv2_refuses_constant_with_other_quantization() -> None:
    mb = ModelBuilder("pad")
    x = mb.input("x", (1, 2, 2, 1), "int8", scale=0.1, zero_point=0)
    p = mb.const("p", np.array([[0, 0], [1, 1], [1, 1], [0, 0]], np.int32))
    c = mb.const("c", np.array(3, np.int8), scale=0.2, zero_point=0)
    y = mb.tensor("y", (1, 4, 4, 1), "int8", scale=0.1, zero_point=0)
    mb.op("PADV2", [x, p, c], [y])
    mb.output(y)
    msg = compile_error(mb.build(), "PADV2")
    assert "quantization" in msg


def test_padv2_refuses_runtime_constant() -> None:
    mb = ModelBuilder("pad")
    x = mb.input("x", (1, 2, 2, 1), "float32")
    c = mb.input("c", (), "float32")
    p = mb.const("p", np.array([[0, 0], [1, 1], [1, 1], [0, 0]], np.int32))
    y = mb.tensor("y", (1, 4, 4, 1), "float32")
    mb.op("PADV2", [x, p, c], [y])
    mb.output(y)
    compile_error(mb.build(), "PADV2")
