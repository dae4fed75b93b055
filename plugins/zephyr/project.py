"""The files of a generated Zephyr application, and the memory check behind them.

Layout of a project (``utvm create-project ... --platform zephyr``)::

    CMakeLists.txt       find_package(Zephyr), the model's sources, the placement
    prj.conf             Kconfig derived from the target and the memory plan
    src/main.c           host_driven: UART (IRQ + ring buffers) RPC server;
                         standalone: runs the built-in inputs, prints via printk
    utvm/weights.ld      linker snippet: the weights' own section in ROMABLE_REGION
    utvm/arena.ld        linker snippet: the arena's NOLOAD section in RAMABLE_REGION
    model/               the Model Library Format content, RPC glue, runtime
    utvm-zephyr.json     what build/flash/open_transport need (target, emulator, runners)

Placement uses Zephyr's own mechanisms, nothing board-specific in a linker
script of ours:

- weights: ``zephyr_linker_sources(ROM_SECTIONS utvm/weights.ld)``. ROM_SECTIONS
  snippets come before the ``.rodata`` output section (which would otherwise
  swallow ``.rodata.*``), so the weights get an output section of their own in
  ROMABLE_REGION, i.e. flash on XIP boards (Zephyr 3.7+; on older trees the
  CMake guard leaves them in ``.rodata``, also in flash);
- arena: ``zephyr_linker_sources(RAM_SECTIONS utvm/arena.ld)``, a NOLOAD output
  section at the start of RAMABLE_REGION, before ``.bss`` takes ``.bss.*``: not
  zeroed at boot (the model writes every intermediate before reading it);
- arena in DTCM, when the configured devicetree has a ``zephyr,dtcm`` chosen
  node and the arena fits it (``arena_region=auto|dtcm``):
  ``zephyr_code_relocate(FILES <model.c> LOCATION DTCM_BSS)`` with
  ``CONFIG_CODE_DATA_RELOCATION=y`` moves the model file's ``.bss.*`` (the
  arena) into DTCM; its weights stay in flash.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from utvm.rpc_glue import io_buffer_bytes

if TYPE_CHECKING:
    from utvm.project_files import ModelProject

TEMPLATES = {"host_driven": "main_host_driven.c", "standalone": "main_standalone.c"}
RECORD = "utvm-zephyr.json"

RPC_MAX_PAYLOAD = 512
RX_RING_BYTES = 2048
TX_RING_BYTES = 1024
RPC_STATIC_BYTES = 2 * RPC_MAX_PAYLOAD + 128  # server.c: receive and response buffers, state


class NoFit(Exception):
    def __init__(self, message: str, region: str, needed: int, available: int) -> None:
        super().__init__(message)
        self.region, self.needed, self.available = region, needed, available


def template_text(name: str) -> str:
    return resources.files(__package__).joinpath("templates", name).read_text(encoding="utf-8")


def _region(facts: dict[str, Any], name: str) -> dict[str, Any] | None:
    return next((r for r in facts.get("memory_regions", []) if r.get("name") == name), None)


def kib(n: int) -> str:
    return f"{n} bytes ({n / 1024:.1f} KiB)"


def memory_plan(metadata: dict[str, Any], facts: dict[str, Any], target: str, options: dict[str, Any]) -> dict[str, Any]:
    """Where the arena goes and what RAM/flash the application needs; raises :class:`NoFit`."""
    mem = metadata["memory"]
    arena = int(mem["arena_bytes"])
    consts = int(mem["constants_bytes"])
    io = io_buffer_bytes(metadata)
    kind = options["project_type"]
    stack = int(options["main_stack_size"])
    ram_reserve = int(options["ram_reserve_bytes"])
    flash_reserve = int(options["flash_reserve_bytes"])
    link = RPC_STATIC_BYTES + RX_RING_BYTES + TX_RING_BYTES if kind == "host_driven" else 0
    builtin = 0
    if kind == "standalone":  # the inputs (and expected outputs) are const arrays in flash
        builtin = sum(int(e["bytes"]) for e in metadata["inputs"]) + sum(int(e["bytes"]) for e in metadata["outputs"])

    sram, flash, dtcm = _region(facts, "SRAM"), _region(facts, "FLASH"), _region(facts, "DTCM")
    where = facts.get("source", "?")
    choice = options["arena_region"]
    arena_in = "sram"
    if choice == "dtcm":
        if dtcm is None:
            raise NoFit(f"arena_region=dtcm, but board target {target!r} has no chosen zephyr,dtcm node"
                        f" ({'configured devicetree' if where == 'configured-build' else 'no configured build: ' + where})",
                        "DTCM", arena, 0)
        if arena > dtcm["length"]:
            raise NoFit(f"the arena needs {kib(arena)} but DTCM of {target} has {kib(dtcm['length'])}",
                        "DTCM", arena, dtcm["length"])
        arena_in = "dtcm"
    elif choice == "auto" and dtcm is not None and 0 < arena <= dtcm["length"]:
        arena_in = "dtcm"

    ram_parts = {"inputs and outputs": io, "main stack": stack, "kernel and application (reserve)": ram_reserve}
    if arena_in == "sram":
        ram_parts = {"arena": arena, **ram_parts}
    if link:
        ram_parts["UART ring buffers and RPC buffers"] = link
    ram_needed = sum(ram_parts.values())
    flash_parts = {"weights": consts, "code and kernel (reserve)": flash_reserve}
    if builtin:
        flash_parts["built-in inputs/outputs"] = builtin
    flash_needed = sum(flash_parts.values())

    def check(region: dict[str, Any] | None, name: str, needed: int, parts: dict[str, int]) -> None:
        if region is None:
            return
        have = int(region["length"])
        if needed > have:
            detail = " + ".join(f"{k} {v}" for k, v in parts.items())
            raise NoFit(
                f"model does not fit board target {target}: it needs {kib(needed)} of {name} ({detail}), "
                f"but {name} has {kib(have)} (from {region.get('from', where)}); "
                f"lower main_stack_size/{'ram' if name == 'SRAM' else 'flash'}_reserve_bytes if the reserve is too "
                f"cautious, or choose a larger board",
                name, needed, have)

    check(sram, "SRAM", ram_needed, ram_parts)
    check(flash, "FLASH", flash_needed, flash_parts)
    return {
        "arena_region": arena_in,
        "arena_bytes": arena,
        "constants_bytes": consts,
        "ram_needed": ram_needed,
        "ram_parts": ram_parts,
        "ram_available": sram["length"] if sram else None,
        "flash_needed": flash_needed,
        "flash_parts": flash_parts,
        "flash_available": flash["length"] if flash else None,
        "dtcm_available": dtcm["length"] if dtcm else None,
        "checked": [n for n, r in (("SRAM", sram), ("FLASH", flash)) if r is not None],
    }


def weights_ld(section: str) -> str:
    return f"""/*
 * Generated by utvm. Included by Zephyr's linker script through
 * zephyr_linker_sources(ROM_SECTIONS ...), ahead of the .rodata output
 * section: the model's weights ({section}) get an output section of their
 * own in ROMABLE_REGION (flash on XIP boards).
 */
SECTION_PROLOGUE(.utvm_weights,,)
{{
	. = ALIGN(16);
	__utvm_weights_start = .;
	KEEP(*("{section}"))
	KEEP(*("{section}.*"))
	__utvm_weights_end = .;
}} GROUP_LINK_IN(ROMABLE_REGION)
"""


def arena_ld(section: str, alignment: int) -> str:
    return f"""/*
 * Generated by utvm. Included by Zephyr's linker script through
 * zephyr_linker_sources(RAM_SECTIONS ...), ahead of .bss: the model's
 * activation arena ({section}) in a NOLOAD section of RAMABLE_REGION, not
 * zeroed at boot (every intermediate tensor is written before it is read).
 */
SECTION_PROLOGUE(.utvm_arena,(NOLOAD),)
{{
	. = ALIGN({alignment});
	__utvm_arena_start = .;
	*("{section}")
	*("{section}.*")
	__utvm_arena_end = .;
}} GROUP_NOLOAD_LINK_IN(RAMABLE_REGION, RAMABLE_REGION)
"""


def prj_conf(target: str, kind: str, facts: dict[str, Any], plan: dict[str, Any], options: dict[str, Any]) -> str:
    lines = [f"# Generated by utvm for Zephyr board target {target} ({kind}).",
             f"# Board facts: {facts.get('source')} ({facts.get('cpu')}, {', '.join(facts.get('features') or []) or 'no ISA extensions'}).",
             "CONFIG_SERIAL=y"]
    if kind == "host_driven":
        lines += [
            "# The console UART carries the RPC link: interrupt-driven, through ring buffers,",
            "# and nothing else may print on it.",
            "CONFIG_UART_INTERRUPT_DRIVEN=y",
            "CONFIG_RING_BUFFER=y",
            "CONFIG_CONSOLE=n",
            "CONFIG_UART_CONSOLE=n",
            "CONFIG_PRINTK=n",
            "CONFIG_BOOT_BANNER=n",
            "CONFIG_LOG=n",
        ]
    else:
        lines += ["# Outputs are printed with printk on the console UART.",
                  "CONFIG_CONSOLE=y", "CONFIG_UART_CONSOLE=y", "CONFIG_PRINTK=y"]
    lines += ["# The model runs on the main thread: RPC server or standalone runner, and the kernels.",
              f"CONFIG_MAIN_STACK_SIZE={int(options['main_stack_size'])}"]
    opt = {"speed": "CONFIG_SPEED_OPTIMIZATIONS=y", "size": "CONFIG_SIZE_OPTIMIZATIONS=y",
           "debug": "CONFIG_DEBUG_OPTIMIZATIONS=y"}[options["optimize"]]
    lines.append(opt)
    if "fpu" in (facts.get("features") or []):
        why = "CONFIG_CPU_HAS_FPU in the configured board" if facts.get("source") == "configured-build" else \
            "the devicetree's CPU compatible"
        lines += [f"# {facts.get('cpu')} has an FPU ({why}): use it (float outputs, dequantize)", "CONFIG_FPU=y"]
    if plan["arena_region"] == "dtcm":
        lines += ["# The arena goes to DTCM through zephyr_code_relocate() (CMakeLists.txt).",
                  "CONFIG_CODE_DATA_RELOCATION=y"]
    return "\n".join(lines) + "\n"


def cmakelists(target: str, kind: str, model: ModelProject, plan: dict[str, Any], emulated: bool) -> str:
    sources = "\n  ".join(["src/main.c", *model.sources])
    includes = "\n  ".join(model.include_dirs)
    model_c = model.sources[0]
    run = "west build -d build -t run      # runs it in QEMU" if emulated else \
        "west flash -d build             # writes it with the board's runner"
    if plan["arena_region"] == "dtcm":
        arena = (
            "# The activation arena goes to DTCM (the board's chosen zephyr,dtcm): Zephyr's code/data\n"
            "# relocation moves this file's .bss.* sections (the arena) there; its weights stay in flash.\n"
            f"zephyr_code_relocate(FILES {model_c} LOCATION DTCM_BSS)\n"
        )
    else:
        arena = (
            "# The activation arena: a NOLOAD section at the start of RAMABLE_REGION (before .bss,\n"
            "# which would otherwise take .bss.*), so it is not zeroed at boot.\n"
            "zephyr_linker_sources(RAM_SECTIONS utvm/arena.ld)\n"
        )
    return f"""# Generated by utvm: model '{model.name}' as a Zephyr application for board target
# '{target}' ({kind}). It builds with Zephyr's own tools, without utvm:
#   west build -b {target} -d build .
#   {run}
cmake_minimum_required(VERSION 3.20.0)
find_package(Zephyr REQUIRED HINTS $ENV{{ZEPHYR_BASE}})
project(utvm_{model.name} LANGUAGES C)

target_sources(app PRIVATE
  {sources}
)
target_include_directories(app PRIVATE
  {includes}
)
target_compile_definitions(app PRIVATE
  UTVM_RPC_MAX_PAYLOAD={RPC_MAX_PAYLOAD}
  UTVM_RX_RING_BYTES={RX_RING_BYTES}
  UTVM_TX_RING_BYTES={TX_RING_BYTES}
)

# Placement of the model's sections with Zephyr's linker mechanisms (see docs/zephyr.md).
# The weights: an output section of their own in ROMABLE_REGION, placed before .rodata
# (the ROM_SECTIONS location exists from Zephyr 3.7; before, they stay in .rodata, in flash too).
if(Zephyr_VERSION VERSION_GREATER_EQUAL 3.7)
  zephyr_linker_sources(ROM_SECTIONS utvm/weights.ld)
endif()
{arena}"""


def write_project(project_dir: Path, target: str, kind: str, model: ModelProject, facts: dict[str, Any],
                  plan: dict[str, Any], options: dict[str, Any], record: dict[str, Any]) -> list[str]:
    md = model.metadata
    emulated = record.get("emulator") == "qemu"
    files = {
        "CMakeLists.txt": cmakelists(target, kind, model, plan, emulated),
        "prj.conf": prj_conf(target, kind, facts, plan, options),
        "src/main.c": template_text(TEMPLATES[kind]),
        "utvm/weights.ld": weights_ld(md["memory"].get("constants_section", ".rodata.utvm_weights")),
        "utvm/arena.ld": arena_ld(md["memory"].get("arena_section", ".bss.utvm_arena"),
                                  int(md["memory"].get("arena_alignment", 16))),
        RECORD: json.dumps(record, indent=2) + "\n",
    }
    for rel, text in files.items():
        path = project_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return sorted(files) + ["model/"]
