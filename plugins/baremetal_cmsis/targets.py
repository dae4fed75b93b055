"""What the baremetal_cmsis platform knows about devices and boards.

A :class:`Device` is read from a CMSIS-Pack description (.pdsc); a
:class:`Board` from a board file that names a device and how to reach it.
These types are the contract between the data readers (packs.py, boards.py)
and the project generator, builder and runners.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class MemoryRegion:
    """One memory of a device, as a pack's <memory> element gives it."""

    name: str  # the pack's id or name, e.g. "IROM1", "IRAM1", "DTCM"
    origin: int
    length: int
    access: str  # subset of "rwx"
    startup: bool = False  # holds the vector table and boot code
    default: bool = False

    @property
    def executable(self) -> bool:
        return "x" in self.access

    @property
    def writable(self) -> bool:
        return "w" in self.access


@dataclass(frozen=True)
class Device:
    """A device of a CMSIS-Pack."""

    name: str  # Dname, e.g. "CMSDK_CM4_FP"
    vendor: str  # Dvendor, e.g. "ARM:82"
    core: str  # Dcore, e.g. "Cortex-M4"
    fpu: str  # Dfpu: "NO_FPU", "SP_FPU" or "DP_FPU"
    dsp: bool  # Ddsp == "DSP"
    mve: str  # Dmve: "NO_MVE", "MVE" (integer) or "FP_MVE"
    trustzone: bool  # Dtz == "TZ"
    clock_hz: int  # Dclock
    memory: tuple[MemoryRegion, ...]
    pack: Path  # the .pdsc it came from


@dataclass(frozen=True)
class Board:
    """A board file: which device, how to emulate or probe it, and its console UART."""

    name: str
    description: str
    device: str  # a Device name found on the pack search path
    console: dict[str, Any]  # {"driver": "cmsdk_uart", "base": int, "baud": int, "clock_hz": int}
    emulator: dict[str, Any] | None = None  # {"kind": "qemu", "machine": "mps2-an386", ...}
    probe: dict[str, Any] | None = None  # {"kind": "pyocd", "target": ...} / {"kind": "openocd", ...}
    source: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)
