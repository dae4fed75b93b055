"""The files of a generated Mbed OS project, and where the model's memory goes.

A project is an ordinary Mbed program that builds with the Mbed tools alone::

    PROJECT/
      CMakeLists.txt     mbed-tools layout (Mbed OS) or Mbed CE layout
      mbed_app.json      the UART's baud rate, Mbed's stdio console off, the application profile
      mbed-os.lib        (Mbed OS) the program's mbed-os reference, as mbed-tools expects
      mbed-os -> ...     a symbolic link to the user's mbed-os tree
      main.cpp           the platform layer (BufferedSerial, timer) and main()
      model/             the Model Library Format content, RPC glue, built-in inputs
      utvm_mbed.json     what utvm's build/flash/open_transport need
      README.md          how to build and flash by hand

Placement. The model's constants are in section ``.rodata.utvm_weights`` and its arena in
``.bss.utvm_arena`` (see docs/model-library-format.md). Mbed OS's GCC_ARM linker scripts gather
``*(.rodata*)`` into the flash image and ``*(.bss*)`` into zero-initialised RAM ahead of the heap,
in the target's ROM and main RAM banks (MBED_ROM_START/SIZE, MBED_RAM_START/SIZE, or Mbed CE's
first ROM and RAM banks). So by default the weights land in the primary ROM bank and the arena
in the primary RAM bank with no change to Mbed's scripts, and the generator checks the model
against those two banks. To put them elsewhere (a DTCM, an SRAM2, external SDRAM) give a linker
script: it is copied into the project and passed to Mbed's own override,
``mbed_set_post_build(APP utvm_linker.ld)``, which preprocesses it with the target's definitions
exactly like the built-in one; the check then uses the largest banks.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from .targets import FLAVOR_MBED_CE, Bank, MbedTree, TargetDescription

RECORD_FILE = "utvm_mbed.json"
LINKER_SCRIPT = "utvm_linker.ld"
TEMPLATE = Path(__file__).resolve().parent / "templates" / "main.cpp"

#: Bytes of ROM and RAM that Mbed OS itself takes besides the model, by application profile:
#: code of the OS, drivers, C library and the RPC server; RAM for the boot/ISR stack, the main,
#: idle and timer thread stacks, RTOS kernel data, the UART buffers and a minimum heap.
#: Estimates from GCC_ARM builds of small programs; the options rom_reserve / ram_reserve
#: replace them.
DEFAULT_RESERVE = {
    "full": {"rom": 64 * 1024, "ram": 20 * 1024},
    "bare-metal": {"rom": 24 * 1024, "ram": 6 * 1024},
}

_PROGRAM_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")


class FitError(Exception):
    """The model does not fit the target's memory (``region``, ``needed``, ``available``)."""

    def __init__(self, message: str, region: str, needed: int, available: int) -> None:
        super().__init__(message)
        self.region, self.needed, self.available = region, needed, available


def program_name(project_dir: Path) -> str:
    """The CMake target and image name: the folder's name, as mbed-tools names programs."""
    name = project_dir.name
    if _PROGRAM_NAME.match(name):
        return name
    cleaned = re.sub(r"[^A-Za-z0-9_-]", "_", name).strip("_-")
    if not cleaned or not cleaned[0].isalpha():
        cleaned = "utvm_" + cleaned
    return cleaned


# ---------------------------------------------------------------------------------------------
# Memory plan


@dataclass
class Placement:
    """Where the model's sections go and what is left."""

    rom: Bank | None
    ram: Bank | None
    rom_needed: int
    ram_needed: int
    details: dict[str, int]
    mechanism: str

    def to_json(self) -> dict[str, Any]:
        def bank(b: Bank | None) -> Any:
            return None if b is None else {"name": b.name, "origin": b.origin, "length": b.length}

        return {"mechanism": self.mechanism, "rom": bank(self.rom), "ram": bank(self.ram),
                "rom_needed": self.rom_needed, "ram_needed": self.ram_needed, **self.details}


def _io_bytes(entries: Sequence[Mapping[str, Any]]) -> int:
    return sum(int(e.get("bytes", 0)) for e in entries)


def plan_memory(metadata: Mapping[str, Any], desc: TargetDescription, project_type: str, profile: str,
                rom_reserve: int | None, ram_reserve: int | None, custom_script: bool) -> Placement:
    """Check that the model fits the target (raises FitError with the numbers)."""
    mem = metadata.get("memory", {})
    arena = int(mem.get("arena_bytes", 0)) + max(int(mem.get("arena_alignment", 0)) - 1, 0)
    constants = int(mem.get("constants_bytes", 0))
    inputs = _io_bytes(metadata.get("inputs", []))
    outputs = _io_bytes(metadata.get("outputs", []))
    builtin = inputs + outputs if project_type == "standalone" else 0  # inputs and expected outputs in flash
    reserve = DEFAULT_RESERVE[profile]
    rom_res = reserve["rom"] if rom_reserve is None else rom_reserve
    ram_res = reserve["ram"] if ram_reserve is None else ram_reserve
    details = {"arena_bytes": arena, "constants_bytes": constants, "io_bytes": inputs + outputs,
               "builtin_data_bytes": builtin, "rom_reserve": rom_res, "ram_reserve": ram_res}
    rom_needed = constants + builtin + rom_res
    ram_needed = arena + inputs + outputs + ram_res
    if custom_script:
        rom = max((b for b in desc.banks if b.kind == "rom"), key=lambda b: b.length, default=None)
        ram = max((b for b in desc.banks if b.kind == "ram"), key=lambda b: b.length, default=None)
        mechanism = f"custom linker script ({LINKER_SCRIPT}) through mbed_set_post_build"
    else:
        rom, ram = desc.primary("rom"), desc.primary("ram")
        mechanism = ("Mbed's linker script: *(.rodata*) -> primary ROM bank, *(.bss*) -> primary RAM bank")
    where = f"{desc.name}"
    if rom is not None and rom_needed > rom.length:
        raise FitError(
            f"model '{metadata.get('model')}' needs {rom_needed} bytes of ROM (weights {constants}"
            + (f" + built-in inputs/outputs {builtin}" if builtin else "")
            + f" + Mbed OS and code reserve {rom_res}) but {where}'s ROM bank {rom.name} has {rom.length}"
            + f" ({rom_needed - rom.length} too many); lower rom_reserve only if the build's map file allows it",
            rom.name, rom_needed, rom.length)
    if ram is not None and ram_needed > ram.length:
        raise FitError(
            f"model '{metadata.get('model')}' needs {ram_needed} bytes of RAM (arena {arena} + inputs/outputs "
            f"{inputs + outputs} + Mbed OS reserve {ram_res}) but {where}'s RAM bank {ram.name} has {ram.length}"
            f" ({ram_needed - ram.length} too many)" + ("" if custom_script else
                                                        "; a linker script (option linker_script) can place "
                                                        ".bss.utvm_arena in another RAM bank"),
            ram.name, ram_needed, ram.length)
    return Placement(rom, ram, rom_needed, ram_needed, details, mechanism)


# ---------------------------------------------------------------------------------------------
# Files


def main_cpp(target: str, project_type: str, baud: int, timer: str) -> str:
    lines = [
        f"/* Generated by utvm for Mbed OS target {target} ({project_type}). */",
        f"#define UTVM_MBED_STANDALONE {1 if project_type == 'standalone' else 0}",
        f"#define UTVM_MBED_BAUD {baud}",
    ]
    if timer == "microseconds":
        lines.append("#define UTVM_MBED_TIMER_US 1")
    return "\n".join(lines) + "\n" + TEMPLATE.read_text()


def mbed_app_json(desc: TargetDescription, flavor: str, baud: int, profile: str) -> str:
    overrides: dict[str, Any] = {
        "platform.stdio-baud-rate": baud,
        "platform.default-serial-baud-rate": baud,
    }
    if desc.has_config("console-uart"):
        # main.cpp owns the console UART: Mbed's stdio must not write to it.
        overrides["target.console-uart"] = False
    app: dict[str, Any] = {}
    if profile == "bare-metal":
        if flavor == FLAVOR_MBED_CE:
            overrides["target.application-profile"] = "bare-metal"
        else:
            app["requires"] = ["bare-metal"]
    app["target_overrides"] = {"*": overrides}
    return json.dumps(app, indent=4) + "\n"


def cmakelists(flavor: str, name: str, target: str, sources: Sequence[str], include_dirs: Sequence[str],
               profile: str, linker_script: bool) -> str:
    library = "mbed-baremetal" if profile == "bare-metal" else "mbed-os"
    srcs = "\n    ".join(["main.cpp", *sources])
    incs = "\n    ".join(include_dirs)
    post = f"mbed_set_post_build(${{APP_TARGET}} {LINKER_SCRIPT})" if linker_script else "mbed_set_post_build(${APP_TARGET})"
    body = f"""add_executable(${{APP_TARGET}}
    {srcs}
)

target_include_directories(${{APP_TARGET}} PRIVATE
    {incs}
)

target_link_libraries(${{APP_TARGET}} {library})

{post}
"""
    if flavor == FLAVOR_MBED_CE:
        return f"""# Generated by utvm: an Mbed CE application for {target}.
#   cmake -S . -B build -G Ninja && cmake --build build
# builds build/{name}.bin (MBED_TARGET below; -DMBED_TARGET=... chooses another).
cmake_minimum_required(VERSION 3.19)
cmake_policy(VERSION 3.19...3.22)

set(MBED_TARGET {target} CACHE STRING "Mbed OS target")
set(MBED_APP_JSON_PATH mbed_app.json)
set(APP_TARGET {name})

include(mbed-os/tools/cmake/mbed_toolchain_setup.cmake)
project(${{APP_TARGET}} LANGUAGES C CXX ASM)
include(mbed_project_setup)

add_subdirectory(mbed-os)

{body}"""
    return f"""# Generated by utvm: an Mbed OS program for {target}, in the mbed-tools layout.
#   mbed-tools compile -m {target} -t GCC_ARM
# builds cmake_build/{target}/develop/GCC_ARM/{name}.bin
cmake_minimum_required(VERSION 3.19.0)

set(MBED_PATH ${{CMAKE_CURRENT_SOURCE_DIR}}/mbed-os CACHE INTERNAL "")
set(MBED_CONFIG_PATH ${{CMAKE_CURRENT_BINARY_DIR}} CACHE INTERNAL "")
set(APP_TARGET {name})

include(${{MBED_PATH}}/tools/cmake/app.cmake)

project(${{APP_TARGET}})

add_subdirectory(${{MBED_PATH}})

{body}
option(VERBOSE_BUILD "Have a verbose build process")
if(VERBOSE_BUILD)
    set(CMAKE_VERBOSE_MAKEFILE ON)
endif()
"""


def mbed_os_reference(tree: MbedTree) -> str:
    """The mbed-os.lib line: the tree's upstream and, when the checkout says, its commit."""
    url = "https://github.com/mbed-ce/mbed-os" if tree.flavor == FLAVOR_MBED_CE else "https://github.com/ARMmbed/mbed-os"
    ref = _git_head(tree.root) or "master"
    return f"{url}#{ref}\n"


def _git_head(root: Path) -> str | None:
    git = root / ".git"
    try:
        head = (git / "HEAD").read_text().strip()
    except OSError:
        return None
    if re.fullmatch(r"[0-9a-f]{40}", head):
        return head
    if head.startswith("ref: "):
        ref = head[5:]
        try:
            value = (git / ref).read_text().strip()
            if re.fullmatch(r"[0-9a-f]{40}", value):
                return value
        except OSError:
            pass
        try:
            for line in (git / "packed-refs").read_text().splitlines():
                parts = line.split()
                if len(parts) == 2 and parts[1] == ref:
                    return parts[0]
        except OSError:
            pass
    return None


def readme(desc: TargetDescription, flavor: str, name: str, project_type: str, placement: Placement | None,
           baud: int, memory_note: str) -> str:
    if flavor == FLAVOR_MBED_CE:
        build = f"cmake -S . -B build -G Ninja -DMBED_TARGET={desc.name}\ncmake --build build"
        image = f"build/{name}.bin"
    else:
        build = f"mbed-tools compile -m {desc.name} -t GCC_ARM"
        image = f"cmake_build/{desc.name}/develop/GCC_ARM/{name}.bin"
    if placement is not None:
        p = placement
        place = (f"- weights (`.rodata.utvm_weights`, {p.details['constants_bytes']} bytes) -> "
                 f"{p.rom.name if p.rom else '?'}\n"
                 f"- arena (`.bss.utvm_arena`, {p.details['arena_bytes']} bytes) -> {p.ram.name if p.ram else '?'}\n"
                 f"- mechanism: {p.mechanism}\n"
                 f"- checked: ROM {p.rom_needed} of {p.rom.length if p.rom else '?'} bytes, "
                 f"RAM {p.ram_needed} of {p.ram.length if p.ram else '?'} bytes (reserves for Mbed OS included)\n")
    else:
        place = f"- not checked: {memory_note}\n"
    return f"""# {name}: a utvm model on Mbed OS ({desc.name}, {project_type})

Generated by utvm. It builds with the Mbed tools alone:

```sh
{build}
```

and the image is `{image}`: copy it to the board's USB drive (`mbed-tools detect` lists it) or
flash it with pyOCD. The model talks over the board's USB serial port at {baud} baud, 8N1.

`mbed-os` is a link to the mbed-os tree the project was generated from.

## Memory placement

{place}"""


def copy_linker_script(src: Path, project_dir: Path) -> None:
    shutil.copyfile(src, project_dir / LINKER_SCRIPT)


def read_upload_cfg(tree: MbedTree, target: str) -> dict[str, str]:
    """``set(NAME value)`` lines of Mbed CE's targets/upload_method_cfg/TARGET.cmake."""
    path = tree.upload_cfg_dir / f"{target}.cmake"
    values: dict[str, str] = {}
    try:
        text = path.read_text()
    except OSError:
        return values
    for m in re.finditer(r"^\s*set\(\s*([A-Za-z0-9_]+)\s+([^)\s]+)[^)]*\)", text, re.MULTILINE):
        values[m.group(1)] = m.group(2)
    return values
