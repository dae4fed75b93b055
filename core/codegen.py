"""C code generation: the model header and source from lowered steps and a plan.

For a model NAME the header declares ``struct NAME_inputs`` / ``struct
NAME_outputs`` (one pointer per model input/output), macros for every I/O's
shape, size and quantization, and ``int32_t NAME_run(...)``; the source holds
the weights (const arrays in section ``.rodata.utvm_weights``), the arena (a
static array in ``.bss.utvm_arena``) and one kernel call per step.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .ir import C_TYPES, Graph, Tensor
from .ops.base import ALIAS, ConstArray, KernelCall
from .planner import ARENA_ALIGNMENT, Plan

WEIGHTS_SECTION = ".rodata.utvm_weights"
ARENA_SECTION = ".bss.utvm_arena"


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


def generate(graph: Graph, steps: Sequence[tuple[object, object]], plan: Plan, name: str) -> GeneratedModel:
    """Emit ``NAME.h`` and ``NAME.c`` for the lowered ``steps`` placed by ``plan``."""
    inputs, outputs = io_specs(graph, name)
    field_of_input = {s.tensor: s for s in inputs}
    field_of_output = {s.tensor: s for s in outputs}
    io_by_position = {("input", k): s for k, s in enumerate(inputs)}
    io_by_position.update({("output", k): s for k, s in enumerate(outputs)})

    const_names: dict[int, str] = {}
    decls: list[str] = []
    constants_bytes = 0

    def const_array(cname: str, ctype: str, data: np.ndarray) -> None:
        nonlocal constants_bytes
        size = max(int(np.asarray(data).size), 1)
        constants_bytes += int(np.asarray(data).size) * (4 if ctype == "float" else np.dtype(_np_of(ctype)).itemsize)
        decls.append(
            f"static const {ctype} {cname}[{size}] UTVM_SECTION(\"{WEIGHTS_SECTION}\") UTVM_ALIGNED(16) = "
            f"{_c_array_body(data, ctype)};"
        )

    def pointer(t: int, const: bool) -> str:
        if t < 0:
            return "NULL"
        tensor = graph.tensors[t]
        ctype = tensor.ctype
        qual = "const " if const else ""
        loc = plan.locations.get(t)
        if tensor.is_const or (loc is not None and loc.kind == "const"):
            if t not in const_names:
                const_names[t] = f"{name}_c{t}"
                const_array(const_names[t], ctype, tensor.data)
            return const_names[t]
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
        if call.params_type is not None:
            pname = f"op{pos}_params"
            fields = []
            for key, value in call.params.items():
                if isinstance(value, ConstArray):
                    aname = f"{name}_op{pos}_{key}"
                    const_array(aname, value.ctype, value.data)
                    fields.append(f".{key} = {aname}")
                elif isinstance(value, (tuple, list)):
                    fields.append(f".{key} = {{{', '.join(_c_scalar(v) for v in value)}}}")
                else:
                    fields.append(f".{key} = {_c_scalar(value)}")
            decls.append(f"static const {call.params_type} {pname} = {{\n  " + ",\n  ".join(fields) + "\n};")
            args.append(f"&{pname}")
        args += [pointer(t, True) for t in call.inputs]
        args += [pointer(t, False) for t in call.outputs]
        body.append(f"  /* {op.index}: {op.opcode} */")
        body.append(f"  {call.function}({', '.join(args)});")

    for t in plan.output_copies:
        spec = field_of_output[t]
        src = pointer(t, True) if graph.tensors[t].is_const else f"inputs->{field_of_input[t].field}"
        body.append(f"  memcpy(outputs->{spec.field}, {src}, {spec.nbytes});")

    arena_decl = (
        f'static uint8_t {name}_arena[{plan.arena_bytes}] UTVM_SECTION("{ARENA_SECTION}") UTVM_ALIGNED({ARENA_ALIGNMENT});'
        if plan.arena_bytes
        else "/* No arena: every tensor lives in the caller's buffers or in constants. */"
    )
    header = _header(name, inputs, outputs, plan.arena_bytes, constants_bytes)
    include_lines = "\n".join(f'#include "{h}"' for h in sorted(headers))
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
    return GeneratedModel(header, source, constants_bytes, inputs, outputs)


def _np_of(ctype: str) -> str:
    return {v: k for k, v in C_TYPES.items() if k != "bool"}[ctype]


def _header(name: str, inputs: list[IOSpec], outputs: list[IOSpec], arena: int, constants: int) -> str:
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

/* Pointers to the caller's input buffers; the model only reads them. */
struct {name}_inputs {{
{in_fields}
}};

/* Pointers to the caller's output buffers. */
struct {name}_outputs {{
{out_fields}
}};

/* Run one inference. Returns 0, or -1 if a pointer is NULL. Not reentrant:
   the activations live in one static arena. */
int32_t {name}_run(const struct {name}_inputs *inputs, struct {name}_outputs *outputs);

#ifdef __cplusplus
}}
#endif

#endif /* {guard} */
"""


def _comment_safe(text: str) -> str:
    return text.replace("*/", "* /").replace("\n", " ")
