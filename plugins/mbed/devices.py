"""Connected Mbed boards, as ``mbed-tools detect --format json`` lists them.

The listing (mbed-tools' ``list_connected_devices``) is a JSON array, one object per board::

    {"serial_number": "0672FF...", "serial_port": "/dev/ttyACM0",
     "mount_points": ["/media/me/NODE_F746ZG"], "interface_version": "V2J37M26",
     "mbed_board": {"product_code": "0816", "board_type": "NUCLEO_F746ZG",
                    "board_name": "NUCLEO-F746ZG", "mbed_os_support": [...],
                    "mbed_enabled": [...], "build_targets": ["NUCLEO_F746ZG"]}}

With no board connected the tool prints ``No connected Mbed devices found.`` instead. With two
boards of one type the build targets carry an index (``NUCLEO_F746ZG[0]``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

DETECT_TIMEOUT_S = 60.0
_INDEX = re.compile(r"\[\d+\]$")


class DetectError(Exception):
    """mbed-tools is missing, failed, or printed something that is not its listing."""

    def __init__(self, message: str, command: list[str] | None = None, returncode: int | None = None,
                 log_tail: str = "") -> None:
        super().__init__(message)
        self.command = command or []
        self.returncode = returncode
        self.log_tail = log_tail


class DeviceNotFound(Exception):
    """No connected board matches, or several do and none was chosen."""


@dataclass(frozen=True)
class Device:
    serial_number: str
    serial_port: str | None
    mount_points: tuple[str, ...]
    board_type: str | None
    board_name: str | None
    product_code: str | None
    build_targets: tuple[str, ...] = field(default_factory=tuple)
    interface_version: str | None = None

    def targets(self) -> set[str]:
        names = {_INDEX.sub("", t) for t in self.build_targets}
        if self.board_type:
            names.add(self.board_type)
        return names

    def matches(self, target: str, detect_codes: Sequence[str] = ()) -> bool:
        return target in self.targets() or (self.product_code is not None and self.product_code in detect_codes)

    def to_json(self) -> dict[str, Any]:
        return {"serial_number": self.serial_number, "port": self.serial_port,
                "mount_points": list(self.mount_points), "board_name": self.board_name}


def mbed_tools_executable(tree_root: Path | str | None = None) -> str | None:
    """The mbed-tools command (ARMmbed's and Mbed CE's both install ``mbed-tools``): from PATH, else
    from the Python environment an Mbed CE build creates in the tree (``mbed-os/venv``)."""
    found = shutil.which("mbed-tools") or shutil.which("mbedtools")
    if found or tree_root is None:
        return found
    for sub in ("bin", "Scripts"):
        for name in ("mbed-tools", "mbed-tools.exe"):
            candidate = Path(tree_root) / "venv" / sub / name
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return str(candidate)
    return None


def detect_argv(executable: str) -> list[str]:
    return [executable, "detect", "--format", "json"]


def parse_detect_output(text: str) -> list[Device]:
    """The devices in ``mbed-tools detect --format json`` output."""
    stripped = text.strip()
    if not stripped or stripped.startswith("No connected Mbed devices found"):
        return []
    start = stripped.find("[")
    if start < 0:
        raise DetectError(f"mbed-tools detect printed no JSON listing: {stripped[:200]!r}")
    try:
        rows = json.loads(stripped[start:])
    except ValueError as exc:
        raise DetectError(f"cannot read mbed-tools detect's JSON: {exc}") from None
    if not isinstance(rows, list):
        raise DetectError("mbed-tools detect's JSON is not a list of devices")
    devices = []
    for row in rows:
        if not isinstance(row, dict):
            continue
        board = row.get("mbed_board") or {}
        devices.append(Device(
            serial_number=str(row.get("serial_number") or ""),
            serial_port=row.get("serial_port") or None,
            mount_points=tuple(str(m) for m in row.get("mount_points") or []),
            board_type=board.get("board_type") or None,
            board_name=board.get("board_name") or None,
            product_code=board.get("product_code") or None,
            build_targets=tuple(board.get("build_targets") or []),
            interface_version=row.get("interface_version") or None,
        ))
    return devices


def detect(executable: str | None = None) -> list[Device]:
    """Run ``mbed-tools detect --format json`` and return what it lists."""
    executable = executable or mbed_tools_executable()
    if executable is None:
        raise DetectError("mbed-tools is not on PATH (pip install mbed-tools, or Mbed CE's tools/python venv)")
    argv = detect_argv(executable)
    try:
        proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              timeout=DETECT_TIMEOUT_S, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise DetectError(f"{' '.join(argv)} did not finish within {DETECT_TIMEOUT_S:.0f} s", argv) from None
    except OSError as exc:
        raise DetectError(f"cannot run {argv[0]}: {exc}", argv) from None
    sys.stderr.write(proc.stderr)
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr)[-2000:]
        raise DetectError(f"{' '.join(argv)} failed with exit code {proc.returncode}: {tail.strip()[-300:]}",
                          argv, proc.returncode, tail)
    return parse_detect_output(proc.stdout)


def select_device(devices: Sequence[Device], target: str, serial: str | None = None,
                  detect_codes: Sequence[str] = ()) -> Device:
    """The connected board for ``target`` (or with serial number ``serial``)."""
    listing = ", ".join(f"{d.board_type or d.board_name or '?'} (serial {d.serial_number})" for d in devices) or "none"
    if serial:
        chosen = [d for d in devices if d.serial_number.lower() == serial.lower()]
        if not chosen:
            raise DeviceNotFound(f"no connected board has serial number {serial}; mbed-tools detect lists: {listing}")
        return chosen[0]
    matching = [d for d in devices if d.matches(target, detect_codes)]
    if not matching:
        raise DeviceNotFound(f"no connected {target} board; mbed-tools detect lists: {listing}")
    if len(matching) > 1:
        serials = ", ".join(d.serial_number for d in matching)
        raise DeviceNotFound(f"{len(matching)} {target} boards are connected (serial numbers {serials}); "
                             "choose one with the option serial_number")
    return matching[0]
