"""generate_project for bare-metal Cortex-M: the platform-specific linking.

From a Model Library Format archive, a :class:`~.targets.Board` and its
:class:`~.targets.Device`, this writes a project that builds with ``make`` (or
``cmake``) and arm-none-eabi-gcc alone:

```
PROJECT/
  Makefile, CMakeLists.txt, cmake/arm-none-eabi.cmake
  linker.ld                    generated from the device's memory regions
  src/                         startup, console driver, SysTick timer, platform layer, main()
  src/utvm_board_config.h      the board facts the C code uses (console, clocks, FPU)
  model/                       the model, the runtime and the glue (utvm.project_files)
  baremetal-project.json       what build, flash and open_transport need later
```

Placement (:func:`plan_placement`) is decided from the device's regions, as
the CMSIS pack describes them, and the board file's hints; no board is named
in code:

- **code, vectors, read-only data and the .data load image** go to the
  *startup* region (the pack's ``startup="1"`` memory; else the first
  executable, read-only one);
- **the weights** (MLF ``memory.constants_section``) go to the first
  read-only region that holds them, the startup region first;
- **.data, .bss and the stack** go to the *data* region: the pack's default
  writable memory (``default="1"``), else the first writable one;
- **the arena** (MLF ``memory.arena_section``) goes to the fastest RAM that
  fits: the board file's ``arena_region`` if it names one, else a writable
  region named like a data TCM (``DTCM``), else the data region, else any
  other writable region, the first that holds it.

A model whose weights exceed every read-only region, or whose arena and
buffers exceed the RAM, is refused with the numbers (:class:`DoesNotFit`)
before anything is built; the linker catches anything subtler (code size).
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from utvm.mlf import read_mlf
from utvm.project_api import DoesNotFit, ProjectError
from utvm.project_files import PROJECT_TYPES, STANDALONE_DATA_SECTION, install_model
from utvm.rpc_glue import io_buffer_bytes

from . import build_files
from .targets import Board, Device, MemoryRegion

FIRMWARE_DIR = Path(__file__).resolve().parent / "firmware"
PROJECT_RECORD = "baremetal-project.json"
SRC_DIR = "src"
BOARD_CONFIG = "utvm_board_config.h"
LINKER_SCRIPT = "linker.ld"

#: Firmware files every project gets (besides its console driver and main()).
COMMON_FIRMWARE = ("cortex_m.h", "utvm_firmware.h", "startup.c", "systick.c", "platform.c")
#: main() per project type.
MAIN_SOURCES = {"host_driven": "main_host_driven.c", "standalone": "main_standalone.c"}

DEFAULT_STACK_SIZE = 8192
#: RAM the RPC server keeps besides the model (receive and response buffers, decoder, state).
RPC_STATIC_BYTES = 2 * 512 + 256
#: RAM of the runtime, console, timer and startup besides the above (a generous bound).
FIRMWARE_STATIC_BYTES = 512
IO_ALIGNMENT = 16
#: Region name patterns of tightly coupled data memory, preferred for the arena.
FAST_RAM_NAME = re.compile(r"DTCM", re.IGNORECASE)


@dataclass(frozen=True)
class Placement:
    """Where each part of the image goes: regions of the device."""

    startup: MemoryRegion  # vectors, code, rodata, .data load image
    weights: MemoryRegion  # the model's constants section
    data: MemoryRegion  # .data, .bss, stack
    arena: MemoryRegion  # the model's arena section
    stack_size: int
    weights_bytes: int
    arena_bytes: int
    statics_bytes: int  # estimated .data/.bss besides the arena (I/O buffers, RPC, firmware)
    reason: Mapping[str, str]  # why each region was chosen, for the generated files

    @property
    def regions(self) -> list[MemoryRegion]:
        """The distinct regions used, in the device's order of appearance in the placement."""
        out: list[MemoryRegion] = []
        for r in (self.startup, self.weights, self.data, self.arena):
            if r not in out:
                out.append(r)
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "startup": self.startup.name,
            "weights": self.weights.name,
            "data": self.data.name,
            "arena": self.arena.name,
            "stack_size": self.stack_size,
            "weights_bytes": self.weights_bytes,
            "arena_bytes": self.arena_bytes,
            "statics_bytes_estimate": self.statics_bytes,
            "reason": dict(self.reason),
        }


def _kib(n: int) -> str:
    return f"{n} B ({n / 1024:.1f} KiB)"


def _align(n: int, a: int) -> int:
    return (n + a - 1) // a * a


def _region_by_name(device: Device, name: str) -> MemoryRegion | None:
    for r in device.memory:
        if r.name == name:
            return r
    lowered = [r for r in device.memory if r.name.lower() == name.lower()]
    return lowered[0] if len(lowered) == 1 else None


def startup_region(device: Device) -> MemoryRegion:
    """The region holding the vector table and the code."""
    for r in device.memory:
        if r.startup:
            return r
    for pick in (lambda r: r.executable and not r.writable, lambda r: r.executable):
        for r in device.memory:
            if pick(r):
                return r
    raise ProjectError(
        f"device {device.name} ({device.pack}) has no executable memory region to hold the code: "
        f"regions {', '.join(r.name for r in device.memory) or 'none'}"
    )


def data_region(device: Device) -> MemoryRegion:
    """The region holding .data, .bss and the stack."""
    writable = [r for r in device.memory if r.writable]
    if not writable:
        raise ProjectError(f"device {device.name} ({device.pack}) has no writable memory region")
    for r in writable:
        if r.default:
            return r
    return writable[0]


def _unique(regions: Iterable[MemoryRegion]) -> list[MemoryRegion]:
    out: list[MemoryRegion] = []
    for r in regions:
        if r not in out:
            out.append(r)
    return out


def statics_estimate(metadata: Mapping[str, Any], project_type: str) -> int:
    """RAM besides the arena and the stack: the model's I/O buffers, the RPC server, the firmware."""
    io = io_buffer_bytes(metadata, IO_ALIGNMENT)
    rpc = RPC_STATIC_BYTES if project_type == "host_driven" else 0
    return io + rpc + FIRMWARE_STATIC_BYTES


def plan_placement(
    device: Device,
    board: Board,
    metadata: Mapping[str, Any],
    project_type: str = "host_driven",
    stack_size: int = DEFAULT_STACK_SIZE,
    arena_region: str | None = None,
) -> Placement:
    """Choose the regions for code, weights, data and arena; DoesNotFit when the model cannot fit.

    ``arena_region`` (a region name) overrides the rule for the arena, like the
    board file's ``arena_region``.
    """
    memory = metadata.get("memory", {})
    weights = int(memory.get("constants_bytes", 0))
    arena = int(memory.get("arena_bytes", 0))
    model = metadata.get("model", "?")
    statics = statics_estimate(metadata, project_type)
    reason: dict[str, str] = {}

    startup = startup_region(device)
    reason["startup"] = "the pack's startup memory" if startup.startup else "the first executable region"

    # Weights: read-only regions, the startup region first.
    read_only = [r for r in device.memory if not r.writable]
    candidates = _unique(([startup] if not startup.writable else []) + read_only) or [startup]
    fitting = [r for r in candidates if weights <= r.length]
    if not fitting:
        biggest = max(candidates, key=lambda r: r.length)
        raise DoesNotFit(
            f"model '{model}' has {_kib(weights)} of weights, but the largest read-only region of "
            f"{device.name}, {biggest.name}, has {_kib(biggest.length)}",
            region=biggest.name,
            needed=weights,
            available=biggest.length,
            what="weights",
        )
    weights_region = fitting[0]
    reason["weights"] = (
        "the startup region" if weights_region == startup else "the first read-only region that holds them"
    )

    data = data_region(device)
    reason["data"] = "the pack's default RAM" if data.default else "the first writable region"
    base_need = statics + stack_size
    if base_need > data.length:
        raise DoesNotFit(
            f"model '{model}' needs {_kib(statics)} of buffers and statics + {_kib(stack_size)} of stack = "
            f"{_kib(base_need)} of RAM in {data.name}, which has {_kib(data.length)}",
            region=data.name,
            needed=base_need,
            available=data.length,
            what="ram",
        )

    # Arena: the board's hint, then a DTCM, then the data region, then other RAM.
    hint = arena_region or ((board.extra or {}).get("arena_region"))
    if hint:
        origin = "the option arena_region" if arena_region else f"board {board.name} ({board.source})'s arena_region"
        hinted = _region_by_name(device, str(hint))
        if hinted is None or not hinted.writable:
            raise ProjectError(
                f"{origin} is {hint!r}, which is not a writable region of {device.name}; "
                f"writable regions: {', '.join(r.name for r in device.memory if r.writable)}"
            )
        arena_candidates = [hinted]
        why = {hinted.name: origin}
    else:
        writable = [r for r in device.memory if r.writable]
        fast = [r for r in writable if FAST_RAM_NAME.search(r.name)]
        arena_candidates = _unique(fast + [data] + writable)
        why = {r.name: "a data TCM" for r in fast}
        why.setdefault(data.name, "the data region")

    def need_in(region: MemoryRegion) -> int:
        return arena + (base_need if region == data else 0)

    chosen = next((r for r in arena_candidates if need_in(r) <= r.length), None)
    if chosen is None:
        best = max(arena_candidates, key=lambda r: r.length - (base_need if r == data else 0))
        needed = need_in(best)
        extra = (
            f" + {_kib(statics)} of buffers and statics + {_kib(stack_size)} of stack = {_kib(needed)}"
            if best == data
            else ""
        )
        raise DoesNotFit(
            f"model '{model}' needs {_kib(arena)} of arena{extra} of RAM, but {best.name} has "
            f"{_kib(best.length)}"
            + (f" and no other RAM region of {device.name} holds it" if len(arena_candidates) > 1 else ""),
            region=best.name,
            needed=needed,
            available=best.length,
            what="arena",
        )
    reason["arena"] = why.get(chosen.name, "the first writable region that holds it")
    return Placement(startup, weights_region, data, chosen, stack_size, weights, arena, statics, reason)


# ---- the linker script ----------------------------------------------------------------------


def _ld_name(region: MemoryRegion) -> str:
    name = re.sub(r"[^A-Za-z0-9_]", "_", region.name)
    return name if re.match(r"[A-Za-z_]", name) else f"R_{name}"


def linker_script(placement: Placement, device: Device, board: Board, metadata: Mapping[str, Any]) -> str:
    """A GNU ld script for the placement: MEMORY from the used regions, the model's sections placed."""
    memory = metadata.get("memory", {})
    weights_section = memory.get("constants_section", ".rodata.utvm_weights")
    arena_section = memory.get("arena_section", ".bss.utvm_arena")
    arena_align = max(8, int(memory.get("arena_alignment", 16)))
    names = {}
    used = set()
    for r in placement.regions:
        n = _ld_name(r)
        while n in used:
            n += "_"
        used.add(n)
        names[r] = n
    rom, wts, ram, arena = (names[placement.startup], names[placement.weights], names[placement.data],
                            names[placement.arena])
    mem_lines = "\n".join(
        f"  {names[r]:<12} ({r.access or 'rwx'}) : ORIGIN = 0x{r.origin:08X}, LENGTH = 0x{r.length:08X}"
        for r in placement.regions
    )
    why = placement.reason
    return f"""/*
 * Generated by utvm for board {board.name} (device {device.name}, {device.core}).
 *
 * Placement (from the device's memory regions and the board file):
 *   {'vectors, code, rodata':<34} -> {placement.startup.name} ({why.get('startup', '')})
 *   {'test data ' + STANDALONE_DATA_SECTION:<34} -> {placement.startup.name}
 *   {'model weights ' + weights_section:<34} -> {placement.weights.name} ({why.get('weights', '')}), {placement.weights_bytes} B
 *   {'.data, .bss, stack':<34} -> {placement.data.name} ({why.get('data', '')}), stack {placement.stack_size} B
 *   {'model arena ' + arena_section:<34} -> {placement.arena.name} ({why.get('arena', '')}), {placement.arena_bytes} B
 *
 * The stack sits at the bottom of its region: an overflow runs off the
 * region instead of into .bss (and faults on Armv8-M through MSPLIM).
 */
ENTRY(Reset_Handler)

__stack_size__ = {placement.stack_size};

MEMORY
{{
{mem_lines}
}}

SECTIONS
{{
  .vectors :
  {{
    KEEP(*(.vectors))
  }} > {rom}

  /* Before .text and .rodata so that their wildcards do not take it. */
  .utvm_weights : ALIGN(16)
  {{
    __utvm_weights_start__ = .;
    *({weights_section} {weights_section}.*)
    . = ALIGN(4);
    __utvm_weights_end__ = .;
  }} > {wts}

  /* A standalone image's built-in inputs and expected outputs: test data, not code. */
  .utvm_standalone : ALIGN(4)
  {{
    *({STANDALONE_DATA_SECTION} {STANDALONE_DATA_SECTION}.*)
    . = ALIGN(4);
  }} > {rom}

  .text :
  {{
    *(.text .text.*)
    *(.rodata .rodata.*)
    . = ALIGN(4);
  }} > {rom}

  .ARM.extab : {{ *(.ARM.extab* .gnu.linkonce.armextab.*) }} > {rom}
  .ARM.exidx :
  {{
    __exidx_start = .;
    *(.ARM.exidx* .gnu.linkonce.armexidx.*)
    __exidx_end = .;
  }} > {rom}

  .stack (NOLOAD) : ALIGN(8)
  {{
    __stack_limit__ = .;
    . += __stack_size__;
    . = ALIGN(8);
    __stack_top__ = .;
  }} > {ram}

  /* Before .bss so that its wildcard does not take it. */
  .utvm_arena (NOLOAD) : ALIGN({arena_align})
  {{
    __utvm_arena_start__ = .;
    *({arena_section} {arena_section}.*)
    . = ALIGN(4);
    __utvm_arena_end__ = .;
  }} > {arena}

  .data : ALIGN(4)
  {{
    __data_start__ = .;
    *(.data .data.*)
    . = ALIGN(4);
    __data_end__ = .;
  }} > {ram} AT > {rom}
  __data_load__ = LOADADDR(.data);

  .bss (NOLOAD) : ALIGN(4)
  {{
    __bss_start__ = .;
    *(.bss .bss.*)
    *(COMMON)
    . = ALIGN(4);
    __bss_end__ = .;
  }} > {ram}

  /* No heap: nothing in the image allocates. */
  end = .;
  __end__ = .;

  /DISCARD/ : {{ *(.note.GNU-stack) *(.gnu_debuglink) }}
}}
"""


# ---- the board's facts for the C code -------------------------------------------------------


def _c_string(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def cpu_clock_hz(board: Board, device: Device) -> int:
    """The processor clock the SysTick counts: the board's, else the pack's Dclock."""
    clock = (board.extra or {}).get("cpu_clock_hz") or device.clock_hz
    if not clock:
        raise ProjectError(
            f"neither board {board.name} nor device {device.name} gives the processor clock "
            "(board file cpu_clock_hz, or the pack's Dclock)"
        )
    return int(clock)


def has_fpu_or_mve(device: Device) -> bool:
    return device.fpu not in ("", "NO_FPU", None) or device.mve not in ("", "NO_MVE", None)


def semihosting_enabled(board: Board) -> bool:
    """Exit through semihosting where the board file says so, or on a board that is only emulated.

    On real hardware without a debugger attached, the semihosting call would fault.
    """
    if (board.extra or {}).get("semihosting"):
        return True
    return board.emulator is not None and board.probe is None


def console_driver(board: Board) -> str:
    driver = str(board.console.get("driver", ""))
    source = FIRMWARE_DIR / f"console_{driver}.c"
    if not driver or not re.fullmatch(r"[A-Za-z0-9_]+", driver) or not source.is_file():
        available = sorted(p.stem[len("console_"):] for p in FIRMWARE_DIR.glob("console_*.c"))
        raise ProjectError(
            f"board {board.name} ({board.source}) has console driver {driver!r}; "
            f"this plugin has: {', '.join(available)}"
        )
    return driver


def board_config_header(board: Board, device: Device) -> str:
    console = board.console
    for key in ("base", "baud", "clock_hz"):
        if not isinstance(console.get(key), int):
            raise ProjectError(f"board {board.name} ({board.source}): console needs an integer {key!r}, got {console}")
    lines = [
        f"/* Generated by utvm: the facts of board {board.name} the firmware uses. */",
        "#ifndef UTVM_BOARD_CONFIG_H",
        "#define UTVM_BOARD_CONFIG_H",
        "",
        f"#define UTVM_BOARD_NAME {_c_string(board.name)}",
        f"#define UTVM_DEVICE_NAME {_c_string(device.name)}",
        f"#define UTVM_CPU_CLOCK_HZ {cpu_clock_hz(board, device)}u",
        f"#define UTVM_CONSOLE_BASE 0x{console['base']:08X}u /* {console.get('driver')} */",
        f"#define UTVM_CONSOLE_BAUD {console['baud']}u",
        f"#define UTVM_CONSOLE_CLOCK_HZ {console['clock_hz']}u",
        f"#define UTVM_ENABLE_FPU {1 if has_fpu_or_mve(device) else 0} /* Dfpu {device.fpu}, Dmve {device.mve} */",
        f"#define UTVM_SEMIHOSTING {1 if semihosting_enabled(board) else 0}",
        "",
        "#endif /* UTVM_BOARD_CONFIG_H */",
        "",
    ]
    return "\n".join(lines)


# ---- the whole project ----------------------------------------------------------------------


def _region_json(r: MemoryRegion) -> dict[str, Any]:
    return {"name": r.name, "origin": r.origin, "length": r.length, "access": r.access,
            "startup": r.startup, "default": r.default}


def generate(
    mlf_path: Path,
    project_dir: Path,
    board: Board,
    device: Device,
    cpu_flags: Sequence[str],
    options: Mapping[str, Any],
) -> dict[str, Any]:
    """Write the project; returns what ``generate_project`` answers."""
    kind = options.get("project_type") or "host_driven"
    if kind not in PROJECT_TYPES:
        raise ProjectError(f"unknown project type {kind!r}; choose one of {', '.join(PROJECT_TYPES)}")
    stack_size = int(options.get("stack_size") or DEFAULT_STACK_SIZE)
    if stack_size < 256 or stack_size % 8:
        raise ProjectError(f"stack_size must be a multiple of 8 and at least 256 bytes, not {stack_size}")
    driver = console_driver(board)
    metadata = read_mlf(mlf_path).metadata
    placement = plan_placement(device, board, metadata, kind, stack_size, options.get("arena_region") or None)
    # (refused above, before anything is written)
    model = install_model(mlf_path, project_dir, kind, options.get("inputs"), options.get("expected_outputs"))

    src = project_dir / SRC_DIR
    src.mkdir(parents=True, exist_ok=True)
    firmware = list(COMMON_FIRMWARE) + [f"console_{driver}.c", MAIN_SOURCES[kind]]
    for name in firmware:
        shutil.copyfile(FIRMWARE_DIR / name, src / name)
    (src / BOARD_CONFIG).write_text(board_config_header(board, device))
    (project_dir / LINKER_SCRIPT).write_text(linker_script(placement, device, board, metadata))

    sources = [f"{SRC_DIR}/{n}" for n in firmware if n.endswith(".c")] + list(model.sources)
    include_dirs = [SRC_DIR] + list(model.include_dirs)
    defines: list[str] = []
    emulator = board.emulator or None
    build_files.write_build_files(
        project_dir, model.name, sources, include_dirs, defines, list(cpu_flags), LINKER_SCRIPT, emulator
    )
    record = {
        "format": 1,
        "board": board.name,
        "board_file": str(board.source) if board.source else None,
        "description": board.description,
        "device": device.name,
        "core": device.core,
        "pack": str(device.pack),
        "model": model.name,
        "project_type": kind,
        "cpu_clock_hz": cpu_clock_hz(board, device),
        "console": dict(board.console),
        "emulator": dict(board.emulator) if board.emulator else None,
        "probe": dict(board.probe) if board.probe else None,
        "semihosting": semihosting_enabled(board),
        "cpu_flags": list(cpu_flags),
        "placement": placement.to_json(),
        "regions": [_region_json(r) for r in placement.regions],
        "elf": build_files.ELF,
        "hex": build_files.HEX,
    }
    (project_dir / PROJECT_RECORD).write_text(json.dumps(record, indent=2) + "\n")
    return {
        "project_type": kind,
        "files": ["Makefile", "CMakeLists.txt", build_files.TOOLCHAIN_FILE, LINKER_SCRIPT, f"{SRC_DIR}/", "model/",
                  PROJECT_RECORD],
        "placement": placement.to_json(),
    }


def load_record(project_dir: Path) -> dict[str, Any]:
    """The project's record, or ProjectError naming what is wrong."""
    path = project_dir / PROJECT_RECORD
    if not path.is_file():
        raise ProjectError(f"{project_dir} is not a baremetal_cmsis project (no {PROJECT_RECORD}); generate it first")
    try:
        return json.loads(path.read_text())
    except ValueError as exc:
        raise ProjectError(f"{path} is damaged ({exc}); generate the project again") from None
