"""generate_project for Arduino: a sketch folder for any board of any installed core.

```
PROJECT/
  NAME/NAME.ino                 setup()/loop(): the RPC server (host_driven) or one run (standalone)
  NAME/src/utvm_arduino.h       the sketch's side of utvm (platform layer API)
  NAME/src/utvm_platform.cpp    utvm/rpc/platform.h over Serial; timer: Timer1 cycles (AVR) or micros()
  NAME/src/utvm_sketch_config.h baud rate, board name
  NAME/src/model/...            the model, the runtime sources it needs, the RPC glue (utvm.project_files)
  NAME/sketch.yaml              arduino-cli's default FQBN for the sketch
  Makefile                      make / make upload PORT=... / make emulate / make size: no utvm needed
  tools/utvm_simavr.c           the simavr harness (AVR), built by `make emulate` with the host cc
  arduino-project.json          what build, flash and open_transport need later
  model/metadata.json           the model's description (utvm run reads it)
  build/                        the build's output (NAME.ino.elf, NAME.ino.hex)
```

The sketch's compile flags (the runtime's include folders, the RPC buffer size, and, only where
the core's C++ compiler needs it, the DECIMAL_DIG workaround) go to the Arduino build as the
``compiler.c.extra_flags`` / ``compiler.cpp.extra_flags`` properties, which every core's recipes
include and which arduino-cli (``--build-property``) and arduino-builder (``-prefs``) both set.

Before anything is written, the model is checked against the board's limits
(``upload.maximum_size`` and ``upload.maximum_data_size``) with the parts of the image counted
apart, and refused with the numbers (:class:`DoesNotFit`); after the build the real section sizes
are checked again (server.py).
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from utvm.mlf import read_mlf
from utvm.project_api import DoesNotFit, ProjectError
from utvm.project_files import PROJECT_TYPES, load_arrays, model_files
from utvm.rpc_glue import io_buffer_bytes

from . import target, tools
from .cores import Board

FIRMWARE_DIR = Path(__file__).resolve().parent / "firmware"
HARNESS_SOURCE = Path(__file__).resolve().parent / "simavr" / "utvm_simavr.c"
PROJECT_RECORD = "arduino-project.json"
MODEL_DIR = "model"
BUILD_DIR = "build"

DEFAULT_BAUD = 115200
#: RPC payload (bytes per frame): small on boards with little RAM (the server keeps two buffers).
SMALL_RAM = 8192
SMALL_PAYLOAD = 128
DEFAULT_PAYLOAD = 512

# ---- what an image needs besides the model, measured with Debian's AVR core 1.8.7 and gcc-avr 5.4
# (-Os, LTO) on the Uno and the Mega (docs/arduino.md). The check before the build refuses only
# what certainly cannot fit (the sum of parts that are certain); the build checks the real
# sections, and the emulator the real stack.
#: RAM of the Arduino core with Serial (its 64+64-byte rings, millis): 184 B for a bare Serial
#: sketch on the Uno; plus our platform layer.
AVR_CORE_RAM = 190
#: RAM of the RPC server besides its two payload buffers (decoder, session, counters).
RPC_STATE_RAM = 80
#: Stack certainly needed: the RPC poll's 64-byte read chunk and the frame writer's 64-byte buffer
#: are on it (simavr measured 140 B standalone, 273-461 B host-driven, depending on the kernels).
AVR_MIN_STACK = 128
#: Estimate (not counted in the refusal) of the stack a host-driven image needs.
AVR_STACK_ESTIMATE = 384
#: Per operator whose params struct cannot be sized from its header (plain const data: RAM on AVR,
#: unless LTO folds the struct into the code, as it usually does).
AVR_PARAMS_RAM_PER_OP = 96
#: sizeof on AVR (avr-gcc: no padding, 16-bit pointers and size_t).
_AVR_SIZEOF = {"int8_t": 1, "uint8_t": 1, "char": 1, "int16_t": 2, "uint16_t": 2, "int": 2, "unsigned": 2,
               "size_t": 2, "int32_t": 4, "uint32_t": 4, "long": 4, "float": 4, "double": 4, "int64_t": 8,
               "uint64_t": 8}
#: Text the standalone application prints (string literals live in RAM on AVR).
STANDALONE_STRINGS_RAM = 120
#: Flash of a bare Serial sketch (1472 B on the Uno): certainly needed.
AVR_CORE_FLASH = 1472
#: Estimate (not counted in the refusal) of the rest of the code: our platform layer, libgcc's
#: 64-bit helpers, the glue, the RPC server (about 3.5 KiB), and about 1.25 KiB per kernel source.
AVR_CODE_ESTIMATE = {"host_driven": 6200, "standalone": 1860}
AVR_CODE_PER_KERNEL = 1280
#: __flash (LPM) reaches the low 64 KiB of flash, where the vectors and the core's own tables also sit.
FLASH_AS_LIMIT = 65536 - 2048
#: On other cores (an RTOS underneath, USB stacks) the core's own needs are not known here.
OTHER_CODE_ESTIMATE = 96 * 1024


def _kib(n: int) -> str:
    return f"{n} B ({n / 1024:.1f} KiB)"


def _align(n: int, a: int = 16) -> int:
    return (n + a - 1) // a * a


def rpc_payload(board: Board, requested: int | None) -> int:
    if requested:
        if not 64 <= int(requested) <= 65535:
            raise ProjectError(f"rpc_payload must be 64..65535 bytes, not {requested}")
        return int(requested)
    _, ram = target.limits(board)
    return SMALL_PAYLOAD if ram is not None and ram <= SMALL_RAM else DEFAULT_PAYLOAD


@dataclass
class Budget:
    """What the image needs in flash and RAM, part by part (bytes), and the board's limits.

    ``*_parts`` are certain: the refusal counts them. ``*_estimates`` are likely but not certain
    (LTO folds most params structs into the code; the stack depends on the kernels): reported.
    """

    flash_parts: dict[str, int]
    ram_parts: dict[str, int]
    flash_limit: int | None
    ram_limit: int | None
    flash_estimates: dict[str, int] = field(default_factory=dict)
    ram_estimates: dict[str, int] = field(default_factory=dict)

    @property
    def flash(self) -> int:
        return sum(self.flash_parts.values())

    @property
    def ram(self) -> int:
        return sum(self.ram_parts.values())

    def to_json(self) -> dict[str, Any]:
        return {"flash": self.flash, "ram": self.ram, "flash_parts": dict(self.flash_parts),
                "ram_parts": dict(self.ram_parts), "flash_limit": self.flash_limit, "ram_limit": self.ram_limit,
                "flash_estimate": self.flash + sum(self.flash_estimates.values()),
                "ram_estimate": self.ram + sum(self.ram_estimates.values()),
                "flash_estimates": dict(self.flash_estimates), "ram_estimates": dict(self.ram_estimates)}


def _parts_text(parts: Mapping[str, int]) -> str:
    return " + ".join(f"{name} {n}" for name, n in parts.items() if n)


def _strip_comments(text: str) -> str:
    return re.sub(r"/\*.*?\*/|//[^\n]*", " ", text, flags=re.S)


def avr_struct_size(type_name: str, headers: str) -> int | None:
    """sizeof(type_name) on AVR from the runtime headers' text, or None when a field's type is unknown."""
    m = re.search(rf"typedef\s+struct\s*\w*\s*\{{([^{{}}]*)\}}\s*{re.escape(type_name)}\s*;", headers, re.S)
    if m is None:
        return None
    defines = {k: int(v) for k, v in re.findall(r"#\s*define\s+(\w+)\s+\(?(\d+)[uUlL]*\)?\s*$", headers, re.M)}
    total = 0
    for decl in m.group(1).split(";"):
        decl = decl.strip()
        if not decl:
            continue
        count = 1
        for dim in re.findall(r"\[([^\]]*)\]", decl):
            dim = dim.strip()
            n = int(dim, 0) if dim.isdigit() else defines.get(dim)
            if n is None:
                return None
            count *= n
        decl = re.sub(r"\[[^\]]*\]", "", decl)
        if "*" in decl:
            size = 2
        else:
            words = [w for w in decl.split() if w not in ("const", "volatile", "UTVM_CONST_AS", "signed")]
            if len(words) < 2 or words[-2] not in _AVR_SIZEOF:
                return None
            size = _AVR_SIZEOF[words[-2]]
        total += size * count
    return total


def avr_params_ram(files: Mapping[str, str], source_path: str) -> tuple[int, int]:
    """(bytes of the model's params structs on AVR, operators whose size is unknown) from the generated C."""
    headers = _strip_comments("\n".join(t for p, t in files.items() if p.endswith(".h")))
    known, unknown = 0, 0
    for type_name in re.findall(r"static const (\w+) op\d+_params\s*=", files.get(source_path, "")):
        size = avr_struct_size(type_name, headers)
        if size is None:
            unknown += 1
        else:
            known += size
    return known, unknown


def budget(metadata: Mapping[str, Any], board: Board, project_type: str, payload: int,
           standalone_bytes: int = 0, params_ram: tuple[int, int] | None = None) -> Budget:
    """What the image needs, from the model's metadata and the board's core (see :class:`Budget`)."""
    mem = metadata.get("memory", {})
    consts = int(mem.get("constants_bytes", 0))
    arena = int(mem.get("arena_bytes", 0))
    io = io_buffer_bytes(metadata)
    n_ops = sum(1 for op in metadata.get("operators", []) if op.get("kernel") != "alias")
    flash_limit, ram_limit = target.limits(board)
    rpc = 2 * payload + RPC_STATE_RAM if project_type == "host_driven" else 0
    standalone = standalone_bytes if project_type == "standalone" else 0
    if target.is_avr(board):
        in_flash = mem.get("const_address_space") is not None
        ram_consts = int(mem.get("ram_constants_bytes", 0)) if in_flash else consts
        kernels = len(metadata.get("runtime_sources", []))
        flash_parts = {"weights": consts, "initialised data": ram_consts, "Arduino core": AVR_CORE_FLASH}
        flash_estimates = {"runtime code": AVR_CODE_ESTIMATE.get(project_type, AVR_CODE_ESTIMATE["host_driven"])
                           + AVR_CODE_PER_KERNEL * kernels}
        ram_parts = {
            "arena": arena,
            "model I/O buffers": io,
            "constants in RAM": ram_consts,
            "RPC buffers": rpc,
            "standalone data": standalone + (STANDALONE_STRINGS_RAM if project_type == "standalone" else 0),
            "Arduino core": AVR_CORE_RAM,
            "stack (minimum)": AVR_MIN_STACK,
        }
        params = (params_ram[0] + AVR_PARAMS_RAM_PER_OP * params_ram[1]) if params_ram is not None \
            else AVR_PARAMS_RAM_PER_OP * n_ops
        ram_estimates = {"operator params (unless folded)": params,
                         "more stack": (AVR_STACK_ESTIMATE if project_type == "host_driven" else 256) - AVR_MIN_STACK}
        return Budget(flash_parts, ram_parts, flash_limit, ram_limit, flash_estimates, ram_estimates)
    flash_parts = {"weights": consts}
    ram_parts = {"arena": arena, "model I/O buffers": io, "RPC buffers": rpc, "standalone data": standalone}
    return Budget(flash_parts, ram_parts, flash_limit, ram_limit, {"code (estimate)": OTHER_CODE_ESTIMATE}, {})


def check_fit(b: Budget, metadata: Mapping[str, Any], board: Board) -> None:
    """DoesNotFit with the numbers when what the image certainly needs exceeds the board's flash or RAM."""
    model = metadata.get("model", "?")
    mem = metadata.get("memory", {})
    where = f"{board.name} ({board.full_fqbn})"
    if b.ram_limit is not None and b.ram > b.ram_limit:
        raise DoesNotFit(
            f"model '{model}' needs at least {_kib(b.ram)} of RAM on {where}, which has {_kib(b.ram_limit)} "
            f"(upload.maximum_data_size): {_parts_text(b.ram_parts)} bytes",
            region="RAM", needed=b.ram, available=b.ram_limit, parts=dict(b.ram_parts),
        )
    if b.flash_limit is not None and b.flash > b.flash_limit:
        raise DoesNotFit(
            f"model '{model}' needs at least {_kib(b.flash)} of flash on {where}, which has "
            f"{_kib(b.flash_limit)} (upload.maximum_size): {_parts_text(b.flash_parts)} bytes",
            region="FLASH", needed=b.flash, available=b.flash_limit, parts=dict(b.flash_parts),
        )
    if target.is_avr(board) and mem.get("const_address_space") and (b.flash_limit or 0) > 65536:
        weights = int(mem.get("constants_bytes", 0)) - int(mem.get("ram_constants_bytes", 0))
        if weights > FLASH_AS_LIMIT:
            raise DoesNotFit(
                f"model '{model}' has {_kib(weights)} of weights in __flash, but __flash pointers reach only the "
                f"low 64 KiB of {where}'s flash, {_kib(FLASH_AS_LIMIT)} of it free for them",
                region="FLASH_LOW64K", needed=weights, available=FLASH_AS_LIMIT,
            )


def check_archive_target(metadata: Mapping[str, Any], board: Board) -> None:
    """An AVR sketch needs a model compiled with its weights in flash (target_info const_address_space)."""
    if not target.is_avr(board):
        return
    mem = metadata.get("memory", {})
    if mem.get("const_address_space") != target.AVR_CONST_ADDRESS_SPACE:
        tgt = metadata.get("target", {})
        raise ProjectError(
            f"model '{metadata.get('model')}' was compiled for target '{tgt.get('name', '?')}' "
            f"(cpu {tgt.get('cpu', '?')}), with its weights as plain const data; on {board.name} "
            f"({board.core.id}, an AVR) that data would be copied into RAM and the kernels read weights from "
            f"flash. Compile it for the board: utvm compile MODEL --platform arduino --board {board.fqbn}",
            board=board.fqbn,
        )


# ---- files ------------------------------------------------------------------------------------


def sketch_name(metadata: Mapping[str, Any]) -> str:
    return str(metadata["model"])


def _c_string(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def sketch_config_header(board: Board, baud: int) -> str:
    return "\n".join([
        f"/* Generated by utvm: the facts of board {board.full_fqbn} the sketch uses. */",
        "#ifndef UTVM_SKETCH_CONFIG_H",
        "#define UTVM_SKETCH_CONFIG_H",
        "",
        f"#define UTVM_ARDUINO_BOARD {_c_string(board.fqbn)}",
        f"#define UTVM_ARDUINO_BAUD {int(baud)}UL",
        "",
        "#endif /* UTVM_SKETCH_CONFIG_H */",
        "",
    ])


def extra_flags(include_dirs: list[str], payload: int, decimal_dig: bool) -> tuple[str, str]:
    """(compiler.c.extra_flags, compiler.cpp.extra_flags) values for the sketch."""
    incs = [f'"-I{{build.source.path}}/{d}"' for d in include_dirs]
    c = " ".join(incs + [f"-DUTVM_RPC_MAX_PAYLOAD={payload}"])
    cpp = c + (f" {tools.DECIMAL_DIG_FLAG}" if decimal_dig else "")
    return c, cpp


def builder_argv(board: Board, sketch: str, build_path: str, c_flags: str, cpp_flags: str) -> list[str]:
    argv = [tools.ARDUINO_BUILDER, "-compile"]
    for hw in tools.builder_hardware_folders(board):
        argv += ["-hardware", str(hw)]
    for t in tools.builder_tools(board):
        argv += ["-tools", str(t)]
    argv += ["-fqbn", board.full_fqbn, "-build-path", build_path,
             f"-prefs=compiler.c.extra_flags={c_flags}", f"-prefs=compiler.cpp.extra_flags={cpp_flags}",
             f"{sketch}/{sketch}.ino"]
    return argv


def cli_argv(board: Board, sketch: str, build_path: str, c_flags: str, cpp_flags: str) -> list[str]:
    return [tools.ARDUINO_CLI, "compile", "--fqbn", board.full_fqbn, "--build-path", build_path,
            "--build-property", f"compiler.c.extra_flags={c_flags}",
            "--build-property", f"compiler.cpp.extra_flags={cpp_flags}", sketch]


def _mk(words: list[str]) -> str:
    """Words for a Makefile recipe line: shell-quoted, with make's $ escaped."""
    return " ".join(shlex.quote(w).replace("$", "$$") for w in words)


def makefile(record: Mapping[str, Any], board: Board, c_flags: str, cpp_flags: str) -> str:
    sketch = record["sketch"]
    build = f"$(CURDIR)/{BUILD_DIR}"
    builder_cmd = _mk(builder_argv(board, sketch, "@BUILD@", c_flags, cpp_flags)).replace("@BUILD@", build)
    builder_cmd = builder_cmd.replace(shlex.quote(tools.ARDUINO_BUILDER), "$(ARDUINO_BUILDER)", 1)
    cli_cmd = _mk(cli_argv(board, sketch, "@BUILD@", c_flags, cpp_flags)).replace("@BUILD@", build)
    cli_cmd = cli_cmd.replace(shlex.quote(tools.ARDUINO_CLI), "$(ARDUINO_CLI)", 1)
    upload = tools.upload_command(board, "@PORT@", "@BUILD@", f"{sketch}.ino")
    upload_cmd = _mk(upload).replace("@PORT@", "$(PORT)").replace("@BUILD@", build) if upload else (
        "@echo 'the core has no serial upload recipe for this board: use make upload BUILDER=arduino-cli'; false")
    cli_upload = _mk(tools.cli_upload_command(board.full_fqbn, "@PORT@", "@BUILD@", sketch)).replace(
        "@PORT@", "$(PORT)").replace("@BUILD@", build).replace(shlex.quote(tools.ARDUINO_CLI), "$(ARDUINO_CLI)", 1)
    size = _mk([tools.size_command(board), "-A"])
    emulate = ""
    emu = record.get("emulator")
    if emu:
        mode = "--stdio" if record["project_type"] == "standalone" else "--tcp $(EMULATE_PORT)"
        emulate = f"""
# Run the image in simavr: the harness is built from tools/utvm_simavr.c with the host C compiler
# and libsimavr (apt-get install simavr libsimavr-dev). {"Console on this terminal." if mode == "--stdio" else "The RPC server's UART waits on 127.0.0.1:$(EMULATE_PORT) (pyserial socket://)."}
SIMAVR_CFLAGS ?= -I/usr/include/simavr
SIMAVR_LIBS ?= -lsimavr
EMULATE_PORT ?= 5555
{BUILD_DIR}/utvm-simavr: tools/utvm_simavr.c
\t@mkdir -p {BUILD_DIR}
\t$(CC) -O2 $(SIMAVR_CFLAGS) -o $@ $< $(SIMAVR_LIBS)

emulate: $(ELF) {BUILD_DIR}/utvm-simavr
\t./{BUILD_DIR}/utvm-simavr --mcu {emu['mcu']} --freq {emu['clock_hz']} --marker {emu['marker']} {mode} $(ELF)
"""
    default_builder = record["builder"]
    return f"""# Generated by utvm: sketch {sketch}/ (model '{record['model']}', {record['project_type']}) for
# {board.name}, FQBN {board.full_fqbn}, core {board.core.id} {board.core.version} in {board.core.path}.
#   make                      build {BUILD_DIR}/{sketch}.ino.hex with $(BUILDER) (arduino-cli or arduino-builder)
#   make upload PORT=/dev/ttyACM0
#   make size                 section sizes
{"#   make emulate              run it in simavr" + chr(10) if emulate else ""}#   make clean
# Nothing here needs utvm or Python.
SKETCH := {sketch}
FQBN := {board.full_fqbn}
BUILDER ?= {default_builder}
ARDUINO_CLI ?= arduino-cli
ARDUINO_BUILDER ?= arduino-builder
PORT ?=
ELF := {BUILD_DIR}/$(SKETCH).ino.elf
HEX := {BUILD_DIR}/$(SKETCH).ino.hex
SOURCES := $(shell find $(SKETCH) -type f)
# The folders too: a file deleted from the sketch changes its folder's time.
SKETCH_DIRS := $(shell find $(SKETCH) -type d)

all: $(HEX)

$(ELF): $(HEX)

$(HEX): $(SOURCES) $(SKETCH_DIRS) Makefile
\t@mkdir -p {BUILD_DIR}
ifeq ($(BUILDER),arduino-cli)
\t{cli_cmd}
else
\t{builder_cmd}
endif

upload: $(HEX)
\t@test -n "$(PORT)" || (echo "give the board's serial port: make upload PORT=/dev/ttyACM0"; false)
ifeq ($(BUILDER),arduino-cli)
\t{cli_upload}
else
\t{upload_cmd}
endif

size: $(ELF)
\t{size} $(ELF)
{emulate}
clean:
\trm -rf {BUILD_DIR}

.PHONY: all upload size clean{' emulate' if emulate else ''}
"""


def sketch_yaml(board: Board) -> str:
    return f"# Generated by utvm: arduino-cli compile/upload use this board by default.\ndefault_fqbn: {board.full_fqbn}\n"


def _template(name: str, **values: str) -> str:
    text = (FIRMWARE_DIR / name).read_text()
    for key, value in values.items():
        text = text.replace(f"@{key}@", value)
    return text


def generate(mlf_path: Path, project_dir: Path, board: Board, options: Mapping[str, Any]) -> dict[str, Any]:
    """Write the project; returns what ``generate_project`` answers."""
    kind = options.get("project_type") or "host_driven"
    if kind not in PROJECT_TYPES:
        raise ProjectError(f"unknown project type {kind!r}; choose one of {', '.join(PROJECT_TYPES)}")
    baud = int(options.get("baud") or DEFAULT_BAUD)
    compiled = read_mlf(mlf_path)
    md = compiled.metadata
    check_archive_target(md, board)
    payload = rpc_payload(board, options.get("rpc_payload"))
    inputs = expected = None
    if kind != "standalone" and (options.get("inputs") or options.get("expected_outputs")):
        raise ProjectError("inputs and expected_outputs apply to standalone projects only")
    if options.get("inputs"):
        inputs = load_arrays(Path(options["inputs"]), len(md["inputs"]), "inputs")
    if options.get("expected_outputs"):
        expected = load_arrays(Path(options["expected_outputs"]), len(md["outputs"]), "outputs")
    standalone_bytes = sum(int(e["bytes"]) for e in md["inputs"])
    if expected is not None:
        standalone_bytes += sum(int(e["bytes"]) for e in md["outputs"])
    files, sources, include_dirs = model_files(compiled, kind, inputs, expected)
    params = avr_params_ram(files, compiled.source_path) if target.is_avr(board) else None
    plan = budget(md, board, kind, payload, standalone_bytes, params)
    check_fit(plan, md, board)

    name = sketch_name(md)
    sketch_dir = project_dir / name
    src = sketch_dir / "src"
    wanted = set(sources)
    for rel, text in files.items():
        if rel.endswith(".c") and rel not in wanted:
            continue  # the runtime ships every source; Arduino compiles whatever lies in src/
        dest = src / MODEL_DIR / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(text)
    for f in ("utvm_arduino.h", "utvm_platform.cpp"):
        shutil.copyfile(FIRMWARE_DIR / f, src / f)
    (src / "utvm_sketch_config.h").write_text(sketch_config_header(board, baud))
    ino = "host_driven.ino" if kind == "host_driven" else "standalone.ino"
    (sketch_dir / f"{name}.ino").write_text(_template(ino, MODEL=name, BOARD=board.fqbn, BAUD=str(baud)))
    (sketch_dir / "sketch.yaml").write_text(sketch_yaml(board))

    sketch_includes = [f"src/{MODEL_DIR}/{d}" for d in include_dirs]
    decimal_dig = tools.needs_decimal_dig(board)
    c_flags, cpp_flags = extra_flags(sketch_includes, payload, decimal_dig)
    emulator = None
    if target.is_avr(board):
        device = target.avr_device(board)
        emulator = {
            "kind": "simavr",
            "mcu": board.get("build.mcu"),
            "clock_hz": target.clock_hz(board) or 16000000,
            "marker": hex(device.get("marker_address", target.DEFAULT_AVR_MARKER)),
            "nm": tools.nm_command(board),
        }
        (project_dir / "tools").mkdir(exist_ok=True)
        shutil.copyfile(HARNESS_SOURCE, project_dir / "tools" / HARNESS_SOURCE.name)
    flash_limit, ram_limit = target.limits(board)
    record = {
        "format": 1,
        "fqbn": board.full_fqbn,
        "board": board.fqbn,
        "board_name": board.name,
        "core": board.core.id,
        "core_version": board.core.version,
        "core_path": str(board.core.path),
        "core_origin": board.core.origin,
        "hardware_root": str(board.core.hardware_root),
        "family": target.family(board),
        "mcu": board.get("build.mcu"),
        "clock_hz": target.clock_hz(board),
        "flash_limit": flash_limit,
        "ram_limit": ram_limit,
        "usb_ids": [[v, p] for v, p in board.usb_ids()],
        "model": md["model"],
        "sketch": name,
        "project_type": kind,
        "baud": baud,
        "rpc_payload": payload,
        "builder": tools.choose_builder(board, options.get("builder") or "auto"),
        "c_extra_flags": c_flags,
        "cpp_extra_flags": cpp_flags,
        "decimal_dig_workaround": decimal_dig,
        "min_stack": AVR_MIN_STACK if target.is_avr(board) else 0,
        "budget": plan.to_json(),
        "emulator": emulator,
        "options": {k: (str(v) if isinstance(v, Path) else v) for k, v in options.items()
                    if k in ("hardware_dirs", "arduino_data_dir", "sketchbook_dir", "no_system_cores")},
    }
    # utvm reads the model's description from PROJECT/model/metadata.json (outside the sketch).
    (project_dir / MODEL_DIR).mkdir(exist_ok=True)
    (project_dir / MODEL_DIR / "metadata.json").write_text(files["metadata.json"])
    (project_dir / "Makefile").write_text(makefile(record, board, c_flags, cpp_flags))
    (project_dir / PROJECT_RECORD).write_text(json.dumps(record, indent=2) + "\n")
    return {
        "project_type": kind,
        "sketch": str(sketch_dir / f"{name}.ino"),
        "fqbn": board.full_fqbn,
        "files": [f"{name}/{name}.ino", f"{name}/src/", f"{name}/sketch.yaml", "Makefile", PROJECT_RECORD,
                  f"{MODEL_DIR}/metadata.json"]
        + (["tools/utvm_simavr.c"] if emulator else []),
        "budget": plan.to_json(),
    }


def load_record(project_dir: Path) -> dict[str, Any]:
    path = project_dir / PROJECT_RECORD
    if not path.is_file():
        raise ProjectError(f"{project_dir} is not an arduino project (no {PROJECT_RECORD}); generate it first")
    try:
        return json.loads(path.read_text())
    except ValueError as exc:
        raise ProjectError(f"{path} is damaged ({exc}); generate the project again") from None
