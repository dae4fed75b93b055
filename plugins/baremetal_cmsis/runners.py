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
  (``PR_SET_PDEATHSIG``). Elsewhere a small watchdog process does the same.
- :class:`PyOcdRunner` (``probe.kind == "pyocd"``): ``pyocd flash -t TARGET [-u SERIAL] firmware.hex``.
- :class:`OpenOcdRunner` (``probe.kind == "openocd"``): ``openocd -f IFACE -f TARGET -c "program firmware.elf verify reset exit"``.

A tool that is not installed gives :class:`FlashFailed` naming it; the
command line is still built (and tested) without it.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Mapping, Sequence

from utvm.project_api import FlashFailed, ProjectError, TransportClosed, TransportError, TransportTimeout

DEFAULT_QEMU = "qemu-system-arm"
QEMU_READY = "waiting for connection"
#: Seconds QEMU gets to open its TCP port.
QEMU_START_TIMEOUT = 10.0
#: After the first byte of a read, keep collecting while bytes keep coming this often (s).
READ_GAP = 0.002


@dataclass(frozen=True)
class RunnerCaps:
    """What a runner can do (data, not code paths)."""

    commands: frozenset[str]  # of "flash" (write the image), "run" (run to completion), "console"
    emulated: bool  # the board is an emulator started by the runner
    dev_id: bool  # a probe serial number selects the device
    image: str  # the image format it takes: "elf" or "hex"
    tool: str  # the program it runs


# ---- owned processes: never an orphan ---------------------------------------------------------

_LIVE: dict[int, subprocess.Popen] = {}
_LOCK = threading.Lock()
_REAPER_INSTALLED = False
_PREVIOUS_HANDLERS: dict[int, Any] = {}


def kill_process_group(proc: subprocess.Popen, grace: float = 1.0) -> None:
    """Stop ``proc`` and its process group: SIGTERM, then SIGKILL after ``grace`` seconds."""
    with _LOCK:
        _LIVE.pop(proc.pid, None)
    if proc.poll() is None:
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(proc.pid, sig)
            except (ProcessLookupError, PermissionError):
                try:
                    proc.send_signal(sig)
                except ProcessLookupError:
                    pass
            try:
                proc.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue


def kill_all() -> None:
    """Kill every process this module started and still owns."""
    with _LOCK:
        procs = list(_LIVE.values())
    for proc in procs:
        kill_process_group(proc, grace=0.5)


def _on_signal(signum: int, frame: Any) -> None:
    kill_all()
    previous = _PREVIOUS_HANDLERS.get(signum)
    if callable(previous):
        previous(signum, frame)
        return
    if previous == signal.SIG_IGN:
        return
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def install_reaper() -> None:
    """Kill owned processes at interpreter exit and on SIGTERM/SIGINT/SIGHUP (chained to earlier handlers)."""
    global _REAPER_INSTALLED
    if _REAPER_INSTALLED:
        return
    _REAPER_INSTALLED = True
    atexit.register(kill_all)
    if threading.current_thread() is not threading.main_thread():
        return
    for name in ("SIGTERM", "SIGINT", "SIGHUP"):
        sig = getattr(signal, name, None)
        if sig is None:
            continue
        try:
            _PREVIOUS_HANDLERS[sig] = signal.getsignal(sig)
            signal.signal(sig, _on_signal)
        except (ValueError, OSError):
            pass


def _die_with_parent(parent: int):
    """preexec_fn: on Linux, the kernel sends SIGKILL to the child when this process dies."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        if libc.prctl(pr_set_pdeathsig, int(signal.SIGKILL), 0, 0, 0) != 0:
            return
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


_WATCHDOG = (
    "import os, signal, sys\n"
    "pgid = int(sys.argv[1])\n"
    "sys.stdin.buffer.read()\n"  # EOF: the owner is gone
    "for s in (signal.SIGTERM, signal.SIGKILL):\n"
    "    try:\n"
    "        os.killpg(pgid, s)\n"
    "    except OSError:\n"
    "        break\n"
    "    import time; time.sleep(0.5)\n"
)


def spawn_owned(argv: Sequence[str], **kwargs: Any) -> subprocess.Popen:
    """Start ``argv`` in a new process group that cannot outlive this process."""
    install_reaper()
    linux = sys.platform.startswith("linux")
    parent = os.getpid()
    proc = subprocess.Popen(
        list(argv),
        start_new_session=True,
        preexec_fn=(lambda: _die_with_parent(parent)) if linux else None,
        **kwargs,
    )
    with _LOCK:
        _LIVE[proc.pid] = proc
    if not linux:  # no PDEATHSIG: a watchdog that kills the group when our end of its pipe closes
        watchdog = subprocess.Popen(
            [sys.executable, "-c", _WATCHDOG, str(proc.pid)], stdin=subprocess.PIPE, start_new_session=True
        )
        proc._utvm_watchdog = watchdog  # type: ignore[attr-defined]
    return proc


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None
        self.image: Path | None = None
        self.log_path: Path | None = None
        self._log = None
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
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

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
            self._log = open(self.log_path, "wb")
            try:
                proc = spawn_owned(argv, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT)
            except OSError as exc:
                self._close_log()
                raise FlashFailed(f"cannot start {tool}: {exc}", command=argv) from None
            self.proc, self.port, self.image, self.connected = proc, port, image, False
            deadline = time.monotonic() + QEMU_START_TIMEOUT
            try:
                while time.monotonic() < deadline:
                    text = self.log_text()
                    if QEMU_READY in text:
                        sys.stderr.write(f"qemu: {' '.join(argv)} (pid {proc.pid})\n")
                        return port
                    if proc.poll() is not None:
                        break
                    time.sleep(0.01)
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

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def stop(self) -> None:
        """Stop the emulator (idempotent)."""
        proc, self.proc = self.proc, None
        if proc is not None:
            kill_process_group(proc)
            watchdog = getattr(proc, "_utvm_watchdog", None)
            if watchdog is not None:
                kill_process_group(watchdog)
        self._close_log()
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


# ---- console over pyserial ------------------------------------------------------------------


def find_serial_port(serial_number: str | None = None, vid: int | None = None, pid: int | None = None) -> str:
    """The device path of the USB serial port with this serial number (or VID:PID, if only one matches)."""
    from serial.tools import list_ports

    ports = list(list_ports.comports())
    if serial_number:
        wanted = str(serial_number).lower()
        matches = [p for p in ports if (p.serial_number or "").lower() == wanted]
    elif vid is not None:
        matches = [p for p in ports if p.vid == vid and (pid is None or p.pid == pid)]
    else:
        matches = []
    if len(matches) == 1:
        return matches[0].device
    seen = ", ".join(f"{p.device} (serial {p.serial_number}, {p.vid or 0:04x}:{p.pid or 0:04x})" for p in ports)
    what = f"serial number {serial_number}" if serial_number else f"USB {vid or 0:04x}:{pid or 0:04x}"
    if not matches:
        raise TransportError(
            f"no serial port with {what}; ports: {seen or 'none'}; give the port with the option port=/dev/ttyACM0"
        )
    raise TransportError(f"several serial ports match {what}: {seen}; give one with the option port=...")


class SerialConsole:
    """Bulk reads and writes over a pyserial port (a device path or a ``socket://`` URL)."""

    def __init__(self, ser: Any) -> None:
        self.ser = ser
        self._closed_by_peer = False

    @classmethod
    def open_url(cls, url: str, baud: int = 115200, connect_timeout: float = 5.0) -> "SerialConsole":
        import serial

        deadline = time.monotonic() + connect_timeout
        while True:
            try:
                ser = serial.serial_for_url(url, baudrate=baud, timeout=0, write_timeout=5.0)
                sock = getattr(ser, "_socket", None)
                if sock is not None:  # small frames go out at once (no Nagle delay)
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                return cls(ser)
            except (serial.SerialException, OSError) as exc:
                if time.monotonic() > deadline:
                    raise TransportError(f"cannot open {url}: {exc}") from None
                time.sleep(0.05)

    def read(self, n: int, timeout: float) -> bytes:
        import serial

        if self._closed_by_peer:
            raise TransportClosed("the device closed the console (the firmware exited, or the emulator stopped)")
        data = bytearray()
        try:
            self.ser.timeout = max(0.0, timeout)
            first = self.ser.read(1)
            if not first:
                return b""
            data += first
            while len(data) < n:
                self.ser.timeout = 0
                chunk = self.ser.read(n - len(data))
                if chunk:
                    data += chunk
                    continue
                self.ser.timeout = READ_GAP
                chunk = self.ser.read(1)
                if not chunk:
                    break
                data += chunk
        except (serial.SerialException, OSError) as exc:
            self._closed_by_peer = True
            if data:
                return bytes(data)
            raise TransportClosed(f"the console closed: {exc}") from None
        return bytes(data)

    def write(self, data: bytes, timeout: float) -> None:
        import serial

        if self._closed_by_peer:
            raise TransportClosed("the device closed the console (the firmware exited, or the emulator stopped)")
        try:
            self.ser.write_timeout = max(0.001, timeout)
            n = self.ser.write(data)
            self.ser.flush()
        except serial.SerialTimeoutException as exc:
            raise TransportTimeout(f"the device did not take {len(data)} bytes within {timeout:.1f} s: {exc}") from None
        except (serial.SerialException, OSError) as exc:
            self._closed_by_peer = True
            raise TransportClosed(f"the console closed: {exc}") from None
        if n is not None and n < len(data):
            raise TransportTimeout(f"the device took {n} of {len(data)} bytes within {timeout:.1f} s")

    def close(self) -> None:
        try:
            self.ser.close()
        except Exception:  # noqa: BLE001 - closing a dead port is fine
            pass


STANDALONE_LINE = re.compile(r"^utvm: (\w+)\s*(.*)$")


def parse_standalone_output(text: str) -> dict[str, Any]:
    """The facts a standalone image prints: outputs, ticks, status, clock, stack use, a fault."""
    out: dict[str, Any] = {"outputs": {}}
    for line in text.splitlines():
        m = STANDALONE_LINE.match(line.strip())
        if not m:
            continue
        key, rest = m.group(1), m.group(2)
        if key == "output":
            idx, _, values = rest.partition(":")
            try:
                out["outputs"][int(idx)] = [int(v, 0) for v in values.split()]
            except ValueError:
                pass
        elif key == "ticks":
            out["ticks"] = int(rest)
        elif key == "status":
            out["status"] = rest
        elif key == "clock_hz":
            out["clock_hz"] = int(rest)
        elif key == "stack_used":
            used, _, total = rest.partition(" of ")
            out["stack_used"] = int(used)
            if total.strip():
                out["stack_size"] = int(total)
        elif key in ("fault", "abort"):
            out[key] = rest
    return out
