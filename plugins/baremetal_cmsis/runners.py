"""How an image gets onto a board and how its console is reached: one runner per backend.

In the style of Zephyr's west runners, each backend is a class with its
capabilities as data (:class:`RunnerCaps`) and builds the exact command line
from the board file's ``emulator`` or ``probe`` entry:

- :class:`QemuRunner` (``emulator.kind == "qemu"``): starts ``qemu-system-arm``
  with the console UART on a TCP port (``-serial tcp:127.0.0.1:PORT,server=on,wait=on,nodelay=on``:
  without nodelay, Nagle holds every response back by a delayed ACK, about 40 ms),
  ``-icount shift=0`` (SysTick counts instructions: deterministic figures) and
  semihosting (the firmware's exit status is QEMU's). The emulator is owned
  by this process: it runs in a process group of its own, is killed when the
  session closes, at exit (atexit and SIGTERM/SIGINT/SIGHUP), on every error
  path, and, on Linux, by the kernel when this process dies however it dies
  (``PR_SET_PDEATHSIG``). Elsewhere a small watchdog process does the same
  (all of it from :mod:`utvm.project_api.owned_process`).
- :class:`PyOcdRunner` (``probe.kind == "pyocd"``): ``pyocd flash -t TARGET [-u SERIAL] firmware.hex``.
- :class:`OpenOcdRunner` (``probe.kind == "openocd"``): ``openocd -f IFACE -f TARGET -c "program firmware.elf verify reset exit"``.

A tool that is not installed gives :class:`FlashFailed` naming it; the
command line is still built (and tested) without it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Mapping

from utvm.project_api import FlashFailed, ProjectError
from utvm.project_api.owned_process import LoggedProcess, free_port, kill_process_group, spawn_owned

DEFAULT_QEMU = "qemu-system-arm"
QEMU_READY = "waiting for connection"
#: Seconds QEMU gets to open its TCP port.
QEMU_START_TIMEOUT = 10.0


@dataclass(frozen=True)
class RunnerCaps:
    """What a runner can do (data, not code paths)."""

    commands: frozenset[str]  # of "flash" (write the image), "run" (run to completion), "console"
    emulated: bool  # the board is an emulator started by the runner
    dev_id: bool  # a probe serial number selects the device
    image: str  # the image format it takes: "elf" or "hex"
    tool: str  # the program it runs


def _tail(text: str, lines: int = 20) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


# ---- runners --------------------------------------------------------------------------------


class Runner:
    """One way of getting an image onto a board. Subclasses set ``name``, ``kind`` and ``caps``."""

    name: ClassVar[str]
    kind: ClassVar[str]  # the board file's emulator/probe "kind" it serves
    caps: ClassVar[RunnerCaps]

    def __init__(self, config: Mapping[str, Any], options: Mapping[str, Any] | None = None) -> None:
        self.config = dict(config)
        self.options = dict(options or {})

    def tool_path(self) -> str | None:
        return shutil.which(self.options.get("tool") or self.config.get("tool") or self.caps.tool)

    def require_tool(self) -> str:
        path = self.tool_path()
        if path is None:
            tool = self.options.get("tool") or self.config.get("tool") or self.caps.tool
            raise FlashFailed(
                f"{tool} is not installed or not on PATH: the {self.name} runner needs it "
                f"({self.install_hint()})",
                tool=tool,
                runner=self.name,
            )
        return path

    def install_hint(self) -> str:
        return f"install {self.caps.tool}"

    def flash_argv(self, image: Path) -> list[str]:
        raise NotImplementedError

    def flash(self, image: Path, log: Path | None = None) -> dict[str, Any]:
        """Write ``image`` with the tool; FlashFailed (with the output's tail) when it fails."""
        argv = self.flash_argv(image)
        argv[0] = self.require_tool()
        proc = spawn_owned(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            out, _ = proc.communicate(timeout=float(self.options.get("flash_timeout") or 300.0))
        except subprocess.TimeoutExpired:
            kill_process_group(proc)
            raise FlashFailed(f"{self.name}: {' '.join(argv)} did not finish in time", command=argv) from None
        finally:
            kill_process_group(proc)
        text = out.decode(errors="replace")
        sys.stderr.write(text)
        if log is not None:
            log.write_text(text)
        if proc.returncode != 0:
            raise FlashFailed(
                f"{self.name} failed with exit code {proc.returncode}: {_tail(text, 5)}",
                command=argv,
                returncode=proc.returncode,
                log_tail=_tail(text),
            )
        return {"runner": self.name, "command": argv}


class PyOcdRunner(Runner):
    name = "pyocd"
    kind = "pyocd"
    caps = RunnerCaps(frozenset({"flash", "console"}), emulated=False, dev_id=True, image="hex", tool="pyocd")

    def install_hint(self) -> str:
        return "pip install pyocd"

    def flash_argv(self, image: Path) -> list[str]:
        target = self.config.get("target")
        if not target:
            raise ProjectError(f"the board's pyocd probe entry names no target: {self.config}")
        argv = [self.caps.tool, "flash", "-t", str(target)]
        serial = self.options.get("serial_number") or self.config.get("serial_number")
        if serial:
            argv += ["-u", str(serial)]
        frequency = self.config.get("frequency_hz")
        if frequency:
            argv += ["-f", str(frequency)]
        argv += [str(a) for a in self.config.get("extra_args", []) or []]
        return argv + [str(image)]


class OpenOcdRunner(Runner):
    name = "openocd"
    kind = "openocd"
    caps = RunnerCaps(frozenset({"flash", "console"}), emulated=False, dev_id=True, image="elf", tool="openocd")

    def install_hint(self) -> str:
        return "apt-get install openocd"

    def _configs(self) -> list[str]:
        configs: list[str] = []
        for key in ("interface", "target"):
            value = self.config.get(key)
            if isinstance(value, str):
                configs.append(value)
            elif isinstance(value, (list, tuple)):
                configs += [str(v) for v in value]
        if not configs:
            raise ProjectError(
                f"the board's openocd probe entry names no configuration (interface, target): {self.config}"
            )
        return configs

    def flash_argv(self, image: Path) -> list[str]:
        argv = [self.caps.tool]
        configs = self._configs()
        argv += ["-f", configs[0]]
        # After the interface, before the target is initialised.
        serial = self.options.get("serial_number") or self.config.get("serial_number")
        if serial:
            argv += ["-c", f"adapter serial {serial}"]
        frequency = self.config.get("frequency_hz")
        if frequency:
            argv += ["-c", f"adapter speed {max(1, int(frequency) // 1000)}"]
        for cfg in configs[1:]:
            argv += ["-f", cfg]
        argv += [str(a) for a in self.config.get("extra_args", []) or []]
        return argv + ["-c", f"program {image} verify reset exit"]


def qemu_base_argv(emulator: Mapping[str, Any], image: str, binary: str | None = None) -> list[str]:
    """QEMU's command line without the console: machine, instruction counting, semihosting, the image."""
    machine = emulator.get("machine")
    if not machine:
        raise ProjectError(f"the board's emulator entry names no QEMU machine: {dict(emulator)}")
    shift = emulator.get("icount_shift", 0)
    argv = [binary or emulator.get("binary") or DEFAULT_QEMU, "-machine", str(machine)]
    if emulator.get("cpu"):
        argv += ["-cpu", str(emulator["cpu"])]
    argv += [
        "-nographic",
        "-icount", f"shift={shift}",
        "-semihosting-config", "enable=on,target=native",
        "-kernel", str(image),
    ]
    return argv + [str(a) for a in emulator.get("extra_args", []) or []]


def qemu_standalone_argv(emulator: Mapping[str, Any], image: str, binary: str | None = None) -> list[str]:
    """QEMU running an image to its end with the console on stdio."""
    return qemu_base_argv(emulator, image, binary) + ["-serial", "stdio", "-monitor", "none"]


class QemuRunner(Runner):
    """The emulator: ``flash`` starts it (waiting for the console connection); it is stopped by :meth:`stop`."""

    name = "qemu"
    kind = "qemu"
    caps = RunnerCaps(
        frozenset({"flash", "run", "console"}), emulated=True, dev_id=False, image="elf", tool=DEFAULT_QEMU
    )

    def __init__(self, config: Mapping[str, Any], options: Mapping[str, Any] | None = None) -> None:
        super().__init__(config, options)
        self.process: LoggedProcess | None = None
        self.port: int | None = None
        self.image: Path | None = None
        self.log_path: Path | None = None
        self.connected = False

    def tool_path(self) -> str | None:
        return shutil.which(self.options.get("qemu") or self.config.get("binary") or DEFAULT_QEMU)

    def install_hint(self) -> str:
        return "apt-get install qemu-system-arm"

    def argv(self, image: Path, port: int) -> list[str]:
        extra = []
        if self.options.get("gdb_port"):
            extra = ["-gdb", f"tcp:127.0.0.1:{int(self.options['gdb_port'])}"]
        return (
            qemu_base_argv(self.config, str(image), self.options.get("qemu"))
            + ["-serial", f"tcp:127.0.0.1:{port},server=on,wait=on,nodelay=on", "-monitor", "none"]
            + extra
        )

    def flash_argv(self, image: Path) -> list[str]:
        return self.argv(image, self.port or 0)

    @property
    def proc(self) -> subprocess.Popen | None:
        return self.process.proc if self.process is not None else None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.running

    def start(self, image: Path, log_path: Path | None = None) -> int:
        """Start QEMU on ``image``; returns the TCP port its console waits on."""
        self.stop()
        tool = self.require_tool()
        if not image.is_file():
            raise FlashFailed(f"{image} does not exist: build the project first")
        last = ""
        for _attempt in range(3):
            port = free_port()
            argv = self.argv(image, port)
            argv[0] = tool
            self.log_path = log_path or image.with_name("qemu.log")
            try:
                process = LoggedProcess(argv, self.log_path)
            except OSError as exc:
                raise FlashFailed(f"cannot start {tool}: {exc}", command=argv) from None
            self.process, self.port, self.image, self.connected = process, port, image, False
            proc = process.proc
            try:
                if process.wait_for(QEMU_READY, QEMU_START_TIMEOUT):
                    sys.stderr.write(f"qemu: {' '.join(argv)} (pid {proc.pid})\n")
                    return port
            except BaseException:
                self.stop()
                raise
            last = self.log_text()
            self.stop()
            if "Address already in use" in last or "Failed to bind" in last:
                continue
            raise FlashFailed(
                f"QEMU did not start (exit status {proc.returncode}): {_tail(last, 8)}",
                command=argv,
                returncode=proc.returncode,
                log_tail=_tail(last),
            )
        raise FlashFailed(f"QEMU could not open a console port: {_tail(last, 8)}")

    def log_text(self) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_bytes().decode(errors="replace")

    def stop(self) -> None:
        """Stop the emulator (idempotent)."""
        process, self.process = self.process, None
        if process is not None:
            process.stop()
        self.connected = False

    def flash(self, image: Path, log: Path | None = None) -> dict[str, Any]:
        port = self.start(image, log)
        return {"runner": self.name, "port": port, "pid": self.proc.pid if self.proc else None,
                "message": f"QEMU {self.config.get('machine')} started; console on tcp:127.0.0.1:{port}"}

    def run_to_end(self, image: Path, timeout: float) -> dict[str, Any]:
        """Run ``image`` until the firmware exits (semihosting); returns console text and exit status."""
        tool = self.require_tool()
        if not image.is_file():
            raise FlashFailed(f"{image} does not exist: build the project first")
        argv = qemu_standalone_argv(self.config, str(image), tool)
        started = time.monotonic()
        proc = spawn_owned(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_process_group(proc)
            out, err = proc.communicate()
            raise FlashFailed(
                f"the firmware did not exit within {timeout:.0f} s; console so far: {_tail(out.decode(errors='replace'), 8)}",
                command=argv,
                timeout=timeout,
            ) from None
        finally:
            kill_process_group(proc)
        return {
            "command": argv,
            "exit_status": proc.returncode,
            "output": out.decode(errors="replace"),
            "stderr": err.decode(errors="replace"),
            "seconds": round(time.monotonic() - started, 3),
        }


RUNNERS: dict[str, type[Runner]] = {cls.name: cls for cls in (QemuRunner, PyOcdRunner, OpenOcdRunner)}


def runner_for(record: Mapping[str, Any], options: Mapping[str, Any] | None = None) -> Runner:
    """The runner for a project record (its board's emulator or probe), or the one ``options['runner']`` names."""
    options = dict(options or {})
    wanted = options.get("runner") or "auto"
    entries = []
    if record.get("emulator"):
        entries.append(record["emulator"])
    if record.get("probe"):
        entries.append(record["probe"])
    for entry in entries:
        kind = entry.get("kind")
        cls = RUNNERS.get(kind)
        if cls is None:
            continue
        if wanted in ("auto", cls.name):
            return cls(entry, options)
    kinds = [e.get("kind") for e in entries]
    if wanted != "auto":
        raise FlashFailed(
            f"board {record.get('board')} has no {wanted} entry (it has: {', '.join(map(str, kinds)) or 'none'})",
            runner=wanted,
        )
    raise FlashFailed(
        f"board {record.get('board')} names no emulator or probe this plugin can use "
        f"(found: {', '.join(map(str, kinds)) or 'none'}; runners: {', '.join(RUNNERS)})"
    )
