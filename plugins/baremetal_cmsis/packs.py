"""Devices from CMSIS-Pack descriptions (.pdsc files).

A CMSIS-Pack describes its devices in a ``<vendor>.<name>.pdsc`` XML file (schema PACK.xsd,
https://open-cmsis-pack.github.io/Open-CMSIS-Pack-Spec/). This module finds such files and reads
from them what the platform needs: each device's core, FPU, DSP, MVE, TrustZone, clock and
memories, as :class:`~utvm.platforms.baremetal_cmsis.targets.Device`.

Where .pdsc files are found, in order of precedence (a device name found earlier wins):

1. the folders in the environment variable ``UTVM_CMSIS_PACKS`` (``os.pathsep``-separated),
   each searched recursively for ``*.pdsc``;
2. the CMSIS pack root as the CMSIS-Toolbox lays it out: ``$CMSIS_PACK_ROOT``, by default
   ``~/.cache/arm/packs`` (``%LOCALAPPDATA%\\Arm\\Packs`` on Windows), holding
   ``<Vendor>/<Pack>/<version>/*.pdsc``; only the newest installed version of each pack is read;
3. the packs shipped with this plugin (``data/packs``), which describe the Arm MPS2/MPS3 FPGA
   images QEMU emulates.

How the description is read, as the pack specification says:

- devices inherit from their ``<family>`` and ``<subFamily>``; a ``<variant>`` is a device of its
  own that inherits from its ``<device>``;
- ``<processor>`` attributes add up down that chain (an inner one overrides an outer one);
- ``<memory>`` elements accumulate; one with the same ``name`` as an inherited one (or ``id``, for
  old packs without ``name``) extends and overrides it;
- a memory's ``access`` letters ``r``, ``w``, ``x`` are kept (``s``, ``n``, ``c`` describe
  security, ``p`` marks peripheral areas, which are skipped); old-style memories without
  ``access`` get it from their ``id``: ``IROMn``/``ROMn`` are ``rx``, ``IRAMn``/``RAMn`` are
  ``rw``; otherwise the schema's default ``r`` applies;
- on multi-processor devices (``Pname``), the first processor named is the one described.

A file that cannot be read (not XML, no ``<package>``, a device without a core, a bad number...)
is reported, with its path and the reason, as a :class:`PackWarning`, and skipped; the other files
still count. Files with a DOCTYPE or ENTITY declaration are refused (no entity expansion: a .pdsc
never needs one).
"""

from __future__ import annotations

import difflib
import os
import re
import sys
import warnings
import xml.etree.ElementTree as ET
import xml.parsers.expat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from utvm.errors import UtvmError

from .targets import Device, MemoryRegion

ENV_PACKS = "UTVM_CMSIS_PACKS"
ENV_PACK_ROOT = "CMSIS_PACK_ROOT"
SHIPPED_PACKS = Path(__file__).resolve().parent / "data" / "packs"

FPU_KINDS = ("NO_FPU", "SP_FPU", "DP_FPU")
MVE_KINDS = ("NO_MVE", "MVE", "FP_MVE")

# Architecture facts (not board data): cores whose architecture always includes the DSP
# extension, used when a pack does not say (Ddsp is optional and older packs omit it).
_DSP_ALWAYS = frozenset({"Cortex-M4", "Cortex-M7"})
# Cortex-M55/M85 FPUs, when present, do double precision: the deprecated Dfpu="FPU"/"1" means DP.
_FPU_IS_DP = frozenset({"Cortex-M55", "Cortex-M85"})


class PackError(UtvmError):
    """A .pdsc file could not be read: ``path`` and ``reason``."""

    def __init__(self, path: Path | str, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = Path(path)
        self.reason = reason


class DeviceNotFound(UtvmError):
    """No pack on the search path describes the device (``name``, ``close``, ``searched``)."""

    def __init__(self, message: str, name: str, close: Sequence[str], searched: Sequence[str]):
        super().__init__(message)
        self.name = name
        self.close = list(close)
        self.searched = list(searched)


class PackWarning(UserWarning):
    """A .pdsc file was skipped; the message names it and says why."""


@dataclass(frozen=True)
class PackProblem:
    path: Path
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass
class PackScan:
    """What a search found: devices by name (first found wins), files read, files skipped."""

    devices: dict[str, Device] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)
    problems: list[PackProblem] = field(default_factory=list)


# --------------------------------------------------------------------------------------------
# where the files are


def default_pack_root() -> Path:
    """``$CMSIS_PACK_ROOT``, else the CMSIS-Toolbox default for this system."""
    env = os.environ.get(ENV_PACK_ROOT)
    if env:
        return Path(env).expanduser()
    if sys.platform.startswith("win"):
        base = os.environ.get("LOCALAPPDATA")
        if base:
            return Path(base) / "Arm" / "Packs"
    return Path.home() / ".cache" / "arm" / "packs"


def _version_key(text: str) -> tuple:
    """Order pack versions like semantic versions: 1.10.0 > 1.9.2 > 1.9.2-rc1."""
    main, _, pre = text.partition("-")
    numbers = []
    for part in main.split("."):
        m = re.match(r"\d+", part)
        numbers.append(int(m.group()) if m else -1)
    return (tuple(numbers), 0 if pre else 1, pre)


def pack_root_files(root: Path) -> list[Path]:
    """The .pdsc of the newest version of each pack under a pack root (``Vendor/Pack/version``)."""
    files: list[Path] = []
    if not root.is_dir():
        return files
    for vendor in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for pack in sorted(p for p in vendor.iterdir() if p.is_dir() and not p.name.startswith(".")):
            versions = [v for v in pack.iterdir() if v.is_dir() and not v.name.startswith(".")]
            for version in sorted(versions, key=lambda v: _version_key(v.name), reverse=True):
                pdsc = sorted(version.glob("*.pdsc"))
                if pdsc:
                    files.extend(pdsc)
                    break
    return files


def _folder_files(folder: Path) -> list[Path]:
    if folder.is_file():
        return [folder] if folder.suffix.lower() == ".pdsc" else []
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() == ".pdsc" and p.is_file())


def env_pack_dirs() -> list[Path]:
    value = os.environ.get(ENV_PACKS, "")
    return [Path(part).expanduser() for part in value.split(os.pathsep) if part.strip()]


def pdsc_files(search_path: Iterable[Path | str] | None = None) -> list[Path]:
    """The .pdsc files to read, in precedence order.

    ``search_path``: folders searched recursively (or .pdsc files), first wins. ``None`` means the
    default: ``$UTVM_CMSIS_PACKS``, then the CMSIS pack root, then the shipped packs.
    """
    files: list[Path] = []
    if search_path is None:
        for folder in env_pack_dirs():
            files.extend(_folder_files(folder))
        files.extend(pack_root_files(default_pack_root()))
        files.extend(_folder_files(SHIPPED_PACKS))
    else:
        if isinstance(search_path, (str, Path)):
            search_path = [search_path]
        for entry in search_path:
            files.extend(_folder_files(Path(entry).expanduser()))
    seen: set[Path] = set()
    unique = []
    for f in files:
        key = f.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(f)
    return unique


def describe_search_path(search_path: Iterable[Path | str] | None = None) -> list[str]:
    """Human-readable list of the places searched, for error messages."""
    if search_path is None:
        places = [f"{d} (from ${ENV_PACKS})" for d in env_pack_dirs()]
        places.append(f"{default_pack_root()} (CMSIS pack root, ${ENV_PACK_ROOT})")
        places.append(f"{SHIPPED_PACKS} (shipped with utvm)")
        return places
    if isinstance(search_path, (str, Path)):
        search_path = [search_path]
    return [str(p) for p in search_path]


# --------------------------------------------------------------------------------------------
# safe XML


class _Refused(Exception):
    pass


def _refuse_doctype(*_args) -> None:
    raise _Refused("it has a DOCTYPE declaration, which a .pdsc never needs (refused: no entity expansion)")


def _refuse_entity(*_args) -> None:
    raise _Refused("it declares an ENTITY, which a .pdsc never needs (refused: no entity expansion)")


def parse_xml(data: bytes, path: Path | str = "<pdsc>") -> ET.Element:
    """Parse XML bytes, refusing DOCTYPE and ENTITY declarations before anything is expanded."""
    checker = xml.parsers.expat.ParserCreate()
    checker.StartDoctypeDeclHandler = _refuse_doctype
    checker.EntityDeclHandler = _refuse_entity
    checker.UnparsedEntityDeclHandler = _refuse_entity
    checker.ExternalEntityRefHandler = lambda *a: 0  # never fetch anything
    try:
        checker.Parse(data, True)
    except _Refused as exc:
        raise PackError(path, str(exc)) from None
    except xml.parsers.expat.ExpatError as exc:
        raise PackError(path, f"not well-formed XML: {xml.parsers.expat.ErrorString(exc.code)} "
                              f"at line {exc.lineno}, column {exc.offset + 1}") from None
    try:
        return ET.fromstring(data)
    except ET.ParseError as exc:  # pragma: no cover - the checker saw the same bytes
        raise PackError(path, f"not well-formed XML: {exc}") from None


# --------------------------------------------------------------------------------------------
# reading a .pdsc


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _children(elem: ET.Element, name: str) -> list[ET.Element]:
    return [c for c in elem if _local(c.tag) == name]


def _number(text: str | None, what: str, path: Path) -> int:
    if text is None:
        raise PackError(path, f"{what} is missing")
    s = text.strip().lower().replace("_", "")
    try:
        if s.startswith("0x"):
            value = int(s[2:], 16)
        else:
            value = int(s, 10)
    except ValueError:
        raise PackError(path, f"{what} is {text!r}, not a number (decimal or 0x hexadecimal)") from None
    if value < 0:
        raise PackError(path, f"{what} is negative ({text!r})")
    return value


def _boolean(text: str | None, what: str, path: Path) -> bool:
    if text is None:
        return False
    s = text.strip().lower()
    if s in ("1", "true"):
        return True
    if s in ("0", "false"):
        return False
    raise PackError(path, f"{what} is {text!r}, not a boolean (1, 0, true or false)")


@dataclass
class _Scope:
    """What a level of the device tree passes down to the levels inside it."""

    vendor: str
    processors: dict[str | None, dict[str, str]]  # Pname (None: all processors) -> attributes
    memories: dict[str, dict[str, str]]  # memory name -> attributes, in declaration order
    first_pname: str | None = None

    def inner(self, elem: ET.Element) -> "_Scope":
        processors = {k: dict(v) for k, v in self.processors.items()}
        first_pname = self.first_pname
        for proc in _children(elem, "processor"):
            pname = proc.get("Pname")
            if pname is not None and first_pname is None:
                first_pname = pname
            processors.setdefault(pname, {}).update(proc.attrib)
        memories = {k: dict(v) for k, v in self.memories.items()}
        for mem in _children(elem, "memory"):
            key = mem.get("name") or mem.get("id")
            if not key:
                # reported later, with the device's name; keep a unique placeholder
                key = f"\0unnamed{len(memories)}"
            memories.setdefault(key, {}).update(mem.attrib)
        return _Scope(self.vendor, processors, memories, first_pname)


def _memory_access(attrs: Mapping[str, str], what: str, path: Path) -> str | None:
    """rwx letters of a memory, or None for a peripheral area."""
    access = attrs.get("access")
    if access is not None:
        letters = access.strip()
        bad = sorted(set(letters) - set("rwxpsnc"))
        if bad or not letters:
            raise PackError(path, f"{what}: access {access!r} is not made of the letters r w x p s n c")
        if "p" in letters:
            return None
        return "".join(c for c in "rwx" if c in letters)
    ident = (attrs.get("id") or "").upper()
    if ident.startswith(("IROM", "ROM")):
        return "rx"
    if ident.startswith(("IRAM", "RAM")):
        return "rw"
    return "r"  # PACK.xsd: access defaults to "r"


def _make_device(name: str, scope: _Scope, path: Path) -> Device:
    where = f"device {name!r}"
    proc: dict[str, str] = dict(scope.processors.get(None, {}))
    if scope.first_pname is not None:
        proc.update(scope.processors.get(scope.first_pname, {}))
    core = (proc.get("Dcore") or "").strip()
    if not core:
        raise PackError(path, f"{where}: no Dcore in a <processor> of its family, subFamily or device")

    raw_fpu = (proc.get("Dfpu") or "NO_FPU").strip()
    if raw_fpu in ("NO_FPU", "0"):
        fpu = "NO_FPU"
    elif raw_fpu in ("SP_FPU", "DP_FPU"):
        fpu = raw_fpu
    elif raw_fpu in ("FPU", "1"):
        fpu = "DP_FPU" if core in _FPU_IS_DP else "SP_FPU"
    else:
        raise PackError(path, f"{where}: Dfpu={raw_fpu!r} is not one of NO_FPU, SP_FPU, DP_FPU, FPU")

    raw_dsp = proc.get("Ddsp")
    if raw_dsp is None:
        dsp = core in _DSP_ALWAYS
    elif raw_dsp.strip() in ("DSP", "1"):
        dsp = True
    elif raw_dsp.strip() in ("NO_DSP", "0"):
        dsp = core in _DSP_ALWAYS
    else:
        raise PackError(path, f"{where}: Ddsp={raw_dsp!r} is not DSP or NO_DSP")

    mve = (proc.get("Dmve") or "NO_MVE").strip()
    if mve not in MVE_KINDS:
        raise PackError(path, f"{where}: Dmve={mve!r} is not one of {', '.join(MVE_KINDS)}")

    raw_tz = (proc.get("Dtz") or "NO_TZ").strip()
    if raw_tz not in ("TZ", "NO_TZ", "1", "0"):
        raise PackError(path, f"{where}: Dtz={raw_tz!r} is not TZ or NO_TZ")
    trustzone = raw_tz in ("TZ", "1")

    clock = _number(proc["Dclock"], f"{where}: Dclock", path) if proc.get("Dclock") else 0

    regions: list[MemoryRegion] = []
    for key, attrs in scope.memories.items():
        if key.startswith("\0"):
            raise PackError(path, f"{where}: a <memory> has neither a name nor an id")
        mwhere = f"{where}, memory {key!r}"
        pname = attrs.get("Pname")
        if pname is not None and scope.first_pname is not None and pname != scope.first_pname:
            continue
        access = _memory_access(attrs, mwhere, path)
        if access is None:
            continue
        regions.append(
            MemoryRegion(
                name=key,
                origin=_number(attrs.get("start"), f"{mwhere}: start", path),
                length=_number(attrs.get("size"), f"{mwhere}: size", path),
                access=access,
                startup=_boolean(attrs.get("startup"), f"{mwhere}: startup", path),
                default=_boolean(attrs.get("default"), f"{mwhere}: default", path),
            )
        )
    return Device(
        name=name,
        vendor=scope.vendor,
        core=core,
        fpu=fpu,
        dsp=dsp,
        mve=mve,
        trustzone=trustzone,
        clock_hz=clock,
        memory=tuple(regions),
        pack=path,
    )


def parse_pdsc(path: Path | str, data: bytes | None = None) -> list[Device]:
    """The devices (and device variants) a .pdsc describes; raises PackError."""
    path = Path(path)
    if data is None:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise PackError(path, f"cannot be read: {exc.strerror or exc}") from None
    root = parse_xml(data, path)
    if _local(root.tag) != "package":
        raise PackError(path, f"the root element is <{_local(root.tag)}>, not <package>: not a pack description")
    devices_elem = _children(root, "devices")
    devices: list[Device] = []
    seen: set[str] = set()

    def add(name: str | None, scope: _Scope, kind: str) -> None:
        if not name or not name.strip():
            raise PackError(path, f"a <{kind}> has no {'Dvariant' if kind == 'variant' else 'Dname'}")
        name = name.strip()
        if name in seen:
            raise PackError(path, f"device {name!r} is described twice")
        seen.add(name)
        devices.append(_make_device(name, scope, path))

    def walk_device(elem: ET.Element, scope: _Scope) -> None:
        inner = scope.inner(elem)
        add(elem.get("Dname"), inner, "device")
        for variant in _children(elem, "variant"):
            add(variant.get("Dvariant"), inner.inner(variant), "variant")

    for devs in devices_elem:
        for family in _children(devs, "family"):
            if not family.get("Dfamily"):
                raise PackError(path, "a <family> has no Dfamily")
            fscope = _Scope(vendor=(family.get("Dvendor") or "").strip(), processors={}, memories={}).inner(family)
            for device in _children(family, "device"):
                walk_device(device, fscope)
            for sub in _children(family, "subFamily"):
                sscope = fscope.inner(sub)
                for device in _children(sub, "device"):
                    walk_device(device, sscope)
    return devices


# --------------------------------------------------------------------------------------------
# the public entry points

_cache: dict[Path, tuple[tuple[int, int], list[Device]]] = {}


def _read_cached(path: Path) -> list[Device]:
    try:
        st = path.stat()
    except OSError as exc:
        raise PackError(path, f"cannot be read: {exc.strerror or exc}") from None
    stamp = (st.st_mtime_ns, st.st_size)
    key = path.resolve()
    hit = _cache.get(key)
    if hit is not None and hit[0] == stamp:
        return hit[1]
    devices = parse_pdsc(path)
    _cache[key] = (stamp, devices)
    return devices


def scan_packs(search_path: Iterable[Path | str] | None = None, *, warn: bool = True) -> PackScan:
    """Read every .pdsc on the search path; devices by name (earlier wins) and the files skipped."""
    scan = PackScan()
    for path in pdsc_files(search_path):
        try:
            devices = _read_cached(path)
        except PackError as exc:
            problem = PackProblem(exc.path, exc.reason)
            scan.problems.append(problem)
            if warn:
                warnings.warn(f"skipped CMSIS pack description {problem}", PackWarning, stacklevel=2)
            continue
        scan.files.append(path)
        for device in devices:
            scan.devices.setdefault(device.name, device)
    return scan


def load_devices(search_path: Iterable[Path | str] | None = None) -> dict[str, Device]:
    """Every device on the pack search path, by name (see the module docstring for the path)."""
    return scan_packs(search_path, warn=True).devices


def find_device(name: str, search_path: Iterable[Path | str] | None = None) -> Device:
    """The device called ``name``; DeviceNotFound lists close names and the places searched."""
    if isinstance(search_path, (str, Path)):
        search_path = [search_path]
    elif search_path is not None:
        search_path = list(search_path)
    devices = load_devices(search_path)
    if name in devices:
        return devices[name]
    folded = [d for d in devices if d.lower() == name.lower()]
    if len(folded) == 1:
        return devices[folded[0]]
    close = difflib.get_close_matches(name, list(devices), n=5, cutoff=0.5)
    if not close:
        close = [d for d in sorted(devices) if name.lower() in d.lower()][:5]
    searched = describe_search_path(search_path)
    hint = f"; close names: {', '.join(close)}" if close else ""
    message = (
        f"no CMSIS pack describes a device named {name!r}{hint} "
        f"({len(devices)} devices known; searched {'; '.join(searched)})"
    )
    raise DeviceNotFound(message, name=name, close=close, searched=searched)
