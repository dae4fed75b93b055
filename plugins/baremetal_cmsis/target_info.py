"""The ``target_info`` answer for a board, and the compiler flags for its device.

Board and device facts come from the board file and the CMSIS pack. What this module adds is Arm
ISA knowledge that holds for every chip with a given core (which architecture a Cortex-M core
implements, which FPU it can have, how GCC names it): a table of cores, not board data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from utvm.errors import UtvmError

from .targets import Board, Device


@dataclass(frozen=True)
class CoreInfo:
    """What the Arm architecture says about a Cortex-M core."""

    cpu: str  # the name target_info reports, GCC's -mcpu spelling
    arch: str  # the architecture it implements (GCC's -march base)
    gcc_cpu: str | None  # -mcpu for arm-none-eabi-gcc 12, or None if GCC 12 does not know the core
    dsp: str  # "always", "optional" or "never"
    fpu_sp: str | None = None  # -mfpu for a single-precision FPU (v7-M / v8-M mainline)
    fpu_dp: str | None = None  # -mfpu for a double-precision FPU
    ext_fpu: bool = False  # FPU and MVE chosen by -mcpu/-march extensions (+nofp, +nomve...)
    mve: bool = False  # may have the M-profile Vector Extension
    trustzone: bool = False  # may have the Security Extension


#: Keyed by the pack's Dcore value.
CORES: dict[str, CoreInfo] = {
    "Cortex-M0": CoreInfo("cortex-m0", "armv6-m", "cortex-m0", "never"),
    "Cortex-M0+": CoreInfo("cortex-m0plus", "armv6-m", "cortex-m0plus", "never"),
    "Cortex-M1": CoreInfo("cortex-m1", "armv6-m", "cortex-m1", "never"),
    "SC000": CoreInfo("cortex-m0", "armv6-m", "cortex-m0", "never"),
    "Cortex-M3": CoreInfo("cortex-m3", "armv7-m", "cortex-m3", "never"),
    "SC300": CoreInfo("cortex-m3", "armv7-m", "cortex-m3", "never"),
    "Cortex-M4": CoreInfo("cortex-m4", "armv7e-m", "cortex-m4", "always", fpu_sp="fpv4-sp-d16"),
    "Cortex-M7": CoreInfo(
        "cortex-m7", "armv7e-m", "cortex-m7", "always", fpu_sp="fpv5-sp-d16", fpu_dp="fpv5-d16"
    ),
    "Cortex-M23": CoreInfo("cortex-m23", "armv8-m.base", "cortex-m23", "never", trustzone=True),
    "Cortex-M33": CoreInfo(
        "cortex-m33", "armv8-m.main", "cortex-m33", "optional", fpu_sp="fpv5-sp-d16", trustzone=True
    ),
    "Cortex-M35P": CoreInfo(
        "cortex-m35p", "armv8-m.main", "cortex-m35p", "optional", fpu_sp="fpv5-sp-d16", trustzone=True
    ),
    "Star-MC1": CoreInfo("star-mc1", "armv8-m.main", None, "optional", fpu_sp="fpv5-sp-d16", trustzone=True),
    "Cortex-M52": CoreInfo("cortex-m52", "armv8.1-m.main", None, "optional", ext_fpu=True, mve=True, trustzone=True),
    "Cortex-M55": CoreInfo(
        "cortex-m55", "armv8.1-m.main", "cortex-m55", "optional", ext_fpu=True, mve=True, trustzone=True
    ),
    "Cortex-M85": CoreInfo("cortex-m85", "armv8.1-m.main", None, "optional", ext_fpu=True, mve=True, trustzone=True),
}


def core_info(core: str) -> CoreInfo:
    """The ISA facts of a pack's Dcore; UtvmError for a core that is not a Cortex-M."""
    info = CORES.get(core)
    if info is None:
        folded = {k.lower(): v for k, v in CORES.items()}
        info = folded.get(core.lower())
    if info is None:
        raise UtvmError(
            f"core {core!r} is not a Cortex-M core this platform builds for; known: {', '.join(CORES)}"
        )
    return info


def features(device: Device) -> list[str]:
    """ISA features of a device, in the compiler's vocabulary."""
    info = core_info(device.core)
    out = []
    if device.dsp or info.dsp == "always":
        out.append("dsp")
    if device.fpu != "NO_FPU":
        out.append("fpu")
    if device.mve in ("MVE", "FP_MVE"):
        out.append("mve")
    if device.mve == "FP_MVE":
        out.append("mve.fp")
    if device.trustzone:
        out.append("trustzone")
    return out


def float_abi(device: Device) -> dict[str, str | None]:
    """``{"mfpu": ..., "mfloat_abi": ...}``: the FPU GCC should use (None: implied by -mcpu)."""
    info = core_info(device.core)
    if device.fpu == "NO_FPU":
        if info.ext_fpu and device.mve != "NO_MVE":
            # integer MVE without an FPU still has the vector register file: GCC enables MVE only
            # with a hard or softfp ABI, and its multilibs include v8.1-m.main+mve/hard
            return {"mfpu": None, "mfloat_abi": "hard"}
        return {"mfpu": None, "mfloat_abi": "soft"}
    if info.ext_fpu:
        return {"mfpu": None, "mfloat_abi": "hard"}
    mfpu = info.fpu_dp if device.fpu == "DP_FPU" and info.fpu_dp else info.fpu_sp
    if mfpu is None:
        # a pack claiming an FPU on a core that cannot have one: build without it
        return {"mfpu": None, "mfloat_abi": "soft"}
    return {"mfpu": mfpu, "mfloat_abi": "hard"}


def _v81m_flags(info: CoreInfo, device: Device, has_dsp: bool) -> list[str]:
    """-mcpu (or -march) for an Armv8.1-M core, where FPU and MVE are architecture extensions."""
    if info.gcc_cpu and device.fpu != "SP_FPU":
        # GCC 12's cortex-m55 knows +nofp, +nomve, +nomve.fp, +nodsp (not +nofp.dp)
        ext = ""
        if device.fpu == "NO_FPU":
            ext += "+nofp"
            if device.mve == "NO_MVE":
                ext += "+nomve"
        elif device.mve == "NO_MVE":
            ext += "+nomve"
        elif device.mve == "MVE":
            ext += "+nomve.fp"
        if not has_dsp and device.mve == "NO_MVE":
            ext += "+nodsp"
        return [f"-mcpu={info.gcc_cpu}{ext}"]
    # a core GCC 12 does not name, or a single-precision-only FPU: spell out the architecture
    march = info.arch
    if has_dsp or device.mve != "NO_MVE":
        march += "+dsp"
    if device.mve == "FP_MVE" and device.fpu != "NO_FPU":
        march += "+mve.fp"
    elif device.mve in ("MVE", "FP_MVE"):
        march += "+mve"
    if device.fpu == "DP_FPU":
        march += "+fp.dp"
    elif device.fpu == "SP_FPU":
        march += "+fp"
    flags = [f"-march={march}"]
    if info.gcc_cpu:
        flags.append(f"-mtune={info.gcc_cpu}")
    return flags


def gcc_cpu_flags(device: Device) -> list[str]:
    """arm-none-eabi-gcc (12) flags selecting the device's core, FPU and float ABI."""
    info = core_info(device.core)
    abi = float_abi(device)
    has_dsp = device.dsp or info.dsp == "always"
    if info.ext_fpu:
        return _v81m_flags(info, device, has_dsp) + ["-mthumb", f"-mfloat-abi={abi['mfloat_abi']}"]

    if info.gcc_cpu:
        cpu = info.gcc_cpu
        if info.dsp == "optional" and not has_dsp:
            cpu += "+nodsp"
        if device.fpu == "NO_FPU" and (info.fpu_sp or info.fpu_dp):
            cpu += "+nofp"
        flags = [f"-mcpu={cpu}"]
    else:
        march = info.arch
        if has_dsp and info.dsp != "never":
            march += "+dsp"
        flags = [f"-march={march}"]
    flags.append("-mthumb")
    if abi["mfpu"]:
        flags.append(f"-mfpu={abi['mfpu']}")
    flags.append(f"-mfloat-abi={abi['mfloat_abi']}")
    return flags


def memory_regions(device: Device) -> list[dict[str, Any]]:
    return [
        {
            "name": r.name,
            "origin": r.origin,
            "length": r.length,
            "access": r.access,
            "startup": r.startup,
            "default": r.default,
        }
        for r in device.memory
        if r.access and r.length > 0
    ]


def cpu_clock_hz(board: Board, device: Device) -> int:
    """The clock the core runs at on this board (board file), else the pack's Dclock."""
    return int(board.extra.get("cpu_clock_hz") or device.clock_hz)


def target_info(board: Board, device: Device) -> dict[str, Any]:
    """The Project API ``target_info`` answer for a board and its device (docs/project-api.md)."""
    info = core_info(device.core)
    abi = float_abi(device)
    return {
        "board": board.name,
        "device": device.name,
        "vendor": device.vendor,
        "core": device.core,
        "cpu": info.cpu,
        "arch": info.arch,
        "features": features(device),
        "fpu": device.fpu,
        "mve": device.mve,
        "mfpu": abi["mfpu"],
        "mfloat_abi": abi["mfloat_abi"],
        "gcc_flags": gcc_cpu_flags(device),
        "endianness": "little",
        "clock_hz": cpu_clock_hz(board, device),
        "memory_regions": memory_regions(device),
        "console": dict(board.console),
        "emulator": board.emulator["kind"] if board.emulator else None,
        "probe": board.probe["kind"] if board.probe else None,
        "semihosting": bool(board.extra.get("semihosting")),
        "pack": str(device.pack),
    }
