"""The contract between operator lowerings and the C code generator.

Each supported TFLite operator has one *lowering*: a function registered with
:func:`lowering` that checks the operator's options and tensors and returns

* a :class:`KernelCall` (a call into a kernel of core/runtime/), or
* :data:`ALIAS` for operators that only reinterpret their input (RESHAPE,
  SQUEEZE): the output then shares the input's storage and no code is emitted.

A lowering raises :class:`~utvm.errors.ModelError` through :func:`unsupported`
for anything it cannot compile bit-exactly; the message names the operator,
its index and its tensors.

The generated call is ``function(&params, in0, in1, ..., out0, ...)`` (without
``&params`` when ``params_type`` is None). Tensor arguments are pointers of the
tensor's C type (``const`` for inputs); an absent optional input (index -1) is
passed as ``NULL``. Constant input tensors are emitted as const arrays in the
weights section.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Union

import numpy as np

from ..errors import ModelError
from ..ir import Graph, Operator


@dataclass
class ConstArray:
    """A compile-time array emitted as ``static const CTYPE name[] = {...}``.

    As a params field value the field receives a pointer to it.
    """

    ctype: str
    data: np.ndarray


#: The value of one params struct field: a scalar, a constant array (pointer
#: field), or a tuple of ints for a fixed-size array field inside the struct.
ParamValue = Union[int, float, ConstArray, tuple]


@dataclass
class KernelCall:
    """A call of a runtime kernel for one operator."""

    function: str
    inputs: list[int]
    outputs: list[int]
    header: str
    sources: list[str]
    params_type: str | None = None
    params: dict[str, ParamValue] = field(default_factory=dict)
    #: (input position, output position) whose buffers may be the same memory:
    #: the kernel reads each input element before it writes the output
    #: element at the same offset, and never reads an element after that.
    inplace: tuple[int, int] | None = None


class _Alias:
    """Marker: the operator's output is its first input, reinterpreted."""

    def __repr__(self) -> str:
        return "ALIAS"


ALIAS = _Alias()

Lowering = Callable[[Operator, Graph], Union[KernelCall, _Alias]]

_LOWERINGS: dict[str, Lowering] = {}


def lowering(*opcodes: str) -> Callable[[Lowering], Lowering]:
    """Register the decorated function as the lowering of the given opcodes."""

    def register(fn: Lowering) -> Lowering:
        for opcode in opcodes:
            if opcode in _LOWERINGS:
                raise RuntimeError(f"two lowerings for {opcode}")
            _LOWERINGS[opcode] = fn
        return fn

    return register


def supported_opcodes() -> list[str]:
    return sorted(_LOWERINGS)


def lower(op: Operator, graph: Graph) -> KernelCall | _Alias:
    """Lower one operator, or raise ModelError naming it if it is not supported."""
    fn = _LOWERINGS.get(op.opcode)
    if fn is None:
        raise ModelError(
            f"unsupported operator: {graph.describe_op(op)}; "
            f"supported operators are {', '.join(supported_opcodes())}"
        )
    return fn(op, graph)


def unsupported(op: Operator, graph: Graph, what: str) -> ModelError:
    """A ModelError for an unsupported option or tensor of ``op``; raise it."""
    return ModelError(f"{what}: {graph.describe_op(op)}")
