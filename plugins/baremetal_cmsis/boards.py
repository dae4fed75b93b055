"""Board files: which device a board carries, how to run or reach it, and its console.

A board is one JSON file, ``<anything>.json``, holding one object (documented in
docs/baremetal-cmsis.md, "Board files")::

    {
      "$comment": "free text, ignored (allowed in every object)",
      "name": "mps2-an386",                      board name: letters, digits, _ . - (required)
      "description": "one line for humans",
      "vendor": "Arm",
      "device": "MPS2_AN386",                    a device name from a CMSIS pack (required)
      "cpu_clock_hz": 25000000,                  clock the core runs at (SysTick counts it);
                                                 default: the device's Dclock
      "semihosting": true,                       the program may exit through semihosting
      "arena_region": "DTCM",                    optional: the memory region (pack name) for the
                                                 model's arena, instead of the placement rule
      "console": {                               the UART the firmware talks on (required)
        "driver": "cmsdk_uart",                  a driver the firmware has (see CONSOLE_DRIVERS)
        "base": "0x40004000",                    register base: integer or "0x..." string
        "baud": 115200,                          default 115200
        "clock_hz": 25000000                     the UART's input clock (PCLK)
      },
      "emulator": {                              how to emulate the board, or null
        "kind": "qemu",
        "binary": "qemu-system-arm",             default qemu-system-arm
        "machine": "mps2-an386",                 the -M machine
        "extra_args": []                         more arguments, default none
      },
      "probe": {                                 how to reach the real board, or null
        "kind": "pyocd", "target": "..."         pyOCD target name (pyocd list --targets)
        "kind": "openocd", "interface": "interface/cmsis-dap.cfg", "target": "target/....cfg"
        "frequency_hz": 4000000,                 optional SWD/JTAG clock
        "usb_vid": "0x0d28", "usb_pid": "0x0204",  optional: finds the probe's serial port
        "extra_args": []                         optional
      }
    }

At least one of ``emulator`` and ``probe`` is given. Unknown fields are refused (a typo must not
pass silently); every error names the file and the field.

Where board files are found, in order of precedence (a board name found earlier wins, so a
user's board overrides a shipped one of the same name):

1. the ``extra_dirs`` given by the caller (the server's ``board_dirs`` option);
2. the folders in the environment variable ``UTVM_BAREMETAL_BOARDS`` (``os.pathsep``-separated);
3. the boards shipped with this plugin (``data/boards``): the five QEMU MPS2/MPS3 machines.

Each folder is read non-recursively (``*.json``); two files of one folder naming the same board
is an error.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Iterable

from utvm.errors import UtvmError
from utvm.project_api import BoardNotFound

from .packs import DeviceNotFound, find_device
from .targets import Board, Device

ENV_BOARDS = "UTVM_BAREMETAL_BOARDS"
SHIPPED_BOARDS = Path(__file__).resolve().parent / "data" / "boards"

#: Console drivers the firmware side implements.
CONSOLE_DRIVERS = ("cmsdk_uart",)
EMULATOR_KINDS = ("qemu",)
PROBE_KINDS = ("pyocd", "openocd")

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*\Z")
_COMMENT = "$comment"

__all__ = [
    "BoardFileError",
    "BoardNotFound",
    "CONSOLE_DRIVERS",
    "board_device",
    "board_search_path",
    "get_board",
    "load_boards",
    "read_board",
    "split_dirs",
]


class BoardFileError(UtvmError):
    """A board file (or board folder) is invalid: ``path``, ``field`` and ``reason``."""

    def __init__(self, path: Path | str, reason: str, field: str | None = None):
        where = f"{path}: field '{field}': " if field else f"{path}: "
        super().__init__(where + reason)
        self.path = Path(path)
        self.field = field
        self.reason = reason


# --------------------------------------------------------------------------------------------
# the search path


def split_dirs(value: str | os.PathLike | Iterable[str | os.PathLike] | None) -> list[Path]:
    """Folders from an ``os.pathsep``-separated string, a path, or an iterable of them."""
    if value is None:
        return []
    if isinstance(value, (str, os.PathLike)):
        text = os.fspath(value)
        return [Path(p).expanduser() for p in text.split(os.pathsep) if p.strip()]
    dirs: list[Path] = []
    for item in value:
        dirs.extend(split_dirs(item))
    return dirs


def board_search_path(extra_dirs: Iterable[str | os.PathLike] | str | None = ()) -> list[tuple[Path, str]]:
    """(folder, where it came from), in precedence order."""
    path = [(d, "board_dirs") for d in split_dirs(extra_dirs)]
    path += [(d, f"${ENV_BOARDS}") for d in split_dirs(os.environ.get(ENV_BOARDS))]
    path.append((SHIPPED_BOARDS, "shipped with utvm"))
    return path


# --------------------------------------------------------------------------------------------
# validation


class _Fields:
    """Typed access to one JSON object of a board file, with errors naming file and field."""

    def __init__(self, path: Path, obj: Any, prefix: str, allowed: Iterable[str]):
        self.path = path
        self.prefix = prefix
        if not isinstance(obj, dict):
            raise BoardFileError(path, f"must be a JSON object, not {_json_type(obj)}", prefix or None)
        unknown = sorted(set(obj) - set(allowed) - {_COMMENT})
        if unknown:
            raise BoardFileError(
                path,
                f"unknown field{'s' if len(unknown) > 1 else ''} {', '.join(repr(u) for u in unknown)}; "
                f"allowed: {', '.join(sorted(allowed))}",
                prefix or None,
            )
        self.obj = obj

    def name(self, key: str) -> str:
        return f"{self.prefix}.{key}" if self.prefix else key

    def error(self, key: str, reason: str) -> BoardFileError:
        return BoardFileError(self.path, reason, self.name(key))

    def has(self, key: str) -> bool:
        return self.obj.get(key) is not None

    def text(self, key: str, required: bool = False, default: str | None = None) -> str | None:
        value = self.obj.get(key)
        if value is None:
            if required:
                raise self.error(key, "is required (a string)")
            return default
        if not isinstance(value, str) or (required and not value.strip()):
            raise self.error(key, f"must be a non-empty string, not {_json_repr(value)}")
        return value

    def integer(self, key: str, required: bool = False, default: int | None = None, positive: bool = True,
            hex_ok: bool = False, bits: int | None = None) -> int | None:
        value = self.obj.get(key)
        if value is None:
            if required:
                raise self.error(key, "is required (an integer" + (" or a '0x...' string)" if hex_ok else ")"))
            return default
        if isinstance(value, str) and hex_ok:
            text = value.strip().lower().replace("_", "")
            try:
                value = int(text[2:], 16) if text.startswith("0x") else int(text, 10)
            except ValueError:
                raise self.error(
                    key, f"must be an integer or a '0x...' hex string, not {_json_repr(self.obj[key])}"
                ) from None
        elif isinstance(value, bool) or not isinstance(value, int):
            kind = "an integer or a '0x...' hex string" if hex_ok else "an integer"
            raise self.error(key, f"must be {kind}, not {_json_repr(value)}")
        if positive and value <= 0:
            raise self.error(key, f"must be greater than 0, not {value}")
        if value < 0:
            raise self.error(key, f"must not be negative, not {value}")
        if bits is not None and value >= 1 << bits:
            raise self.error(key, f"must fit in {bits} bits, not {value:#x}")
        return value

    def flag(self, key: str, default: bool = False) -> bool:
        value = self.obj.get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self.error(key, f"must be true or false, not {_json_repr(value)}")
        return value

    def choice(self, key: str, choices: Iterable[str]) -> str:
        choices = tuple(choices)
        value = self.obj.get(key)
        if value is None:
            raise self.error(key, f"is required: one of {', '.join(choices)}")
        if value not in choices:
            raise self.error(key, f"must be one of {', '.join(choices)}, not {_json_repr(value)}")
        return value

    def str_list(self, key: str) -> list[str]:
        value = self.obj.get(key)
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.error(key, f"must be a list of strings, not {_json_repr(value)}")
        return list(value)


def _json_type(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number"
    )


def _json_repr(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _console(path: Path, obj: Any) -> dict[str, Any]:
    f = _Fields(path, obj, "console", ("driver", "base", "baud", "clock_hz"))
    return {
        "driver": f.choice("driver", CONSOLE_DRIVERS),
        "base": f.integer("base", required=True, hex_ok=True, positive=False, bits=32),
        "baud": f.integer("baud", default=115200),
        "clock_hz": f.integer("clock_hz", required=True),
    }


def _emulator(path: Path, obj: Any) -> dict[str, Any] | None:
    if obj is None:
        return None
    f = _Fields(path, obj, "emulator", ("kind", "binary", "machine", "extra_args"))
    return {
        "kind": f.choice("kind", EMULATOR_KINDS),
        "binary": f.text("binary", default="qemu-system-arm"),
        "machine": f.text("machine", required=True),
        "extra_args": f.str_list("extra_args"),
    }


def _probe(path: Path, obj: Any) -> dict[str, Any] | None:
    if obj is None:
        return None
    common = ("kind", "frequency_hz", "usb_vid", "usb_pid", "extra_args")
    if isinstance(obj, dict) and obj.get("kind") == "openocd":
        f = _Fields(path, obj, "probe", common + ("interface", "target"))
        probe: dict[str, Any] = {"kind": "openocd", "interface": f.text("interface", required=True),
                                 "target": f.text("target", required=True)}
    else:
        f = _Fields(path, obj, "probe", common + ("target",))
        probe = {"kind": f.choice("kind", PROBE_KINDS), "target": f.text("target", required=True)}
    probe["frequency_hz"] = f.integer("frequency_hz")
    probe["usb_vid"] = f.integer("usb_vid", hex_ok=True, bits=16)
    probe["usb_pid"] = f.integer("usb_pid", hex_ok=True, bits=16)
    probe["extra_args"] = f.str_list("extra_args")
    return probe


def board_from_json(obj: Any, path: Path | str) -> Board:
    """A Board from a parsed board file; BoardFileError names the file and the field."""
    path = Path(path)
    f = _Fields(
        path,
        obj,
        "",
        (
            "name",
            "description",
            "vendor",
            "device",
            "cpu_clock_hz",
            "semihosting",
            "arena_region",
            "console",
            "emulator",
            "probe",
        ),
    )
    name = f.text("name", required=True)
    if not _NAME.match(name):
        raise f.error(
            "name", f"{name!r} is not a board name: letters, digits, '_', '.', '-', starting with a letter or digit"
        )
    if "console" not in obj:
        raise f.error("console", "is required: the UART the firmware talks on")
    emulator = _emulator(path, obj.get("emulator"))
    probe = _probe(path, obj.get("probe"))
    if emulator is None and probe is None:
        raise BoardFileError(path, "a board needs an 'emulator' or a 'probe' (or both): how to run it")
    return Board(
        name=name,
        description=f.text("description", default="") or "",
        device=f.text("device", required=True).strip(),
        console=_console(path, obj["console"]),
        emulator=emulator,
        probe=probe,
        source=path,
        extra={
            "vendor": f.text("vendor"),
            "cpu_clock_hz": f.integer("cpu_clock_hz"),
            "semihosting": f.flag("semihosting"),
            "arena_region": f.text("arena_region"),
        },
    )


def read_board(path: Path | str) -> Board:
    """Read and validate one board file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BoardFileError(path, f"cannot be read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise BoardFileError(path, f"is not UTF-8 text: {exc.reason} at byte {exc.start}") from None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BoardFileError(path, f"is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from None
    return board_from_json(obj, path)


# --------------------------------------------------------------------------------------------
# the public entry points


def load_boards(extra_dirs: Iterable[str | os.PathLike] | str | None = ()) -> dict[str, Board]:
    """Every board on the search path, by name; a board found earlier overrides a later one."""
    boards: dict[str, Board] = {}
    for folder, origin in board_search_path(extra_dirs):
        if not folder.is_dir():
            if origin == "shipped with utvm":  # pragma: no cover - a broken installation
                raise BoardFileError(folder, "the shipped board folder is missing: reinstall utvm")
            raise BoardFileError(folder, f"is not a folder (given in {origin})")
        here: dict[str, Board] = {}
        for file in sorted(folder.glob("*.json")):
            if not file.is_file():
                continue
            board = read_board(file)
            if board.name in here:
                raise BoardFileError(
                    file, f"board {board.name!r} is also described by {here[board.name].source}", "name"
                )
            here[board.name] = board
        for name, board in here.items():
            boards.setdefault(name, board)
    return dict(sorted(boards.items()))


def get_board(name: str, extra_dirs: Iterable[str | os.PathLike] | str | None = ()) -> Board:
    """The board called ``name``; BoardNotFound (details ``board``, ``available``) otherwise."""
    boards = load_boards(extra_dirs)
    if name in boards:
        return boards[name]
    available = list(boards)
    folders = ", ".join(str(d) for d, _ in board_search_path(extra_dirs))
    raise BoardNotFound(
        f"no board {name!r}; available: {', '.join(available) or '(none)'} (board files are read from {folders})",
        board=name,
        available=available,
    )


def board_device(board: Board, pack_search_path: Iterable[Path | str] | None = None) -> Device:
    """The pack device a board names; the error says which board file asked for it."""
    try:
        return find_device(board.device, pack_search_path)
    except DeviceNotFound as exc:
        raise DeviceNotFound(
            f"board {board.name!r} ({board.source}) names device {board.device!r}: {exc}",
            name=exc.name,
            close=exc.close,
            searched=exc.searched,
        ) from None


def board_summary(board: Board, device: Device | None = None) -> dict[str, Any]:
    """What the ``boards`` method lists for a board."""
    entry: dict[str, Any] = {"name": board.name, "description": board.description, "device": board.device}
    if board.extra.get("vendor"):
        entry["vendor"] = board.extra["vendor"]
    if device is not None:
        from .target_info import core_info

        entry["cpu"] = core_info(device.core).cpu
    entry["emulator"] = board.emulator["kind"] if board.emulator else None
    entry["probe"] = board.probe["kind"] if board.probe else None
    entry["source"] = str(board.source) if board.source else None
    return entry

