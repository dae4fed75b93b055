"""What a board is, for the compiler: CPU family, ISA features and memory limits.

Everything comes from the board's resolved properties (boards.txt with its menu choices, and
platform.txt): ``build.mcu`` names the CPU, ``build.fpu`` / ``build.float-abi`` tell whether
an Arm core has its FPU on, ``upload.maximum_size`` and ``upload.maximum_data_size`` are the
flash and RAM the core lets a sketch use, ``build.f_cpu`` the clock. For AVR parts the
toolchain's own device headers (avr-libc, through ``avr-gcc -mmcu=MCU``) add the AVR
architecture, where the RAM starts and the address of GPIOR0 (the emulator's marker register).

AVR boards ask the compiler for ``"const_address_space": "__flash"``: on AVR, plain ``const``
data is copied into the 2-8 KiB of RAM at startup, so the weights must stay in flash and the
kernels read them through ``__flash`` pointers (see core/codegen.py).
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
from typing import Any

from .cores import Board, expand, parse_int

#: Arm cores as ``build.mcu`` names them: (architecture, ISA features besides the FPU).
#: This is knowledge of the Arm architecture, not of any board.
ARM_CORES = {
    "cortex-m0": ("armv6-m", ()),
    "cortex-m0plus": ("armv6-m", ()),
    "cortex-m1": ("armv6-m", ()),
    "cortex-m3": ("armv7-m", ()),
    "cortex-m4": ("armv7e-m", ("dsp",)),
    "cortex-m7": ("armv7e-m", ("dsp",)),
    "cortex-m23": ("armv8-m.base", ()),
    "cortex-m33": ("armv8-m.main", ("dsp",)),
    "cortex-m35p": ("armv8-m.main", ("dsp",)),
    "cortex-m55": ("armv8.1-m.main", ("dsp", "mve")),
    "cortex-m85": ("armv8.1-m.main", ("dsp", "mve")),
}
_AVR_MCU = re.compile(r"(atmega|attiny|at90|atxmega|avr)", re.IGNORECASE)
AVR_CONST_ADDRESS_SPACE = "__flash"
#: GPIOR0 on the megaAVR parts (I/O address 0x1E): the default marker register.
DEFAULT_AVR_MARKER = 0x3E


def family(board: Board) -> str:
    """"avr", "arm" or the core's architecture folder name."""
    mcu = (board.get("build.mcu") or "").strip()
    cc = board.get("compiler.c.cmd") or ""
    if board.core.arch == "avr" or "avr-gcc" in cc or _AVR_MCU.match(mcu):
        return "avr"
    if mcu.lower() in ARM_CORES or mcu.lower().startswith("cortex-"):
        return "arm"
    return board.core.arch


def is_avr(board: Board) -> bool:
    return family(board) == "avr"


def limits(board: Board) -> tuple[int | None, int | None]:
    """(flash bytes, RAM bytes) a sketch may use, from upload.maximum_size / maximum_data_size."""
    return parse_int(board.get("upload.maximum_size")), parse_int(board.get("upload.maximum_data_size"))


def clock_hz(board: Board) -> int | None:
    return parse_int(board.get("build.f_cpu"))


def compiler_command(board: Board, which: str = "c") -> str:
    """The core's C (``c``) or C++ (``cpp``) compiler, from platform.txt."""
    props = board.build_properties()
    path = expand(props.get("compiler.path", ""), props)
    cmd = expand(props.get(f"compiler.{which}.cmd", "gcc" if which == "c" else "g++"), props)
    return path + cmd


@functools.lru_cache(maxsize=64)
def _avr_macros(compiler: str, mcu: str) -> dict[str, str]:
    exe = shutil.which(compiler)
    if exe is None:
        return {}
    try:
        proc = subprocess.run(
            [exe, f"-mmcu={mcu}", "-dM", "-E", "-x", "c", "-"],
            input="#include <avr/io.h>\n",
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError):
        return {}
    if proc.returncode != 0:
        return {}
    macros = {}
    for line in proc.stdout.splitlines():
        parts = line.split(None, 2)
        if len(parts) == 3 and parts[0] == "#define":
            macros[parts[1]] = parts[2]
    return macros


def _sfr_address(text: str | None, sfr_offset: int) -> int | None:
    """The data-space address of an SFR macro such as ``_SFR_IO8(0x1E)``."""
    if not text:
        return None
    m = re.search(r"_SFR_(IO|MEM)8\s*\(\s*(0x[0-9A-Fa-f]+|\d+)\s*\)", text)
    if not m:
        return None
    value = int(m.group(2), 0)
    return value + sfr_offset if m.group(1) == "IO" else value


def avr_device(board: Board) -> dict[str, Any]:
    """Facts of the board's AVR part from the toolchain's device headers ({} without the toolchain)."""
    mcu = board.get("build.mcu") or ""
    macros = _avr_macros(compiler_command(board, "c"), mcu)
    if not macros:
        return {}
    def num(name: str) -> int | None:
        return parse_int((macros.get(name) or "").strip("() "))
    sfr_offset = num("__SFR_OFFSET")
    facts: dict[str, Any] = {
        "avr_arch": num("__AVR_ARCH__"),
        "ram_start": num("RAMSTART"),
        "ram_end": num("RAMEND"),
        "flash_end": num("FLASHEND"),
        "marker_address": _sfr_address(macros.get("GPIOR0"), 0x20 if sfr_offset is None else sfr_offset),
    }
    return {k: v for k, v in facts.items() if v is not None}


def target_info(board: Board) -> dict[str, Any]:
    """The board's target_info (docs/project-api.md): cpu, arch, features, memory regions, and more."""
    mcu = (board.get("build.mcu") or "").strip()
    fam = family(board)
    flash, ram = limits(board)
    info: dict[str, Any] = {
        "board": board.fqbn,
        "fqbn": board.full_fqbn,
        "name": board.name,
        "core": board.core.id,
        "core_version": board.core.version,
        "family": fam,
        "cpu": mcu or board.core.arch,
        "arch": board.core.arch,
        "features": [],
    }
    clock = clock_hz(board)
    if clock:
        info["clock_hz"] = clock
    regions = []
    if fam == "avr":
        device = avr_device(board)
        info["arch"] = f"avr{device['avr_arch']}" if device.get("avr_arch") else "avr"
        info["int_bits"] = 16
        info["const_address_space"] = AVR_CONST_ADDRESS_SPACE
        if flash is not None:
            regions.append({"name": "FLASH", "origin": 0, "length": flash, "access": "rx"})
        if ram is not None:
            regions.append({"name": "RAM", "origin": 0x800000 + int(device.get("ram_start", 0)), "length": ram,
                            "access": "rw"})
    else:
        if fam == "arm":
            arch, feats = ARM_CORES.get(mcu.lower(), ("arm", ()))
            info["arch"] = arch
            features = list(feats)
            fpu = (board.get("build.fpu") or "").strip()
            abi = (board.get("build.float-abi") or "").strip()
            if fpu and "soft" != abi.rsplit("=", 1)[-1]:
                features.append("fpu")
            info["features"] = features
        if flash is not None:
            regions.append({"name": "FLASH", "origin": 0, "length": flash, "access": "rx"})
        if ram is not None:
            regions.append({"name": "RAM", "origin": 0, "length": ram, "access": "rw"})
    info["memory_regions"] = regions
    return info
