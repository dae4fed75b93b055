"""The compiler driver: .tflite bytes in, a :class:`CompiledModel` out.

``compile()`` reads the model, runs the graph passes, lowers every operator,
plans memory and generates C. Nothing is written to disk until
:meth:`CompiledModel.export`, so a model that fails to compile leaves no file.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Union

from . import __version__
from .codegen import ARENA_SECTION, WEIGHTS_SECTION, generate
from .errors import ModelError, UtvmError
from .frontend.tflite_reader import read_tflite
from .ir import Graph
from .ops import KernelCall, lower
from .passes import run_passes
from .planner import ARENA_ALIGNMENT, alias_conflicts, plan_memory
from .target import TargetSpec, resolve_target

ModelSource = Union[str, os.PathLike, bytes, bytearray]

#: The kernel that replaces an alias whose input and output cannot share storage.
COPY_KERNEL = ("utvm_copy", "utvm/kernels/copy.h", "kernels/copy.c")


@dataclass
class CompiledModel:
    """Generated C for one model, with its metadata (the MLF ``metadata.json``).

    ``files`` maps paths inside a Model Library Format archive to their text.
    """

    name: str
    metadata: dict[str, Any]
    files: dict[str, str]
    graph: Graph | None = field(repr=False)

    @property
    def source_path(self) -> str:
        return self.metadata["files"]["source"]

    @property
    def header_path(self) -> str:
        return self.metadata["files"]["header"]

    def export(self, path: str | os.PathLike, force: bool = False) -> Path:
        """Write this model as a Model Library Format .tar at ``path``."""
        from .mlf import write_mlf

        return write_mlf(self, Path(path), force=force)


def load_model_bytes(model: ModelSource) -> tuple[bytes, str]:
    """The bytes of a model given as a path or as bytes, and a default name."""
    if isinstance(model, (bytes, bytearray)):
        return bytes(model), "model"
    path = Path(model)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UtvmError(f"model file not found: {path}") from None
    except IsADirectoryError:
        raise UtvmError(f"model path is a directory, not a .tflite file: {path}") from None
    except OSError as exc:
        raise UtvmError(f"cannot read model {path}: {exc.strerror}") from None
    return data, c_name_from_path(path)


def c_name_from_path(path: Path) -> str:
    name = re.sub(r"[^A-Za-z0-9_]", "_", path.stem).lower() or "model"
    return "m_" + name if name[0].isdigit() else name


def check_model_name(name: str) -> None:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,62}", name):
        raise UtvmError(
            f"model name {name!r} is not a C identifier: use letters, digits and '_', not starting with a digit"
        )


def compile(
    model: ModelSource,
    name: str | None = None,
    target: TargetSpec = "host",
    kernels: Mapping[int, str] | None = None,
    io_in_arena: bool = False,
) -> CompiledModel:
    """Compile a .tflite model (a path or its bytes) to C.

    ``target`` is ``"host"`` or a platform's ``target_info`` answer for a board
    (see :mod:`utvm.target`). ``kernels`` maps an operator index to the kernel
    it must use (``"reference"`` or a variant name, as ``utvm tune`` records);
    other operators get the best variant for the target's features. With
    ``io_in_arena`` the model's inputs and outputs are tensors of its arena,
    whose bytes serve other tensors while they are not alive (TFLite Micro's
    way: less RAM, and a run may overwrite its inputs); the metadata gives
    their ``arena_offset``. Raises
    ModelError for a malformed model or an unsupported operator, naming the
    operator, its index and its tensors.
    """
    data, default_name = load_model_bytes(model)
    name = name or default_name
    check_model_name(name)
    resolved = resolve_target(target)
    graph = run_passes(read_tflite(data, name))
    kernels = dict(kernels or {})
    steps = [(op, _lower_checked(op, graph, resolved.features, kernels.get(op.index))) for op in graph.operators]
    for pos in alias_conflicts(graph, steps, io_in_arena):
        steps[pos] = (steps[pos][0], _copy_call(steps[pos][0], graph))
    plan = plan_memory(graph, steps, io_in_arena)
    gen = generate(graph, steps, plan, name, const_address_space=resolved.info.get("const_address_space"))

    runtime_sources = sorted({s for _, call in steps if isinstance(call, KernelCall) for s in call.sources})
    src_path = f"codegen/host/src/{name}.c"
    hdr_path = f"codegen/host/include/{name}.h"

    in_place = {dst: lag for _, dst, lag in plan.links}

    def io_entry(spec: Any) -> dict[str, Any]:
        loc = plan.locations[spec.tensor]
        return {
            **({"arena_offset": loc.index} if io_in_arena and loc.kind == "arena" else {}),
            "name": spec.name,
            "c_name": spec.field,
            "shape": list(spec.shape),
            "dtype": spec.dtype,
            "scale": spec.scale,
            "zero_point": spec.zero_point,
            "bytes": spec.nbytes,
        }

    metadata = {
        "version": 1,
        "generator": f"utvm {__version__}",
        "model": name,
        "target": resolved.to_json(),
        "inputs": [io_entry(s) for s in gen.inputs],
        "outputs": [io_entry(s) for s in gen.outputs],
        "memory": {
            "arena_bytes": plan.arena_bytes,
            "arena_alignment": ARENA_ALIGNMENT,
            "arena_section": ARENA_SECTION,
            "io": "arena" if io_in_arena else "caller",
            "constants_bytes": gen.constants_bytes,
            "constants_section": gen.constants_section,
            # With a constant address space (target_info "const_address_space"), the constants
            # left outside it stay in WEIGHTS_SECTION (RAM on AVR).
            **(
                {"const_address_space": gen.const_address_space, "ram_constants_bytes": gen.ram_constants_bytes,
                 "ram_constants_section": WEIGHTS_SECTION}
                if gen.const_address_space
                else {}
            ),
        },
        "operators": [
            {
                "index": op.index,
                "opcode": op.opcode,
                "kernel": call.function if isinstance(call, KernelCall) else "alias",
                **({"in_place_lag": in_place[op.outputs[0]]} if op.outputs and op.outputs[0] in in_place else {}),
            }
            for op, call in steps
        ],
        "runtime_sources": runtime_sources,
        "files": {"source": src_path, "header": hdr_path, "graph": "src/graph.json"},
    }
    files = {src_path: gen.source, hdr_path: gen.header, "src/graph.json": graph_json(graph)}
    return CompiledModel(name=name, metadata=metadata, files=files, graph=graph)


def _lower_checked(op: Any, graph: Graph, features: tuple[str, ...], choice: str | None) -> object:
    try:
        return lower(op, graph, features, choice)
    except ModelError:
        raise
    except Exception as exc:  # a lowering tripped over inconsistent operands
        raise ModelError(f"cannot compile {graph.describe_op(op)}: {type(exc).__name__}: {exc}") from None


def _copy_call(op: Any, graph: Graph) -> KernelCall:
    function, header, source = COPY_KERNEL
    return KernelCall(
        function=function,
        inputs=[op.inputs[0]],
        outputs=[op.outputs[0]],
        header=header,
        sources=[source],
        params_type="utvm_copy_params",
        params={"bytes": graph.tensors[op.outputs[0]].nbytes},
    )


def graph_json(graph: Graph) -> str:
    """The graph without constant data, as JSON (shapes, dtypes, quantization, operators)."""

    def quant(t: Any) -> Any:
        if t.quant is None:
            return None
        return {
            "scale": [float(s) for s in t.quant.scale],
            "zero_point": [int(z) for z in t.quant.zero_point],
            "axis": t.quant.axis,
        }

    doc = {
        "name": graph.name,
        "inputs": graph.inputs,
        "outputs": graph.outputs,
        "tensors": [
            {
                "index": t.index,
                "name": t.name,
                "shape": list(t.shape),
                "dtype": t.dtype,
                "constant": t.is_const,
                "quantization": quant(t),
            }
            for t in graph.tensors
        ],
        "operators": [
            {"index": op.index, "opcode": op.opcode, "inputs": op.inputs, "outputs": op.outputs, "options": op.options}
            for op in graph.operators
        ],
    }
    return json.dumps(doc, indent=1, default=str)
