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
from typing import Callable, Sequence, Union

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


@dataclass(frozen=True)
class InPlace:
    """The output at position ``output`` may overlap the input at position ``input``.

    It may start ``lag`` bytes before that input (a multiple of 16; negative:
    after it) when the input is not read after this kernel: every byte the
    kernel writes then lies below every input byte it has still to read. With
    ``lag`` 0 the kernel reads each input element before it writes the output
    element at the same offset (element-wise kernels). core/ops/overlap.py
    computes the lag of windowed kernels from the order they work in.
    """

    input: int = 0
    output: int = 0
    lag: int = 0


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
    #: An input whose buffer the output may overlap (see :class:`InPlace`).
    inplace: InPlace | None = None
    #: Pass the inputs as one ``const void *const inputs[]`` argument instead of one
    #: argument each (kernels with a variable number of inputs, like CONCATENATION).
    inputs_as_array: bool = False


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


#: A variant rewrites the reference KernelCall of an op into an optimized one
#: (another function, reordered constants...), or returns None where it does not apply.
Variant = Callable[[Operator, Graph, KernelCall], Union[KernelCall, None]]

#: ISA features in order of preference: a variant for an earlier one wins.
FEATURE_PREFERENCE = ("mve", "dsp")

_VARIANTS: dict[str, list[tuple[str, str, Variant]]] = {}


def variant(opcode: str, feature: str, name: str) -> Callable[[Variant], Variant]:
    """Register the decorated function as the ``name`` variant of ``opcode`` for targets with ``feature``.

    Variants must give outputs bit-exact with the reference kernel; they live
    beside it, one file per ISA (kernels/dsp/, kernels/mve/).
    """
    if feature not in FEATURE_PREFERENCE:
        raise ValueError(f"unknown ISA feature {feature!r}; known: {FEATURE_PREFERENCE}")

    def register(fn: Variant) -> Variant:
        _VARIANTS.setdefault(opcode, []).append((feature, name, fn))
        return fn

    return register


def variants_of(opcode: str) -> list[tuple[str, str]]:
    """(feature, name) of every registered variant of ``opcode``."""
    return [(feature, name) for feature, name, _ in _VARIANTS.get(opcode, [])]


def lower(
    op: Operator, graph: Graph, features: Sequence[str] = (), choice: str | None = None
) -> KernelCall | _Alias:
    """Lower one operator, or raise ModelError naming it if it is not supported.

    With target ``features`` the best applicable variant replaces the reference
    kernel; ``choice`` forces one: ``"reference"`` or a variant name.
    """
    fn = _LOWERINGS.get(op.opcode)
    if fn is None:
        raise ModelError(
            f"unsupported operator: {graph.describe_op(op)}; "
            f"supported operators are {', '.join(supported_opcodes())}"
        )
    call = fn(op, graph)
    if not isinstance(call, KernelCall) or choice == "reference":
        return call
    candidates = [
        (FEATURE_PREFERENCE.index(feature), name, vfn)
        for feature, name, vfn in _VARIANTS.get(op.opcode, [])
        if feature in features and (choice is None or name == choice)
    ]
    for _, _, vfn in sorted(candidates, key=lambda c: c[0]):
        optimized = vfn(op, graph, call)
        if optimized is not None:
            return optimized
    return call


def unsupported(op: Operator, graph: Graph, what: str) -> ModelError:
    """A ModelError for an unsupported option or tensor of ``op``; raise it."""
    return ModelError(f"{what}: {graph.describe_op(op)}")
