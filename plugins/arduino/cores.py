"""Installed Arduino cores: their boards.txt and platform.txt, read as the Arduino tools read them.

Nothing about a board is written in this plugin's code: every board, menu option, memory limit,
MCU, clock, USB id and upload recipe comes from the cores installed on this machine.

Where cores are found (the first one found for a ``VENDOR:ARCH`` wins, as with arduino-cli):

1. the folders of the ``hardware_dirs`` option (``os.pathsep``-separated), each either a
   hardware folder (``VENDOR/ARCH/boards.txt``) or a packages folder
   (``VENDOR/hardware/ARCH/VERSION/boards.txt``);
2. the sketchbook's ``hardware`` folder (option ``sketchbook_dir``, else ``$ARDUINO_DIRECTORIES_USER``,
   else ``~/Arduino``): ``hardware/VENDOR/ARCH``;
3. arduino-cli's data folder (option ``arduino_data_dir``, else ``$ARDUINO_DIRECTORIES_DATA``, else
   ``~/.arduino15``, ``~/Library/Arduino15`` or ``%LOCALAPPDATA%/Arduino15``):
   ``packages/VENDOR/hardware/ARCH/VERSION``, the highest installed version;
4. the distribution's packages (Debian's arduino-core-avr): ``/usr/share/arduino/hardware/VENDOR/ARCH``
   and ``/usr/local/share/arduino/hardware/VENDOR/ARCH``.

The file format (the Arduino platform specification): ``key=value`` lines, ``#`` comments;
``key.linux`` / ``key.windows`` / ``key.macosx`` override ``key`` on that system; ``{key}`` in a
value refers to another property. In boards.txt every key starts with a board id;
``menu.MENU=Label`` declares a menu, ``BOARD.menu.MENU.VALUE=Label`` one of its values and
``BOARD.menu.MENU.VALUE.KEY=...`` what choosing it sets. A board is named by its FQBN,
``VENDOR:ARCH:BOARD[:MENU=VALUE,...]``; a menu left out takes its first value.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from utvm.errors import UtvmError
from utvm.project_api import BoardNotFound

ENV_DATA = "ARDUINO_DIRECTORIES_DATA"
ENV_USER = "ARDUINO_DIRECTORIES_USER"
SYSTEM_HARDWARE = (Path("/usr/share/arduino/hardware"), Path("/usr/local/share/arduino/hardware"))
#: The IDE version the build properties claim (runtime.ide.version), as arduino-cli does.
IDE_VERSION = "10607"

_OS_SUFFIX = {"linux": ".linux", "darwin": ".macosx", "win32": ".windows"}
_REF = re.compile(r"\{([^{}]+)\}")
_ID = re.compile(r"[A-Za-z0-9_.\-]+\Z")


class CoreError(UtvmError):
    """A core's files are unreadable or malformed."""


# ---- the properties format -------------------------------------------------------------------


def parse_properties(text: str, source: str = "<text>", os_name: str | None = None) -> dict[str, str]:
    """The properties of one file, in file order, with this system's ``.linux``-style overrides applied."""
    suffix = _OS_SUFFIX.get(os_name or sys.platform, ".linux")
    others = [s for s in _OS_SUFFIX.values() if s != suffix]
    props: dict[str, str] = {}
    overrides: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if "=" not in line:
            raise CoreError(f"{source}:{number}: not a 'key=value' line: {raw!r}")
        key, value = line.split("=", 1)
        key, value = key.strip(), value.strip()
        if not key:
            raise CoreError(f"{source}:{number}: empty key")
        if key.endswith(suffix):
            overrides[key[: -len(suffix)]] = value
        elif any(key.endswith(o) for o in others):
            continue
        else:
            props[key] = value
    props.update(overrides)
    return props


def read_properties(path: Path) -> dict[str, str]:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise CoreError(f"cannot read {path}: {exc.strerror}") from None
    return parse_properties(text, str(path))


def expand(value: str, props: Mapping[str, str], depth: int = 16) -> str:
    """``value`` with every ``{key}`` replaced by its property, repeatedly; unknown keys stay as they are."""
    for _ in range(depth):
        changed = _REF.sub(lambda m: props.get(m.group(1), m.group(0)), value)
        if changed == value:
            return value
        value = changed
    return value


def subtree(props: Mapping[str, str], prefix: str) -> dict[str, str]:
    """The properties under ``prefix.`` with the prefix removed."""
    p = prefix + "."
    return {k[len(p):]: v for k, v in props.items() if k.startswith(p)}


def parse_int(value: str | None) -> int | None:
    """An integer property (``16000000L``, ``0x2341``, ``32256``), or None."""
    if value is None:
        return None
    text = value.strip().rstrip("uUlL")
    try:
        return int(text, 0)
    except ValueError:
        try:
            return int(text)
        except ValueError:
            return None


def _version_key(text: str) -> tuple:
    parts = re.split(r"[.\-+]", text)
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts)


# ---- cores ------------------------------------------------------------------------------------


@dataclass
class Core:
    """One installed platform (a core): ``VENDOR:ARCH`` with its boards.txt and platform.txt."""

    vendor: str
    arch: str
    path: Path  # the folder holding boards.txt and platform.txt
    hardware_root: Path  # what arduino-builder's -hardware takes for it
    origin: str  # where it was found (for messages)
    layout: str  # "hardware" (VENDOR/ARCH) or "packages" (VENDOR/hardware/ARCH/VERSION)
    version: str
    platform: dict[str, str]
    boards_txt: dict[str, str]
    tools: dict[str, Path] = field(default_factory=dict)  # runtime.tools.NAME.path of a packages layout

    @property
    def id(self) -> str:
        return f"{self.vendor}:{self.arch}"

    @property
    def name(self) -> str:
        return self.platform.get("name", self.id)

    @property
    def menus(self) -> dict[str, str]:
        """Menu id -> label, in file order."""
        return {k[5:]: v for k, v in self.boards_txt.items() if k.startswith("menu.") and k.count(".") == 1}

    def board_ids(self, include_hidden: bool = False) -> list[str]:
        ids = []
        for key in self.boards_txt:
            if key.endswith(".name") and key.count(".") == 1 and not key.startswith("menu."):
                board = key[: -len(".name")]
                if include_hidden or self.boards_txt.get(f"{board}.hide", "").lower() not in ("true", "1", "yes"):
                    ids.append(board)
        return ids

    def board_menus(self, board: str) -> dict[str, list[tuple[str, str]]]:
        """Menu id -> [(value, label)] the board offers, in file order (the first value is the default)."""
        out: dict[str, list[tuple[str, str]]] = {}
        prefix = f"{board}.menu."
        for key, label in self.boards_txt.items():
            if key.startswith(prefix):
                rest = key[len(prefix):].split(".")
                if len(rest) == 2:
                    out.setdefault(rest[0], []).append((rest[1], label))
        return out


def _core_at(path: Path, vendor: str, arch: str, hardware_root: Path, origin: str, layout: str, version: str,
             tools: dict[str, Path]) -> Core | None:
    boards = path / "boards.txt"
    if not boards.is_file():
        return None
    try:
        return _read_core(path, vendor, arch, hardware_root, origin, layout, version, tools)
    except CoreError as exc:  # one broken core must not hide the others
        sys.stderr.write(f"arduino: skipping the core in {path}: {exc}\n")
        return None


def _read_core(path: Path, vendor: str, arch: str, hardware_root: Path, origin: str, layout: str, version: str,
               tools: dict[str, Path]) -> Core:
    boards, platform = path / "boards.txt", path / "platform.txt"
    return Core(
        vendor=vendor,
        arch=arch,
        path=path,
        hardware_root=hardware_root,
        origin=origin,
        layout=layout,
        version=version,
        platform=read_properties(platform) if platform.is_file() else {},
        boards_txt=read_properties(boards),
        tools=tools,
    )


def _package_tools(packages: Path) -> dict[str, Path]:
    """runtime.tools.* paths of a packages folder: NAME (highest version) and NAME-VERSION."""
    tools: dict[str, Path] = {}
    for tool_dir in sorted(packages.glob("*/tools/*")):
        versions = sorted((d for d in tool_dir.iterdir() if d.is_dir()), key=lambda d: _version_key(d.name))
        for v in versions:
            tools[f"{tool_dir.name}-{v.name}"] = v
        if versions:
            tools[tool_dir.name] = versions[-1]
    return tools


def cores_in_hardware(folder: Path, origin: str) -> list[Core]:
    """Cores of a hardware folder: VENDOR/ARCH/boards.txt."""
    out = []
    if not folder.is_dir():
        return out
    for vendor in sorted(p for p in folder.iterdir() if p.is_dir()):
        for arch in sorted(p for p in vendor.iterdir() if p.is_dir()):
            version = ""
            core = _core_at(arch, vendor.name, arch.name, folder, origin, "hardware", version, {})
            if core is not None:
                core.version = core.platform.get("version", "")
                out.append(core)
    return out


def cores_in_packages(folder: Path, origin: str) -> list[Core]:
    """Cores of a packages folder: VENDOR/hardware/ARCH/VERSION/boards.txt, the highest version of each."""
    out = []
    if not folder.is_dir():
        return out
    tools = _package_tools(folder)
    for vendor in sorted(p for p in folder.iterdir() if p.is_dir()):
        hw = vendor / "hardware"
        if not hw.is_dir():
            continue
        for arch in sorted(p for p in hw.iterdir() if p.is_dir()):
            versions = sorted((v for v in arch.iterdir() if (v / "boards.txt").is_file()),
                              key=lambda v: _version_key(v.name))
            if versions:
                core = _core_at(versions[-1], vendor.name, arch.name, folder, origin, "packages", versions[-1].name,
                                tools)
                if core is not None:
                    out.append(core)
    return out


def default_data_dir() -> Path:
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Arduino15"
    if sys.platform == "win32":
        return Path(os.environ.get("LOCALAPPDATA", str(Path.home()))) / "Arduino15"
    return Path.home() / ".arduino15"


def data_dir(options: Mapping[str, Any]) -> Path:
    value = options.get("arduino_data_dir") or os.environ.get(ENV_DATA)
    return Path(value).expanduser().absolute() if value else default_data_dir()


def sketchbook_dir(options: Mapping[str, Any]) -> Path:
    value = options.get("sketchbook_dir") or os.environ.get(ENV_USER)
    return Path(value).expanduser().absolute() if value else Path.home() / "Arduino"


def search_folders(options: Mapping[str, Any]) -> list[tuple[Path, str, str]]:
    """(folder, origin, layout) in precedence order; layout "hardware", "packages" or "auto"."""
    folders: list[tuple[Path, str, str]] = []
    for item in str(options.get("hardware_dirs") or "").split(os.pathsep):
        if item.strip():
            folders.append((Path(item.strip()).expanduser().absolute(), "option hardware_dirs", "auto"))
    folders.append((sketchbook_dir(options) / "hardware", "the sketchbook", "hardware"))
    folders.append((data_dir(options) / "packages", "arduino-cli's data folder", "packages"))
    if not options.get("no_system_cores"):
        for f in SYSTEM_HARDWARE:
            folders.append((f, "the system's packages", "hardware"))
    return folders


def find_cores(options: Mapping[str, Any] | None = None) -> dict[str, Core]:
    """Every installed core by ``VENDOR:ARCH``, the first found in precedence order."""
    options = dict(options or {})
    found: dict[str, Core] = {}
    for folder, origin, layout in search_folders(options):
        if layout == "auto":
            cores = cores_in_packages(folder, origin)
            if not cores:
                cores = cores_in_hardware(folder, origin)
        elif layout == "packages":
            cores = cores_in_packages(folder, origin)
        else:
            cores = cores_in_hardware(folder, origin)
        for core in cores:
            found.setdefault(core.id, core)
    return found


# ---- boards -----------------------------------------------------------------------------------


@dataclass
class Board:
    """A board of a core with its menu choices: everything the build uses, resolved."""

    core: Core
    id: str
    name: str
    options: dict[str, str]  # menu -> value, every menu of the board (defaults filled in)
    menus: dict[str, list[tuple[str, str]]]
    props: dict[str, str]  # the board's properties (menu choices applied), keys without the board id

    @property
    def fqbn(self) -> str:
        """The FQBN with the options that differ from the defaults (as arduino-cli prints it)."""
        base = f"{self.core.id}:{self.id}"
        chosen = [f"{m}={v}" for m, v in self.options.items() if self.menus.get(m) and self.menus[m][0][0] != v]
        return base + (":" + ",".join(chosen) if chosen else "")

    @property
    def full_fqbn(self) -> str:
        """The FQBN with every menu's value spelled out."""
        base = f"{self.core.id}:{self.id}"
        return base + (":" + ",".join(f"{m}={v}" for m, v in self.options.items()) if self.options else "")

    def get(self, key: str, default: str | None = None) -> str | None:
        value = self.build_properties().get(key)
        return default if value is None else value

    def build_properties(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """platform.txt, overridden by the board's properties, plus the runtime.* properties, expanded lazily."""
        props: dict[str, str] = {}
        props.update(self.core.platform)
        props.update(self.props)
        props.setdefault("build.arch", self.core.arch.upper())
        props["runtime.platform.path"] = str(self.core.path)
        props["runtime.hardware.path"] = str(self.core.path.parent)
        props["runtime.ide.version"] = IDE_VERSION
        props["runtime.os"] = {"darwin": "macosx", "win32": "windows"}.get(sys.platform, "linux")
        props["build.fqbn"] = self.full_fqbn
        core_name = props.get("build.core", "")
        if core_name and ":" not in core_name:
            props.setdefault("build.core.path", str(self.core.path / "cores" / core_name))
        variant = props.get("build.variant", "")
        if variant and ":" not in variant:
            props.setdefault("build.variant.path", str(self.core.path / "variants" / variant))
        props.setdefault("build.system.path", str(self.core.path / "system"))
        for tool, path in self.core.tools.items():
            props.setdefault(f"runtime.tools.{tool}.path", str(path))
        if extra:
            props.update(extra)
        return props

    def expanded(self, key: str, extra: Mapping[str, str] | None = None) -> str | None:
        props = self.build_properties(extra)
        value = props.get(key)
        return None if value is None else expand(value, props)

    def usb_ids(self) -> list[tuple[int, int]]:
        """(VID, PID) pairs the board shows on USB, from ``vid.N``/``pid.N`` and ``upload_port.N.vid/pid``."""
        pairs: list[tuple[int, int]] = []
        for vid_key, pid_key in (("vid.{}", "pid.{}"), ("upload_port.{}.vid", "upload_port.{}.pid")):
            for n in range(64):
                v = parse_int(self.props.get(vid_key.format(n)))
                p = parse_int(self.props.get(pid_key.format(n)))
                if v is not None and p is not None and (v, p) not in pairs:
                    pairs.append((v, p))
        return pairs


def parse_fqbn(fqbn: str) -> tuple[str, str, str, dict[str, str]]:
    """(vendor, arch, board, {menu: value}) of ``VENDOR:ARCH:BOARD[:MENU=VALUE,...]``."""
    parts = fqbn.strip().split(":")
    if len(parts) not in (3, 4) or not all(_ID.match(p) for p in parts[:3]):
        raise BoardNotFound(
            f"{fqbn!r} is not an FQBN: give VENDOR:ARCH:BOARD[:MENU=VALUE,...], e.g. arduino:avr:uno",
            board=fqbn,
            available=[],
        )
    options: dict[str, str] = {}
    if len(parts) == 4 and parts[3]:
        for item in parts[3].split(","):
            key, sep, value = item.partition("=")
            if not sep or not _ID.match(key.strip()) or not _ID.match(value.strip()):
                raise BoardNotFound(f"{fqbn!r}: board option {item!r} is not MENU=VALUE", board=fqbn, available=[])
            options[key.strip()] = value.strip()
    return parts[0], parts[1], parts[2], options


def resolve_board(core: Core, board_id: str, chosen: Mapping[str, str], fqbn: str = "") -> Board:
    """The board ``board_id`` of ``core`` with the menu values ``chosen`` (the rest default)."""
    ids = core.board_ids(include_hidden=True)
    if board_id not in ids:
        raise BoardNotFound(
            f"core {core.id} ({core.path}) has no board {board_id!r}; its boards: "
            f"{', '.join(core.board_ids())}",
            board=fqbn or f"{core.id}:{board_id}",
            available=[f"{core.id}:{b}" for b in core.board_ids()],
        )
    menus = core.board_menus(board_id)
    for menu, value in chosen.items():
        if menu not in menus:
            raise BoardNotFound(
                f"board {core.id}:{board_id} has no menu {menu!r}"
                + (f"; its menus: {', '.join(f'{m} ({core.menus.get(m, m)})' for m in menus)}" if menus else
                   "; it has no menu options"),
                board=fqbn or f"{core.id}:{board_id}",
                available=[f"{m}={v}" for m, vals in menus.items() for v, _ in vals],
            )
        if value not in [v for v, _ in menus[menu]]:
            raise BoardNotFound(
                f"board {core.id}:{board_id} has no {menu}={value}; {menu} ({core.menus.get(menu, menu)}) is one of: "
                + ", ".join(f"{v} ({label})" for v, label in menus[menu]),
                board=fqbn or f"{core.id}:{board_id}",
                available=[f"{menu}={v}" for v, _ in menus[menu]],
            )
    selected = {m: chosen.get(m, vals[0][0]) for m, vals in menus.items()}
    raw = subtree(core.boards_txt, board_id)
    props = {k: v for k, v in raw.items() if not k.startswith("menu.")}
    for menu, value in selected.items():
        props.update(subtree(raw, f"menu.{menu}.{value}"))
    return Board(core, board_id, raw.get("name", board_id), selected, menus, props)


def get_board(fqbn: str, options: Mapping[str, Any] | None = None, cores: Mapping[str, Core] | None = None) -> Board:
    """The board an FQBN names among the installed cores; BoardNotFound naming what is installed."""
    vendor, arch, board_id, chosen = parse_fqbn(fqbn)
    cores = find_cores(options) if cores is None else cores
    core = cores.get(f"{vendor}:{arch}")
    if core is None:
        where = "; ".join(f"{f} ({o})" for f, o, _ in search_folders(dict(options or {})))
        raise BoardNotFound(
            f"no Arduino core {vendor}:{arch} is installed"
            + (f"; installed cores: {', '.join(sorted(cores))}" if cores else "; no core is installed")
            + f" (searched {where}). Install it (arduino-cli core install {vendor}:{arch}, or apt-get install "
            "arduino-core-avr for arduino:avr) or point the option hardware_dirs at it",
            board=fqbn,
            available=sorted(f"{c.id}:{b}" for c in cores.values() for b in c.board_ids()),
        )
    return resolve_board(core, board_id, chosen, fqbn)


def all_boards(options: Mapping[str, Any] | None = None) -> Iterable[Board]:
    for core in find_cores(options).values():
        for board_id in core.board_ids():
            try:
                yield resolve_board(core, board_id, {})
            except BoardNotFound:  # a malformed board entry: skip it in listings
                continue
