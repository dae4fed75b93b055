"""Mbed OS targets, read from the user's mbed-os tree: nothing about a board is written here.

Two kinds of tree are understood:

- **Mbed OS** (ARMmbed/mbed-os 6, built with ``mbed-tools compile``): ``targets/targets.json``;
  memory from the targets' ``mbed_rom_start``/``mbed_rom_size``/``mbed_ram_start``/``mbed_ram_size``,
  and from the ``device_name``'s entry in ``tools/arm_pack_manager/index.json`` when the tree has it;
- **Mbed CE** (mbed-ce/mbed-os, built with CMake): ``targets/targets.json5``; memory from the
  targets' ``memory_banks`` and the ``device_name``'s entry in
  ``targets/cmsis_mcu_descriptions.json5`` (the ``mbed_*`` attributes are ignored there, as
  Mbed CE's tools ignore them).

Inheritance is resolved exactly as mbed-tools does it (``targets_json_parsers`` in both
ARMmbed/mbed-tools and Mbed CE's ``tools/python``):

- *overriding* attributes (``core``, ``device_name``, ``mbed_rom_size``...): the first definition
  in depth-first order of ``inherits`` (the target, its first parent and that parent's
  ancestors, then its second parent...), i.e. Python's old-style method resolution order;
  ``config``, ``overrides`` (and Mbed CE's ``memory_banks``, ``memory_overrides``) merge key by
  key, the nearer definition winning;
- *accumulating* attributes (``extra_labels``, ``macros``, ``device_has``, ``features``,
  ``components``): the nearest definition in breadth-first order, then every ``X_add`` /
  ``X_remove`` of the targets nearer than it, applied from the farthest to the nearest; removing
  ``NAME`` also removes ``NAME=value``;
- ``public`` and ``inherits`` are not inherited; a target is public unless it says
  ``"public": false``, and only public targets are buildable.
"""

from __future__ import annotations

import json
import os
import re
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from . import json5

ACCUMULATING = ("extra_labels", "macros", "device_has", "features", "components")
MODIFIED = tuple(f"{a}_{m}" for a in ACCUMULATING for m in ("add", "remove"))
MERGING = ("config", "overrides", "memory_banks", "memory_overrides")
NOT_INHERITED = ("public", "inherits", "is_mcu_family_target")

FLAVOR_MBED_OS = "mbed-os"
FLAVOR_MBED_CE = "mbed-ce"


class MbedTreeError(Exception):
    """The mbed-os tree is missing or unreadable."""


class TargetError(Exception):
    """A target is unknown, or its definition is broken."""

    def __init__(self, message: str, target: str, available: list[str] | None = None) -> None:
        super().__init__(message)
        self.target = target
        self.available = available or []


# ---------------------------------------------------------------------------------------------
# The tree


@dataclass(frozen=True)
class MbedTree:
    """An mbed-os checkout and where its target and device descriptions are."""

    root: Path
    flavor: str  # FLAVOR_MBED_OS or FLAVOR_MBED_CE
    targets_file: Path
    devices_file: Path | None  # cmsis_mcu_descriptions.json5 or tools/arm_pack_manager/index.json

    @property
    def upload_cfg_dir(self) -> Path:
        return self.root / "targets" / "upload_method_cfg"


def find_tree(path: Path | str | None) -> MbedTree:
    """The tree at ``path``, or at ``$MBED_OS_PATH`` when ``path`` is None."""
    if path is None:
        env = os.environ.get("MBED_OS_PATH")
        if not env:
            raise MbedTreeError(
                "no mbed-os tree: pass the option mbed_os_path=/path/to/mbed-os or set MBED_OS_PATH "
                "(an ARMmbed/mbed-os or mbed-ce/mbed-os checkout)"
            )
        path, origin = Path(env), "MBED_OS_PATH"
    else:
        origin = "mbed_os_path"
    root = Path(path).expanduser().resolve()
    if not root.is_dir():
        raise MbedTreeError(f"{origin}={path} is not a folder")
    json_file = root / "targets" / "targets.json"
    json5_file = root / "targets" / "targets.json5"
    if json5_file.is_file():
        devices = root / "targets" / "cmsis_mcu_descriptions.json5"
        return MbedTree(root, FLAVOR_MBED_CE, json5_file, devices if devices.is_file() else None)
    if json_file.is_file():
        index = root / "tools" / "arm_pack_manager" / "index.json"
        return MbedTree(root, FLAVOR_MBED_OS, json_file, index if index.is_file() else None)
    raise MbedTreeError(
        f"{origin}={root} is not an mbed-os tree: it has neither targets/targets.json (Mbed OS) "
        "nor targets/targets.json5 (Mbed CE)"
    )


def _read_json_any(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise MbedTreeError(f"cannot read {path}: {exc}") from None
    try:
        if path.suffix == ".json5":
            return json5.loads(text)
        return json.loads(text)
    except ValueError as exc:
        raise MbedTreeError(f"{path} is not valid {path.suffix[1:].upper()}: {exc}") from None


# ---------------------------------------------------------------------------------------------
# Inheritance


def _parents(data: Mapping[str, Any], name: str) -> list[str]:
    parents = data[name].get("inherits", []) or []
    if not isinstance(parents, list):
        raise TargetError(f"target {name}: 'inherits' must be a list of target names", name)
    for p in parents:
        if p not in data:
            raise TargetError(f"target {name} inherits from {p!r}, which targets.json does not define", name)
    return parents


def _walk(data: Mapping[str, Any], name: str, breadth_first: bool) -> list[str]:
    """Names in mbed-tools' override (depth-first) or accumulation (breadth-first) order, with repeats."""
    order: list[str] = []
    todo: deque[str] = deque([name])
    limit = 10 * len(data) + 100
    while todo:
        current = todo.popleft()
        order.append(current)
        if len(order) > limit:
            raise TargetError(f"target {name}: the 'inherits' chain loops", name)
        parents = _parents(data, current)
        if breadth_first:
            todo.extend(parents)
        else:
            todo.extendleft(reversed(parents))
    return order


def _matches(to_remove: str, element: Any) -> bool:
    return element == to_remove or (isinstance(element, str) and element.startswith(f"{to_remove}="))


def resolve_target(data: Mapping[str, Any], name: str) -> dict[str, Any]:
    """All attributes of target ``name`` with inheritance applied (mbed-tools' rules)."""
    if name not in data or not isinstance(data[name], dict):
        raise TargetError(f"no target {name!r} in targets.json", name)
    depth = [data[n] for n in _walk(data, name, breadth_first=False)]
    resolved: dict[str, Any] = {}
    for t in reversed(depth):
        resolved.update(t)
    for attr in MERGING:
        merged: dict[str, Any] = {}
        for t in reversed(depth):
            value = t.get(attr)
            if isinstance(value, dict):
                merged.update(value)
        if merged:
            resolved[attr] = merged
    for attr in NOT_INHERITED + ACCUMULATING + MODIFIED:
        resolved.pop(attr, None)

    breadth = [data[n] for n in _walk(data, name, breadth_first=True)]
    for attr in ACCUMULATING:
        for idx, t in enumerate(breadth):
            if attr in t:
                value = list(t[attr] or [])
                for nearer in reversed(breadth[:idx]):
                    value.extend(nearer.get(f"{attr}_add", []) or [])
                    for gone in nearer.get(f"{attr}_remove", []) or []:
                        value = [v for v in value if not _matches(gone, v)]
                resolved[attr] = value
                break
    resolved["public"] = data[name].get("public", True) is not False
    resolved["labels"] = sorted(set(_walk(data, name, breadth_first=False)))
    return resolved


# ---------------------------------------------------------------------------------------------
# Cores

_CORE_RE = re.compile(r"^Cortex-(?P<base>M0\+|M\d+P?|A\d+)(?P<suffix>FD|FE|F)?(?P<ns>-NS)?$")

#: Mbed core base name -> (GCC -mcpu, architecture, features before the F/FD/FE suffix).
_CORE_BASES = {
    "M0": ("cortex-m0", "armv6-m", ()),
    "M0+": ("cortex-m0plus", "armv6-m", ()),
    "M1": ("cortex-m1", "armv6-m", ()),
    "M3": ("cortex-m3", "armv7-m", ()),
    "M4": ("cortex-m4", "armv7e-m", ("dsp",)),
    "M7": ("cortex-m7", "armv7e-m", ("dsp",)),
    "M23": ("cortex-m23", "armv8-m.base", ()),
    "M33": ("cortex-m33", "armv8-m.main", ()),
    "M35P": ("cortex-m35p", "armv8-m.main", ()),
    "M55": ("cortex-m55", "armv8.1-m.main", ("dsp", "mve", "fpu")),
    "M85": ("cortex-m85", "armv8.1-m.main", ("dsp", "mve", "fpu")),
}


@dataclass(frozen=True)
class Core:
    """What an Mbed ``core`` string says: the CPU, its architecture and ISA features."""

    mbed_name: str | None
    cpu: str
    arch: str
    features: tuple[str, ...]
    fpu: str | None  # "sp", "dp" or None
    trustzone_ns: bool = False
    known: bool = True


def decode_core(core: str | None) -> Core:
    """Decode Mbed's core names: "Cortex-M7FD" is a Cortex-M7 with a double-precision FPU, "F" a
    single-precision FPU, "FE" (Armv8-M) an FPU and the DSP extension, "-NS" the non-secure side."""
    if not core:
        return Core(core, "unknown", "unknown", (), None, known=False)
    m = _CORE_RE.match(core)
    if m is None or (m["base"] not in _CORE_BASES and not m["base"].startswith("A")):
        return Core(core, core.lower(), "unknown", (), None, known=False)
    base, suffix = m["base"], m["suffix"] or ""
    if base.startswith("A"):
        return Core(core, f"cortex-{base.lower()}", "armv7-a", ("fpu",) if suffix else (), "dp" if suffix else None)
    cpu, arch, feats = _CORE_BASES[base]
    features = list(feats)
    fpu = "sp" if "fpu" in features else None
    if suffix:
        features.append("fpu")
        fpu = "dp" if suffix == "FD" else "sp"
    if suffix == "FE":
        features.append("dsp")
    ordered = tuple(f for f in ("dsp", "mve", "fpu") if f in features)
    return Core(core, cpu, arch, ordered, fpu, trustzone_ns=bool(m["ns"]))


# ---------------------------------------------------------------------------------------------
# Memory


@dataclass(frozen=True)
class Bank:
    name: str
    kind: str  # "rom" or "ram"
    origin: int
    length: int
    access: str
    primary: bool = False
    source: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "origin": self.origin, "length": self.length, "access": self.access,
                "kind": self.kind, "primary": self.primary, "source": self.source}


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{what} is a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        return int(value.strip(), 0)
    raise ValueError(f"{what} is {value!r}, not a number")


def _access_text(access: Mapping[str, Any]) -> str:
    return "".join(ch for ch, key in (("r", "read"), ("w", "write"), ("x", "execute")) if access.get(key))


def _kind(access: Mapping[str, Any]) -> str | None:
    if access.get("peripheral"):
        return None
    if access.get("read") and access.get("write"):
        return "ram"
    if access.get("read") and access.get("execute"):
        return "rom"
    return None


def _cmsis_banks(memories: Mapping[str, Any], source: str) -> list[tuple[Bank, dict]]:
    """Banks from a cmsis-pack-manager style ``memories`` table (access flags, start, size)."""
    out = []
    for name, mem in memories.items():
        if not isinstance(mem, dict):
            continue
        access = mem.get("access") or {}
        kind = _kind(access)
        if kind is None:
            continue
        try:
            bank = Bank(name, kind, _int(mem.get("start"), f"{name}.start"), _int(mem.get("size"), f"{name}.size"),
                        _access_text(access), source=source)
        except ValueError as exc:
            raise MbedTreeError(f"{source}: memory {name}: {exc}") from None
        out.append((bank, mem))
    return out


def _legacy_banks(memory: Mapping[str, Any], source: str) -> list[tuple[Bank, dict]]:
    """Banks from the old arm_pack_manager ``memory`` table (IROMn / IRAMn, hex strings)."""
    out = []
    for name, mem in memory.items():
        upper = name.upper()
        kind = "rom" if "ROM" in upper or "FLASH" in upper else "ram" if "RAM" in upper else None
        if kind is None or not isinstance(mem, dict):
            continue
        try:
            bank = Bank(name, kind, _int(mem.get("start"), f"{name}.start"), _int(mem.get("size"), f"{name}.size"),
                        "rx" if kind == "rom" else "rw", source=source)
        except ValueError as exc:
            raise MbedTreeError(f"{source}: memory {name}: {exc}") from None
        out.append((bank, {}))  # no "default" flags: the largest bank wins, as it does for .bss in Mbed's scripts
    return out


# ---------------------------------------------------------------------------------------------
# Descriptions


@dataclass
class TargetDescription:
    """A buildable target: its resolved attributes and what utvm needs from them."""

    name: str
    attributes: dict[str, Any]
    core: Core
    banks: list[Bank] = field(default_factory=list)
    memory_source: str = ""
    memory_note: str = ""
    device: dict[str, Any] | None = None

    @property
    def device_name(self) -> str | None:
        value = self.attributes.get("device_name")
        return value if isinstance(value, str) else None

    def primary(self, kind: str) -> Bank | None:
        for b in self.banks:
            if b.kind == kind and b.primary:
                return b
        return None

    @property
    def vendor(self) -> str | None:
        if self.device and isinstance(self.device.get("vendor"), str):
            return self.device["vendor"].split(":")[0]
        return None

    def config_value(self, name: str) -> Any:
        """The value of target config setting ``name`` (``target.NAME``), overrides applied."""
        overrides = self.attributes.get("overrides") or {}
        if name in overrides:
            return overrides[name]
        entry = (self.attributes.get("config") or {}).get(name)
        return entry.get("value") if isinstance(entry, dict) else entry

    def has_config(self, name: str) -> bool:
        return name in (self.attributes.get("config") or {})

    def summary(self) -> str:
        rom, ram = self.primary("rom"), self.primary("ram")
        parts = [self.core.mbed_name or "core unknown"]
        if rom:
            parts.append(f"ROM {_kib(rom.length)}")
        if ram:
            parts.append(f"RAM {_kib(ram.length)}")
        if self.device_name:
            parts.append(self.device_name)
        return ", ".join(parts)


def _kib(n: int) -> str:
    return f"{n // 1024} KiB" if n % 1024 == 0 else f"{n} B"


class TargetDatabase:
    """The targets of one mbed-os tree."""

    def __init__(self, tree: MbedTree) -> None:
        self.tree = tree
        data = _read_json_any(tree.targets_file)
        if not isinstance(data, dict):
            raise MbedTreeError(f"{tree.targets_file} must hold an object of targets")
        self.data: dict[str, Any] = {k: v for k, v in data.items() if isinstance(v, dict) and not k.startswith("__")}
        self._devices: dict[str, Any] | None = None

    # -- listing --------------------------------------------------------------------------

    def public_names(self) -> list[str]:
        return sorted(n for n, t in self.data.items() if t.get("public", True) is not False)

    def devices(self) -> dict[str, Any]:
        if self._devices is None:
            if self.tree.devices_file is None:
                self._devices = {}
            else:
                loaded = _read_json_any(self.tree.devices_file)
                self._devices = loaded if isinstance(loaded, dict) else {}
        return self._devices

    # -- one target -----------------------------------------------------------------------

    def describe(self, name: str) -> TargetDescription:
        if name not in self.data:
            raise TargetError(f"mbed-os at {self.tree.root} has no target {name!r}", name, self.public_names())
        if self.data[name].get("public", True) is False:
            raise TargetError(
                f"{name} is not a buildable target (\"public\": false in {self.tree.targets_file.name}: "
                "it is a family or MCU base); use a board target", name, self.public_names())
        attrs = resolve_target(self.data, name)
        desc = TargetDescription(name, attrs, decode_core(attrs.get("core")))
        device_name = desc.device_name
        if device_name:
            entry = self.devices().get(device_name)
            desc.device = entry if isinstance(entry, dict) else None
        if self.tree.flavor == FLAVOR_MBED_CE:
            self._ce_memory(desc)
        else:
            self._mbed_os_memory(desc)
        return desc

    def _ce_memory(self, desc: TargetDescription) -> None:
        """Mbed CE: the target's memory_banks, then the device's, first RAM and ROM bank primary."""
        found: list[tuple[Bank, dict]] = []
        inline = desc.attributes.get("memory_banks") or {}
        found += _cmsis_banks(inline, f"{self.tree.targets_file.name} memory_banks")
        sources = [f"{self.tree.targets_file.name} memory_banks"] if inline else []
        if desc.device and isinstance(desc.device.get("memories"), dict):
            names = {b.name for b, _ in found}
            dev_name = self.tree.devices_file.name if self.tree.devices_file else "device"
            found += [(b, m) for b, m in _cmsis_banks(desc.device["memories"], f"{dev_name} {desc.device_name}")
                      if b.name not in names]
            sources.append(f"{dev_name} ({desc.device_name})")
        elif desc.device_name and not inline:
            desc.memory_note = (f"device_name {desc.device_name} is not in "
                                f"{self.tree.devices_file or 'targets/cmsis_mcu_descriptions.json5'}")
        banks = [b for b, _ in found]
        desc.banks = _mark_primary(banks, {"rom": _first(banks, "rom"), "ram": _first(banks, "ram")})
        desc.memory_source = " + ".join(sources)

    def _mbed_os_memory(self, desc: TargetDescription) -> None:
        """Mbed OS: the device's banks from arm_pack_manager's index, primaries overridden by mbed_*."""
        found: list[tuple[Bank, dict]] = []
        sources = []
        dev = desc.device
        if dev is not None:
            src = f"arm_pack_manager index.json ({desc.device_name})"
            if isinstance(dev.get("memories"), dict):
                found = _cmsis_banks(dev["memories"], src)
            elif isinstance(dev.get("memory"), dict):
                found = _legacy_banks(dev["memory"], src)
            if found:
                sources.append(src)
        primaries: dict[str, Bank | None] = {}
        # As Mbed OS's tools/config: the ROM is IROM1 (or PROGRAM_FLASH), the RAM the best read-write
        # memory by (default, size, start); then the target's mbed_* attributes override them.
        for kind, names in (("rom", ("IROM1", "PROGRAM_FLASH")), ("ram", ())):
            candidates = [(b, m) for b, m in found if b.kind == kind]
            named = [b for b, _ in candidates if b.name in names]
            best = named[0] if named else (max(candidates, key=lambda bm: (bool(bm[1].get("default")), bm[0].length,
                                                                          bm[0].origin))[0] if candidates else None)
            start = desc.attributes.get(f"mbed_{kind}_start")
            size = desc.attributes.get(f"mbed_{kind}_size")
            try:
                start_v = _int(start, f"mbed_{kind}_start") if start not in (None, "") else None
                size_v = _int(size, f"mbed_{kind}_size") if size not in (None, "") else None
            except ValueError as exc:
                raise MbedTreeError(f"target {desc.name}: {exc}") from None
            if start_v is not None or size_v is not None:
                if best is None and (start_v is None or size_v is None):
                    desc.memory_note = f"mbed_{kind}_start and mbed_{kind}_size must both be given"
                    primaries[kind] = None
                    continue
                origin = start_v if start_v is not None else best.origin  # type: ignore[union-attr]
                length = size_v if size_v is not None else best.length  # type: ignore[union-attr]
                replaced = Bank(best.name if best else kind.upper(), kind, origin, length,
                                "rx" if kind == "rom" else "rw", source=f"targets.json mbed_{kind}_*")
                found = [(b, m) for b, m in found if b is not best]
                found.append((replaced, {}))
                best = replaced
                if f"targets.json mbed_{kind}_*" not in sources:
                    sources.append(f"targets.json mbed_{kind}_*")
            primaries[kind] = best
        banks = [b for b, _ in found]
        desc.banks = _mark_primary(banks, primaries)
        desc.memory_source = " + ".join(sources)
        if not banks and not desc.memory_note:
            desc.memory_note = ("no memory description: the target has neither mbed_rom_*/mbed_ram_* nor a device_name "
                                "found in tools/arm_pack_manager/index.json")


def _first(banks: Iterable[Bank], kind: str) -> Bank | None:
    return next((b for b in banks if b.kind == kind), None)


def _mark_primary(banks: list[Bank], primaries: Mapping[str, Bank | None]) -> list[Bank]:
    """The banks with the primaries flagged, primary ROM first, primary RAM second, then the rest."""
    out = []
    for kind in ("rom", "ram"):
        p = primaries.get(kind)
        if p is not None:
            out.append(Bank(p.name, p.kind, p.origin, p.length, p.access, True, p.source))
    chosen = [p for p in primaries.values() if p is not None]
    out += [b for b in banks if not any(b is p for p in chosen)]
    return out


def target_facts(desc: TargetDescription) -> dict[str, Any]:
    """What ``boards`` reports for a target."""
    rom, ram = desc.primary("rom"), desc.primary("ram")
    facts: dict[str, Any] = {
        "name": desc.name,
        "description": desc.summary(),
        "cpu": desc.core.cpu,
        "core": desc.core.mbed_name,
        "features": list(desc.core.features),
        "rom_bytes": rom.length if rom else None,
        "ram_bytes": ram.length if ram else None,
    }
    if desc.vendor:
        facts["vendor"] = desc.vendor
    if desc.device_name:
        facts["device_name"] = desc.device_name
    codes = desc.attributes.get("detect_code")
    if isinstance(codes, list) and codes:
        facts["detect_code"] = codes
    return facts
