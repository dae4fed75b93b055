"""C code generation: the model header and source from lowered steps and a plan.

For a model NAME the header declares ``struct NAME_inputs`` / ``struct
NAME_outputs`` (one pointer per model input/output), macros for every I/O's
shape, size and quantization, and ``int32_t NAME_run(...)``; the source holds
the weights (const arrays in section ``.rodata.utvm_weights``), the arena (a
static array in ``.bss.utvm_arena``) and one kernel call per step.

Constant address space (target_info ``"const_address_space"``): on a target
whose plain ``const`` data is copied to RAM at startup (AVR: ``.rodata`` is
part of ``.data``), the platform asks for its constants in a named address
space, today only ``"__flash"``. A kernel declares which of its pointer
arguments and params fields it reads through that space by writing
``UTVM_CONST_AS`` in its header (``utvm/attributes.h`` maps it to ``__flash``
under avr-gcc's GNU C, to nothing elsewhere). The generated code then places
every constant that reaches the kernel through such a pointer in the space
(qualifier ``UTVM_CONST_AS``, section ``.progmem.utvm_weights``), and keeps
every other constant (for example a constant operand of ADD) as plain const
data, counted apart. Without ``const_address_space`` the output is unchanged.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from .errors import ModelError, UtvmError
from .ir import C_TYPES, Graph, Tensor
from .ops.base import ALIAS, ConstArray, KernelCall
from .planner import ARENA_ALIGNMENT, Plan

WEIGHTS_SECTION = ".rodata.utvm_weights"
ARENA_SECTION = ".bss.utvm_arena"

#: Constant address spaces a target may ask for (target_info "const_address_space"), with the
#: section their constants go to. On AVR, ``.progmem*`` sections sit in the low 64 KiB of flash,
#: where ``__flash`` pointers (LPM) read them.
CONST_ADDRESS_SPACES = {"__flash": ".progmem.utvm_weights"}
#: The qualifier kernels and generated code write for it (defined in utvm/attributes.h).
CONST_AS_MACRO = "UTVM_CONST_AS"
RUNTIME_INCLUDE = Path(__file__).resolve().parent / "runtime" / "include"


@dataclass
class IOSpec:
    """One model input or output as the generated API exposes it."""

    tensor: int
    field: str  # C struct field name
    macro: str  # macro prefix, e.g. KWS_INPUT_INPUT_1
    name: str
    shape: tuple[int, ...]
    dtype: str
    scale: float | None
    zero_point: int | None

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * np.dtype(self.dtype).itemsize


def c_identifier(name: str) -> str:
    ident = re.sub(r"[^A-Za-z0-9_]", "_", name).strip("_") or "t"
    return "t_" + ident if ident[0].isdigit() else ident


def io_specs(graph: Graph, model: str) -> tuple[list[IOSpec], list[IOSpec]]:
    used: set[str] = set()

    def spec(t: Tensor, kind: str) -> IOSpec:
        field = c_identifier(t.name).lower()
        base, n = field, 1
        while field in used:
            n += 1
            field = f"{base}_{n}"
        used.add(field)
        q = t.quant
        return IOSpec(
            tensor=t.index,
            field=field,
            macro=f"{model.upper()}_{kind}_{field.upper()}",
            name=t.name,
            shape=t.shape,
            dtype=t.dtype,
            scale=q.scalar_scale if q is not None else None,
            zero_point=q.scalar_zero_point if q is not None else None,
        )

    inputs = [spec(graph.tensors[i], "INPUT") for i in graph.inputs]
    outputs = [spec(graph.tensors[i], "OUTPUT") for i in graph.outputs]
    return inputs, outputs


def _c_scalar(value: object, ctype: str = "") -> str:
    if isinstance(value, (float, np.floating)) or ctype == "float":
        f = float(np.float32(value))
        if f != f or f in (float("inf"), float("-inf")):
            raise ValueError(f"non-finite float constant {f}")
        text = str(np.float32(f))  # shortest text that reads back as the same float32
        if "." not in text and "e" not in text:
            text += ".0"
        return text + "f"
    v = int(value)
    if v == -(1 << 31):
        return "(-2147483647 - 1)"
    if v < -(1 << 31) or v > (1 << 31) - 1:
        return f"{v}LL" if ctype != "uint64_t" else f"{v}ULL"
    return str(v)


def _c_array_body(data: np.ndarray, ctype: str) -> str:
    flat = np.asarray(data).reshape(-1)
    if ctype == "float":
        items = [_c_scalar(float(x), "float") for x in flat]
    elif ctype in ("int32_t", "int64_t"):
        items = [_c_scalar(int(x), ctype) for x in flat]
    else:
        items = [str(int(x)) for x in flat]
    per_line = 16
    lines = [", ".join(items[i : i + per_line]) for i in range(0, len(items), per_line)]
    return "{\n  " + ",\n  ".join(lines) + "\n}" if lines else "{0}"


@dataclass
class GeneratedModel:
    header: str
    source: str
    constants_bytes: int
    inputs: list[IOSpec]
    outputs: list[IOSpec]
    #: With a constant address space: its name, its section, and the bytes of constants left outside it.
    const_address_space: str | None = None
    constants_section: str = WEIGHTS_SECTION
    ram_constants_bytes: int = 0


@functools.lru_cache(maxsize=None)
def _runtime_header(header: str) -> str:
    """A runtime header's text without comments, followed by the utvm headers it includes (transitively)."""
    texts: list[str] = []
    pending, seen = [header], set()
    while pending:
        current = pending.pop(0)
        path = RUNTIME_INCLUDE / current
        if current in seen or not path.is_file():
            continue
        seen.add(current)
        text = re.sub(r"/\*.*?\*/|//[^\n]*", " ", path.read_text(), flags=re.S)
        texts.append(text)
        pending += re.findall(r'#\s*include\s+"(utvm/[^"]+)"', text)
    return "\n".join(texts)


@functools.lru_cache(maxsize=None)
def const_space_slots(header: str, function: str, params_type: str | None) -> tuple[frozenset, frozenset]:
    """Where kernel ``function`` reads constants through ``UTVM_CONST_AS`` pointers.

    Returns the positions among its tensor arguments (after the params pointer)
    and the names of the ``params_type`` fields declared with the qualifier, as
    its header (``utvm/...``, and the utvm headers that one includes) declares them.
    """
    text = _runtime_header(header)
    qualified = re.compile(rf"\b{CONST_AS_MACRO}\b")
    positions: set[int] = set()
    proto = re.search(rf"\b{re.escape(function)}\s*\(([^)]*)\)\s*;", text)
    if proto is not None:
        args = [a.strip() for a in proto.group(1).split(",")]
        if params_type is not None:
            args = args[1:]
        positions = {k for k, a in enumerate(args) if qualified.search(a)}
    fields: set[str] = set()
    if params_type is not None:
        struct = re.search(rf"typedef\s+struct\s*\w*\s*\{{([^{{}}]*)\}}\s*{re.escape(params_type)}\s*;", text, re.S)
        if struct is not None:
            for decl in struct.group(1).split(";"):
                field = re.search(r"(\w+)\s*(?:\[[^\]]*\]\s*)*$", decl.strip())
                if field is not None and qualified.search(decl):
                    fields.add(field.group(1))
    return frozenset(positions), frozenset(fields)


def generate(
    graph: Graph,
    steps: Sequence[tuple[object, object]],
    plan: Plan,
    name: str,
    const_address_space: str | None = None,
) -> GeneratedModel:
    """Emit ``NAME.h`` and ``NAME.c`` for the lowered ``steps`` placed by ``plan``.

    ``const_address_space`` (a target's ``const_address_space``, one of
    :data:`CONST_ADDRESS_SPACES`) puts the constants the kernels read through
    ``UTVM_CONST_AS`` pointers in that space (see the module's docstring).
    """
    space = const_address_space
    if space is not None and space not in CONST_ADDRESS_SPACES:
        raise UtvmError(
            f"the target asks for constants in address space {space!r}; utvm supports "
            f"{', '.join(sorted(CONST_ADDRESS_SPACES))}"
        )
    inputs, outputs = io_specs(graph, name)
    field_of_input = {s.tensor: s for s in inputs}
    field_of_output = {s.tensor: s for s in outputs}
    io_by_position = {("input", k): s for k, s in enumerate(inputs)}
    io_by_position.update({("output", k): s for k, s in enumerate(outputs)})

    const_names: dict[tuple[int, bool], str] = {}
    decls: list[str] = []
    constants_bytes = 0
    ram_constants_bytes = 0

    def const_array(cname: str, ctype: str, data: np.ndarray, in_space: bool = False) -> None:
        nonlocal constants_bytes, ram_constants_bytes
        size = max(int(np.asarray(data).size), 1)
        nbytes = int(np.asarray(data).size) * (4 if ctype == "float" else np.dtype(_np_of(ctype)).itemsize)
        constants_bytes += nbytes
        qual, section = "", WEIGHTS_SECTION
        if in_space:
            qual, section = f"{CONST_AS_MACRO} ", CONST_ADDRESS_SPACES[space]
        elif space is not None:
            ram_constants_bytes += nbytes
        decls.append(
            f"static const {qual}{ctype} {cname}[{size}] UTVM_SECTION(\"{section}\") UTVM_ALIGNED(16) = "
            f"{_c_array_body(data, ctype)};"
        )

    def pointer(t: int, const: bool, in_space: bool = False, what: str = "") -> str:
        if t < 0:
            return "NULL"
        tensor = graph.tensors[t]
        ctype = tensor.ctype
        qual = "const " if const else ""
        loc = plan.locations.get(t)
        if tensor.is_const or (loc is not None and loc.kind == "const"):
            key = (t, in_space)
            if key not in const_names:
                cname = f"{name}_c{t}"
                if (t, not in_space) in const_names:  # the same tensor also read through the other kind of pointer
                    cname += "_as" if in_space else "_ram"
                const_names[key] = cname
                const_array(cname, ctype, tensor.data, in_space)
            return const_names[key]
        if in_space:
            raise ModelError(
                f"{what} reads tensor {t} '{tensor.name}' from the constant address space {space} on this "
                "target, but that tensor is computed at run time; compile for a target without "
                "const_address_space"
            )
        if loc.kind == "arena":
            return f"({qual}{ctype} *)({name}_arena + {loc.index})"
        spec = io_by_position[(loc.kind, loc.index)]
        access = f"inputs->{spec.field}" if loc.kind == "input" else f"outputs->{spec.field}"
        if spec.dtype == tensor.dtype:
            return access
        return f"({qual}{ctype} *){access}"

    headers = {"utvm/attributes.h"}
    body: list[str] = []
    for pos, (op, call) in enumerate(steps):
        if call is ALIAS:
            continue
        assert isinstance(call, KernelCall)
        headers.add(call.header)
        args = []
        space_args: frozenset = frozenset()
        space_fields: frozenset = frozenset()
        if space is not None:
            space_args, space_fields = const_space_slots(call.header, call.function, call.params_type)
        if call.params_type is not None:
            pname = f"op{pos}_params"
            fields = []
            for key, value in call.params.items():
                if isinstance(value, ConstArray):
                    aname = f"{name}_op{pos}_{key}"
                    const_array(aname, value.ctype, value.data, key in space_fields)
                    fields.append(f".{key} = {aname}")
                elif isinstance(value, (tuple, list)):
                    fields.append(f".{key} = {{{', '.join(_c_scalar(v) for v in value)}}}")
                else:
                    fields.append(f".{key} = {_c_scalar(value)}")
            decls.append(f"static const {call.params_type} {pname} = {{\n  " + ",\n  ".join(fields) + "\n};")
            args.append(f"&{pname}")
        what = f"operator {op.index} ({op.opcode}, kernel {call.function})"
        input_args = [pointer(t, True, k in space_args, what) for k, t in enumerate(call.inputs)]
        body.append(f"  /* {op.index}: {op.opcode} */")
        if call.inputs_as_array:
            body.append(f"  {{\n    const void *const op{pos}_inputs[] = {{{', '.join(input_args)}}};")
            input_args = [f"op{pos}_inputs"]
        args += input_args + [pointer(t, False) for t in call.outputs]
        body.append(f"{'    ' if call.inputs_as_array else '  '}{call.function}({', '.join(args)});")
        if call.inputs_as_array:
            body.append("  }")

    for t in plan.output_copies:
        spec = field_of_output[t]
        src = pointer(t, True) if graph.tensors[t].is_const else f"inputs->{field_of_input[t].field}"
        body.append(f"  memcpy(outputs->{spec.field}, {src}, {spec.nbytes});")

    arena_offsets = {
        s.tensor: plan.locations[s.tensor].index
        for s in inputs + outputs
        if plan.io_in_arena and plan.locations[s.tensor].kind == "arena"
    }
    def arena_copy(s: IOSpec, kind: str) -> str:
        """Copy the caller's buffer into the arena place (an input) or out of it (an output), unless it is it."""
        slot, buffer = f"({name}_arena + {arena_offsets[s.tensor]})", f"{kind}->{s.field}"
        dst, src = (slot, buffer) if kind == "inputs" else (buffer, slot)
        return f"  if ((const void *){buffer} != (const void *){slot}) {{\n    memcpy({dst}, {src}, {s.nbytes});\n  }}"

    prologue = [arena_copy(s, "inputs") for s in inputs if s.tensor in arena_offsets]
    epilogue = [arena_copy(s, "outputs") for s in outputs if s.tensor in arena_offsets]
    body = prologue + body + epilogue

    storage = "" if plan.io_in_arena else "static "
    arena_decl = (
        f'{storage}uint8_t {name}_arena[{plan.arena_bytes}] UTVM_SECTION("{ARENA_SECTION}") '
        f"UTVM_ALIGNED({ARENA_ALIGNMENT});"
        if plan.arena_bytes
        else "/* No arena: every tensor lives in the caller's buffers or in constants. */"
    )
    header = _header(name, inputs, outputs, plan.arena_bytes, constants_bytes, arena_offsets)
    include_lines = "\n".join(f'#include "{h}"' for h in sorted(headers))
    if space is not None:
        include_lines += (
            f"\n\n#if defined(__AVR__) && !UTVM_CONST_AS_NAMED\n"
            f'#error "model {name} keeps its weights in {space} (program memory): compile it with avr-gcc '
            f'in GNU C (-std=gnu99 or -std=gnu11)"\n#endif\n'
        )
    checks = " || ".join(
        [f"inputs->{s.field} == NULL" for s in inputs] + [f"outputs->{s.field} == NULL" for s in outputs]
    )
    source = f"""/* Generated by utvm for model '{name}'. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

{include_lines}
#include "{name}.h"

{arena_decl}

{chr(10).join(decls)}

int32_t {name}_run(const struct {name}_inputs *inputs, struct {name}_outputs *outputs) {{
  if (inputs == NULL || outputs == NULL || {checks}) {{
    return -1;
  }}
{chr(10).join(body)}
  return 0;
}}
"""
    return GeneratedModel(
        header,
        source,
        constants_bytes,
        inputs,
        outputs,
        const_address_space=space,
        constants_section=CONST_ADDRESS_SPACES[space] if space is not None else WEIGHTS_SECTION,
        ram_constants_bytes=ram_constants_bytes,
    )


def _np_of(ctype: str) -> str:
    return {v: k for k, v in C_TYPES.items() if k != "bool"}[ctype]


def _header(
    name: str, inputs: list[IOSpec], outputs: list[IOSpec], arena: int, constants: int,
    arena_offsets: dict[int, int],
) -> str:
    guard = f"{name.upper()}_H"
    macros = [
        f"#define {name.upper()}_INPUT_COUNT {len(inputs)}",
        f"#define {name.upper()}_OUTPUT_COUNT {len(outputs)}",
        f"#define {name.upper()}_ARENA_BYTES {arena}",
        f"#define {name.upper()}_CONSTANTS_BYTES {constants}",
    ]
    for s in inputs + outputs:
        macros += [
            f"/* '{_comment_safe(s.name)}' */",
            f"#define {s.macro}_RANK {len(s.shape)}",
            f"#define {s.macro}_SHAPE {{{', '.join(str(d) for d in s.shape) or '1'}}}",
            f"#define {s.macro}_SIZE {int(np.prod(s.shape, dtype=np.int64))}",
            f"#define {s.macro}_BYTES {s.nbytes}",
            f"#define {s.macro}_DTYPE \"{s.dtype}\"",
        ]
        if s.scale is not None:
            macros += [
                f"#define {s.macro}_SCALE {_c_scalar(s.scale, 'float')}",
                f"#define {s.macro}_ZERO_POINT ({s.zero_point})",
            ]
        if s.tensor in arena_offsets:
            macros.append(f"#define {s.macro}_ARENA_OFFSET {arena_offsets[s.tensor]}")
    in_fields = "\n".join(f"  const {C_TYPES[s.dtype]} *{s.field};" for s in inputs)
    out_fields = "\n".join(f"  {C_TYPES[s.dtype]} *{s.field};" for s in outputs)
    return f"""/* Generated by utvm: the interface of model '{name}'. */
#ifndef {guard}
#define {guard}

#include <stdint.h>

#ifdef __cplusplus
extern "C" {{
#endif

{chr(10).join(macros)}

{_arena_io_comment(name) if arena_offsets else _caller_io_comment()}
struct {name}_inputs {{
{in_fields}
}};

struct {name}_outputs {{
{out_fields}
}};
{f"{chr(10)}extern uint8_t {name}_arena[{arena}];{chr(10)}" if arena_offsets else ""}
/* Run one inference. Returns 0, or -1 if a pointer is NULL. Not reentrant:
   the activations live in one static arena. */
int32_t {name}_run(const struct {name}_inputs *inputs, struct {name}_outputs *outputs);

#ifdef __cplusplus
}}
#endif

#endif /* {guard} */
"""


def _caller_io_comment() -> str:
    return "/* Pointers to the caller's input and output buffers; the model only reads the inputs. */"


def _arena_io_comment(name: str) -> str:
    return (
        f"/* The inputs and outputs are tensors of the arena, at {name}_arena + *_ARENA_OFFSET: point\n"
        "   these at them and nothing is copied (a run may then overwrite its inputs); other\n"
        "   buffers are copied in before the run and out after it. */"
    )


def _comment_safe(text: str) -> str:
    return text.replace("*/", "* /").replace("\n", " ")
