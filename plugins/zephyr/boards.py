"""The boards of a Zephyr tree, read from the tree itself (no board data in code).

Two layouts exist:

- **HWMv2** (Zephyr 3.7 and later): ``boards/<vendor>/<board>/board.yml`` names
  the board, its SoCs and variants; the CPU clusters of a SoC come from the
  SoC's ``soc.yml`` under ``soc/``. A *board target* is
  ``board/soc[/cluster][/variant...]`` (``mps2/an521/cpu0``,
  ``mps3/corstone300/an547/ns``); a board with one SoC may omit it
  (``qemu_cortex_m3`` for ``qemu_cortex_m3/ti_lm3s6965``). This follows
  Zephyr's own ``scripts/list_boards.py``.
- **HWMv1** (before 3.7): ``boards/<arch>/<board>/<board>_defconfig`` without
  a ``board.yml``; the target is the folder's board name.

Each target's *twister yaml* (``<board>[_qualifiers].yaml`` beside
``board.yml``, matched by its ``identifier``) gives hints: ``ram`` and
``flash`` in KiB, ``arch``, ``toolchain``, ``supported``, ``simulation``.

Old (HWMv1-era) names are accepted: from ``boards/deprecated.cmake`` when the
tree has one, else by matching the name against a target's components joined
with ``_`` (``mps3_an547`` is ``mps3/corstone300/an547``, ``mps2_an521`` is
``mps2/an521/cpu0``: the fewest left-out components win, then declaration
order, which puts a SoC's first CPU cluster first).

``west boards`` (when west runs) adds the boards of other board roots, such as
modules' ``boards/`` folders, which walking ZEPHYR_BASE cannot see.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from . import yamlish

BOARD_YML = "board.yml"

#: The format string given to ``west boards``: fields every HWMv2-aware west knows.
WEST_BOARDS_FORMAT = "{name}|{dir}|{qualifiers}"


@dataclass
class BoardTarget:
    """One buildable board target."""

    name: str  # canonical: what utvm lists and passes to west -b
    board: str
    qualifiers: str  # "" for HWMv1 boards
    hwm: str  # "v2" or "v1"
    dir: Path
    vendor: str | None = None
    full_name: str | None = None
    socs: tuple[str, ...] = ()
    arch_dir: str | None = None  # HWMv1: boards/<arch>/
    twister: dict[str, Any] | None = None
    twister_file: Path | None = None
    aliases: list[str] = field(default_factory=list)
    source: str = "tree"  # "tree" or "west"

    @property
    def arch(self) -> str | None:
        if self.twister and isinstance(self.twister.get("arch"), str):
            return self.twister["arch"]
        return self.arch_dir

    @property
    def simulation(self) -> list[str]:
        """Emulators the twister yaml names (``simulation: qemu`` or ``- name: qemu``)."""
        sim = (self.twister or {}).get("simulation")
        if sim is None:
            return []
        items = sim if isinstance(sim, list) else [sim]
        names = []
        for item in items:
            name = item.get("name") if isinstance(item, dict) else item
            if isinstance(name, str) and name != "na":
                names.append(name)
        return names

    def kib(self, key: str) -> int | None:
        value = (self.twister or {}).get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None

    def summary(self) -> dict[str, Any]:
        tw = self.twister or {}
        out: dict[str, Any] = {
            "name": self.name,
            "description": tw.get("name") or self.full_name or self.name,
            "board": self.board,
            "qualifiers": self.qualifiers,
            "vendor": self.vendor or tw.get("vendor"),
            "hwm": self.hwm,
            "arch": self.arch,
            "ram_kb": self.kib("ram"),
            "flash_kb": self.kib("flash"),
            "simulation": self.simulation,
            "toolchain": tw.get("toolchain") if isinstance(tw.get("toolchain"), list) else [],
            "dir": str(self.dir),
            "source": self.source,
        }
        if self.aliases:
            out["aliases"] = list(self.aliases)
        return out


class UnknownBoard(LookupError):
    def __init__(self, message: str, available: list[str]) -> None:
        super().__init__(message)
        self.available = available


@dataclass
class Catalog:
    """Every board target of a tree, and how names map onto them."""

    zephyr_base: Path
    targets: dict[str, BoardTarget]
    deprecated: dict[str, str]
    notes: list[str]

    def names(self) -> list[str]:
        return sorted(self.targets)

    def lookup(self, name: str) -> tuple[BoardTarget, str]:
        """The target for ``name`` and how it was found ("exact", "alias", "revision",
        "deprecated.cmake", "old name"). Raises :class:`UnknownBoard`."""
        name = name.strip()
        found = self._plain(name)
        if found is not None:
            return found
        seen = {name}
        current = name
        while current in self.deprecated:  # old -> new, possibly through several renames
            current = self.deprecated[current]
            if current in seen:
                break
            seen.add(current)
            found = self._plain(current)
            if found is not None:
                return found[0], "deprecated.cmake"
        raise UnknownBoard(f"Zephyr at {self.zephyr_base} has no board target {name!r}", self.names())

    def _plain(self, name: str) -> tuple[BoardTarget, str] | None:
        if name in self.targets:
            return self.targets[name], "exact"
        for t in self.targets.values():
            if name in t.aliases:
                return t, "alias"
        if "@" in name:  # board@revision[/qualifiers]: revisions share the target's facts
            base = re.sub(r"@[^/]*", "", name, count=1)
            found = self._plain(base)
            if found is not None:
                return found[0], "revision"
        old = self._old_name(name)
        return (old, "old name") if old is not None else None

    def _old_name(self, old: str) -> BoardTarget | None:
        best: list[tuple[int, int, BoardTarget]] = []
        for order, t in enumerate(self.targets.values()):
            if t.hwm != "v2" or not old.startswith(t.board + "_"):
                continue
            parts = t.qualifiers.split("/") if t.qualifiers else []
            for k in range(1, len(parts) + 1):
                for subset in itertools.combinations(parts, k):
                    if "_".join((t.board,) + subset) == old:
                        best.append((len(parts) - k, order, t))
        if not best:
            return None
        best.sort(key=lambda e: (e[0], e[2].twister is None, e[1]))
        return best[0][2]


# ---- reading the tree ------------------------------------------------------------------------


def _load(path: Path, notes: list[str]) -> Any:
    try:
        return yamlish.load(path)
    except (OSError, ValueError) as exc:
        notes.append(f"skipped {path}: {exc}")
        return None


def read_socs(zephyr_base: Path, notes: list[str]) -> dict[str, list[str]]:
    """SoC name -> its CPU clusters, from every ``soc.yml`` under ``soc/``."""
    socs: dict[str, list[str]] = {}
    root = zephyr_base / "soc"
    if not root.is_dir():
        return socs

    def add(entries: Any) -> None:
        for s in entries or []:
            if isinstance(s, dict) and isinstance(s.get("name"), str):
                socs[s["name"]] = [c["name"] for c in s.get("cpuclusters") or [] if isinstance(c, dict) and "name" in c]

    def series(entries: Any) -> None:
        for se in entries or []:
            if isinstance(se, dict):
                add(se.get("socs"))

    for path in sorted(root.rglob("soc.yml")):
        doc = _load(path, notes)
        if not isinstance(doc, dict):
            continue
        for fam in doc.get("family") or []:
            if isinstance(fam, dict):
                series(fam.get("series"))
                add(fam.get("socs"))
        series(doc.get("series"))
        add(doc.get("socs"))
    return socs


def _variant_qualifiers(variant: dict, prefix: str | None) -> list[str]:
    q = variant["name"] if prefix is None else f"{prefix}/{variant['name']}"
    out = [q]
    for v in variant.get("variants") or []:
        if isinstance(v, dict) and "name" in v:
            out += _variant_qualifiers(v, q)
    return out


def board_qualifiers(board: dict, socs: dict[str, list[str]]) -> list[str]:
    """The qualifiers of one board.yml board entry, in declaration order (list_boards.py's rules)."""
    out: list[str] = []
    for s in board.get("socs") or []:
        if not isinstance(s, dict) or "name" not in s:
            continue
        variants = [v for v in s.get("variants") or [] if isinstance(v, dict) and "name" in v]
        clusters = socs.get(s["name"], [])
        if clusters:
            for c in clusters:
                cid = f"{s['name']}/{c}"
                out.append(cid)
                for v in variants:
                    if v.get("cpucluster") == c:
                        out += _variant_qualifiers(v, cid)
        else:
            out.append(s["name"])
            for v in variants:
                out += _variant_qualifiers(v, s["name"])
    for v in board.get("variants") or []:
        if isinstance(v, dict) and "name" in v:
            out += _variant_qualifiers(v, None)
    return out


def _v2_targets(board: dict, directory: Path, qualifiers: list[str], source: str) -> list[BoardTarget]:
    name = board["name"]
    soc_names = tuple(s["name"] for s in board.get("socs") or [] if isinstance(s, dict) and "name" in s)
    targets = []
    for q in qualifiers:
        full = f"{name}/{q}"
        t = BoardTarget(
            name=full, board=name, qualifiers=q, hwm="v2", dir=directory, vendor=board.get("vendor"),
            full_name=board.get("full_name"), socs=soc_names, source=source,
        )
        if len(soc_names) == 1 and q == soc_names[0]:
            t.name, t.aliases = name, [full]  # one SoC: Zephyr lets the board name stand alone
        targets.append(t)
    return targets


def read_tree(zephyr_base: Path, notes: list[str]) -> dict[str, BoardTarget]:
    """Every target under ``zephyr_base/boards`` (HWMv2 and HWMv1), twister yaml attached."""
    boards_dir = zephyr_base / "boards"
    targets: dict[str, BoardTarget] = {}
    if not boards_dir.is_dir():
        notes.append(f"{boards_dir} does not exist")
        return targets
    socs = read_socs(zephyr_base, notes)
    extensions: list[tuple[dict, Path]] = []
    for yml in sorted(boards_dir.rglob(BOARD_YML)):
        doc = _load(yml, notes)
        if not isinstance(doc, dict):
            continue
        entries = doc.get("boards") or ([doc["board"]] if isinstance(doc.get("board"), dict) else [])
        for b in entries:
            if not isinstance(b, dict):
                continue
            if "extend" in b:
                extensions.append((b, yml.parent))
                continue
            if not isinstance(b.get("name"), str):
                notes.append(f"skipped {yml}: a board without a name")
                continue
            for t in _v2_targets(b, yml.parent, board_qualifiers(b, socs), "tree"):
                targets.setdefault(t.name, t)
    for ext, directory in extensions:  # variants that other folders add to a board
        for v in ext.get("variants") or []:
            if not isinstance(v, dict) or "name" not in v or "qualifier" not in v:
                continue
            base = next((t for t in targets.values() if t.board == ext["extend"] and t.qualifiers == v["qualifier"]), None)
            if base is None:
                continue
            for q in _variant_qualifiers(v, v["qualifier"]):
                t = BoardTarget(name=f"{base.board}/{q}", board=base.board, qualifiers=q, hwm="v2", dir=directory,
                                vendor=base.vendor, full_name=base.full_name, socs=base.socs)
                targets.setdefault(t.name, t)
    # HWMv1: boards/<arch>/<board>/<board>_defconfig, no board.yml
    arch_root = zephyr_base / "arch"
    arches = sorted(p.name for p in arch_root.iterdir() if p.is_dir() and p.name != "common") if arch_root.is_dir() else []
    for arch in arches:
        for d in sorted((boards_dir / arch).iterdir()) if (boards_dir / arch).is_dir() else []:
            if not d.is_dir() or (d / BOARD_YML).is_file():
                continue
            for defconfig in sorted(d.glob("*_defconfig")):
                name = defconfig.name[: -len("_defconfig")]
                targets.setdefault(name, BoardTarget(name=name, board=name, qualifiers="", hwm="v1", dir=d,
                                                     arch_dir=arch))
    attach_twister(targets.values(), notes)
    return targets


def attach_twister(targets: Iterable[BoardTarget], notes: list[str]) -> None:
    """Attach each twister yaml of the targets' folders to the target its ``identifier`` names."""
    targets = list(targets)
    by_dir: dict[Path, list[BoardTarget]] = {}
    for t in targets:
        by_dir.setdefault(t.dir, []).append(t)
    for directory, ts in by_dir.items():
        names = {}
        for t in ts:
            names[t.name] = t
            for a in t.aliases:
                names[a] = t
        for y in sorted(directory.glob("*.yaml")):
            doc = _load(y, notes)
            if not isinstance(doc, dict) or not isinstance(doc.get("identifier"), str):
                continue
            t = names.get(doc["identifier"])
            if t is None:
                continue
            # Several files may name one target (short and full identifier): the exact one wins.
            if t.twister is None or doc["identifier"] == t.name:
                t.twister, t.twister_file = doc, y


def read_deprecated(zephyr_base: Path) -> dict[str, str]:
    """``set(<old>_DEPRECATED <new>)`` lines of ``boards/deprecated.cmake``."""
    path = zephyr_base / "boards" / "deprecated.cmake"
    out: dict[str, str] = {}
    if path.is_file():
        for m in re.finditer(r"^\s*set\(\s*(\S+)_DEPRECATED\s+\"?([^\s\")]+)\"?\s*\)", path.read_text(), re.M):
            out[m.group(1)] = m.group(2)
    return out


def parse_west_boards(text: str) -> list[tuple[str, Path, list[str]]]:
    """Lines of ``west boards --format WEST_BOARDS_FORMAT``: (name, dir, qualifiers)."""
    rows = []
    for line in text.splitlines():
        parts = line.strip().split("|")
        if len(parts) != 3 or not parts[0]:
            continue
        quals = [q for q in parts[2].split(",") if q and q != "None"]
        rows.append((parts[0], Path(parts[1]), quals))
    return rows


def merge_west(targets: dict[str, BoardTarget], rows: list[tuple[str, Path, list[str]]], notes: list[str]) -> int:
    """Add the boards ``west boards`` listed that the tree walk did not find; returns how many."""
    known_boards = {t.board for t in targets.values()}
    added: list[BoardTarget] = []
    for name, directory, quals in rows:
        if name in known_boards:
            continue
        yml = directory / BOARD_YML
        doc = _load(yml, notes) if yml.is_file() else None
        entry = None
        if isinstance(doc, dict):
            entries = doc.get("boards") or ([doc.get("board")] if isinstance(doc.get("board"), dict) else [])
            entry = next((b for b in entries if isinstance(b, dict) and b.get("name") == name), None)
        if entry is None:
            entry = {"name": name}
        if quals:
            new = _v2_targets(entry, directory, quals, "west")
        else:
            new = [BoardTarget(name=name, board=name, qualifiers="", hwm="v1", dir=directory, source="west")]
        for t in new:
            if t.name not in targets:
                targets[t.name] = t
                added.append(t)
    attach_twister(added, notes)
    return len({t.board for t in added})


def catalog(zephyr_base: Path, west_rows: list[tuple[str, Path, list[str]]] | None, notes: list[str]) -> Catalog:
    targets = read_tree(zephyr_base, notes)
    if west_rows:
        n = merge_west(targets, west_rows, notes)
        if n:
            notes.append(f"west boards added {n} board(s) from other board roots")
    # Insertion order is declaration order (old-name matching relies on it); names() sorts.
    return Catalog(zephyr_base, targets, read_deprecated(zephyr_base), notes)
