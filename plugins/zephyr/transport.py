"""Byte channels to a running Zephyr application.

**QEMU targets.** The emulator runs the way Zephyr runs it: ``west build -d
BUILD -t run``, as a child of the project server, in the server's process
group (so a client that kills the server kills QEMU too), stopped with all
its descendants at ``close_transport``. The console is reached through
Zephyr's ``QEMU_PIPE`` mechanism, the one twister uses: the build is
configured with ``-DQEMU_PIPE=BUILD/qemu-fifo`` and Zephyr's qemu.cmake makes
QEMU's console ``pipe:BUILD/qemu-fifo`` (QEMU reads ``qemu-fifo.in`` and
writes ``qemu-fifo.out``, FIFOs this module creates). Newer Zephyr puts the
console on a *mux* chardev (``-chardev pipe,id=con,mux=on``, shared with the
monitor), where byte 0x01 (Ctrl-A) is the mux escape: when the build's run
command shows ``mux=on``, every 0x01 the host sends is doubled, which the mux
turns back into one literal 0x01.

**Boards with a probe.** pyserial on the console's serial port: the ``port``
option, else the USB serial port whose serial number is the probe's
(``dev_id``), else the only USB serial port there is.
"""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import time
from pathlib import Path
from typing import Sequence

FIFO_NAME = "qemu-fifo"
RUN_LOG = "utvm-qemu-run.log"
MUX_ESCAPE = b"\x01"


class LinkError(Exception):
    """The channel cannot be opened or used (message for the user)."""


class LinkClosed(LinkError):
    """The other side is gone."""


class LinkTimeout(LinkError):
    """Could not write in time."""


def qemu_pipe_of(build: Path) -> Path | None:
    """The QEMU_PIPE the build was configured with (from CMakeCache.txt)."""
    cache = build / "CMakeCache.txt"
    if not cache.is_file():
        return None
    m = re.search(r"^QEMU_PIPE(?::[A-Z]+)?=(.+)$", cache.read_text(errors="replace"), re.M)
    return Path(m.group(1).strip()) if m and m.group(1).strip() else None


def console_is_muxed(build: Path) -> bool:
    """Whether the build's run command puts the console on a mux chardev (``mux=on``)."""
    files = [build / "build.ninja", build / "Makefile", *sorted(build.glob("CMakeFiles/run*.dir/build.make"))]
    return any(f.is_file() and "mux=on" in f.read_text(errors="replace") for f in files)


def _children_of(pid: int) -> list[int]:
    """Every descendant of ``pid`` (Linux /proc), deepest last."""
    parents: dict[int, list[int]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    for e in entries:
        if not e.isdigit():
            continue
        try:
            with open(f"/proc/{e}/stat", "rb") as f:
                stat = f.read().decode(errors="replace")
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        parents.setdefault(ppid, []).append(int(e))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        for c in parents.get(p, []):
            out.append(c)
            todo.append(c)
    return out


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is not alive
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:
        return True


def stop_tree(proc: subprocess.Popen | None, extra: Sequence[int] = (), grace_s: float = 2.0) -> list[int]:
    """Stop ``proc``, its descendants and ``extra`` pids: SIGTERM, then SIGKILL after ``grace_s``."""
    pids = []
    if proc is not None and proc.poll() is None:
        pids = [proc.pid, *_children_of(proc.pid)]
    pids += [p for p in extra if p not in pids and p > 1]
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for p in pids:
            try:
                os.kill(p, sig)
            except (ProcessLookupError, PermissionError):
                pass
        deadline = time.monotonic() + (grace_s if sig == signal.SIGTERM else 1.0)
        while time.monotonic() < deadline:
            if proc is not None:
                proc.poll()
            if not any(_alive(p) for p in pids):
                break
            time.sleep(0.02)
        else:
            continue
        break
    if proc is not None:
        try:
            proc.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            pass
    return pids


class QemuLink:
    """QEMU started through ``west build -t run``, its console on Zephyr's QEMU_PIPE FIFOs."""

    def __init__(self, west: str, build: Path, env: dict[str, str], cwd: Path) -> None:
        pipe = qemu_pipe_of(build)
        if pipe is None:
            raise LinkError(
                f"{build} was not configured with QEMU_PIPE, so QEMU's console would be this server's stdio; "
                "build the project with utvm (it passes -DQEMU_PIPE=...), or add "
                f"-DQEMU_PIPE={build / FIFO_NAME} to your own west build"
            )
        self.build = build
        self.pipe = pipe
        self.fifo_in = Path(f"{pipe}.in")  # QEMU reads: host -> device
        self.fifo_out = Path(f"{pipe}.out")  # QEMU writes: device -> host
        self.escape_mux = console_is_muxed(build)
        self.argv = [west, "build", "-d", str(build), "-t", "run"]
        self.log_path = build / RUN_LOG
        for f in (self.fifo_in, self.fifo_out, build / "qemu.pid"):
            try:
                f.unlink()
            except FileNotFoundError:
                pass
        os.mkfifo(self.fifo_in)
        os.mkfifo(self.fifo_out)
        # O_RDWR: opening never blocks on the other end, and QEMU leaving never makes
        # reads return EOF (the child's death is watched instead).
        self._wfd = os.open(self.fifo_in, os.O_RDWR | os.O_NONBLOCK)
        self._rfd = os.open(self.fifo_out, os.O_RDWR | os.O_NONBLOCK)
        self._log = open(self.log_path, "wb")
        try:
            self.proc = subprocess.Popen(self.argv, cwd=str(cwd), env=env, stdin=subprocess.DEVNULL,
                                         stdout=self._log, stderr=subprocess.STDOUT)
        except OSError as exc:
            self._close_fds()
            raise LinkError(f"cannot start {' '.join(self.argv)}: {exc}") from None
        self._closed = False

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log_tail(self, limit: int = 2000) -> str:
        try:
            return self.log_path.read_bytes()[-limit:].decode(errors="replace")
        except OSError:
            return ""

    def _gone(self) -> LinkClosed:
        code = self.proc.poll()
        tail = self.log_tail().strip()
        return LinkClosed(f"the emulator ({' '.join(self.argv)}) exited with status {code}"
                          + (f"; its output ends with:\n{tail}" if tail else ""))

    def read(self, n: int, timeout: float) -> bytes:
        if self._closed:
            raise LinkClosed("the QEMU link is closed")
        deadline = time.monotonic() + max(0.0, timeout)
        while True:
            step = min(0.1, max(0.0, deadline - time.monotonic()))
            ready, _, _ = select.select([self._rfd], [], [], step)
            if ready:
                try:
                    return os.read(self._rfd, max(1, n))
                except BlockingIOError:
                    pass
            elif self.proc.poll() is not None:
                raise self._gone()
            if time.monotonic() >= deadline:
                return b""

    def write(self, data: bytes, timeout: float) -> None:
        if self._closed:
            raise LinkClosed("the QEMU link is closed")
        if self.proc.poll() is not None:
            raise self._gone()
        if self.escape_mux:
            data = data.replace(MUX_ESCAPE, MUX_ESCAPE + MUX_ESCAPE)
        view = memoryview(data)
        deadline = time.monotonic() + max(0.0, timeout)
        while view:
            _, ready, _ = select.select([], [self._wfd], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                raise LinkTimeout(f"QEMU took only {len(data) - len(view)} of {len(data)} bytes within {timeout:.1f} s")
            try:
                view = view[os.write(self._wfd, view):]
            except BlockingIOError:
                continue

    def qemu_pid(self) -> int | None:
        try:
            return int((self.build / "qemu.pid").read_text().strip())
        except (OSError, ValueError):
            return None

    def _close_fds(self) -> None:
        for fd in (getattr(self, "_wfd", None), getattr(self, "_rfd", None)):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        log = getattr(self, "_log", None)
        if log is not None:
            log.close()

    def close(self) -> list[int]:
        """Stop west, ninja and QEMU (and anything else the run started); returns the pids stopped."""
        if self._closed:
            return []
        self._closed = True
        qpid = self.qemu_pid()
        pids = stop_tree(self.proc, [qpid] if qpid else [])
        self._close_fds()
        for f in (self.fifo_in, self.fifo_out):
            try:
                f.unlink()
            except FileNotFoundError:
                pass
        return pids


def find_port(dev_id: str | None) -> tuple[str, str]:
    """The console port: the USB serial port of probe ``dev_id``, else the only USB serial port."""
    from serial.tools import list_ports

    ports = list(list_ports.comports())
    usb = [p for p in ports if p.vid is not None]
    if dev_id:
        match = [p for p in ports if p.serial_number and p.serial_number.lower() == dev_id.lower()]
        if len(match) == 1:
            return match[0].device, f"the USB serial port of probe {dev_id}"
        listing = ", ".join(f"{p.device} (serial {p.serial_number})" for p in usb) or "none"
        raise LinkError(f"no serial port belongs to probe {dev_id!r}; USB serial ports: {listing}; give port=...")
    if len(usb) == 1:
        return usb[0].device, "the only USB serial port"
    listing = ", ".join(f"{p.device} (serial {p.serial_number}, {p.description})" for p in usb) or "none"
    raise LinkError(f"cannot tell which serial port is the board's console; give port=... or dev_id=... "
                    f"(USB serial ports: {listing})")


class SerialLink:
    """pyserial on the board's console UART."""

    def __init__(self, port: str, baud: int) -> None:
        import serial

        self._serial_mod = serial
        try:
            self.port = serial.serial_for_url(port, baudrate=baud, timeout=0, write_timeout=1.0)
        except (serial.SerialException, OSError, ValueError) as exc:
            raise LinkError(f"cannot open serial port {port}: {exc}") from None
        try:
            self.port.reset_input_buffer()
        except (serial.SerialException, OSError):
            pass
        self.name = port
        self.baud = baud

    def read(self, n: int, timeout: float) -> bytes:
        s = self._serial_mod
        try:
            self.port.timeout = max(0.0, timeout)
            first = self.port.read(1)
            if not first:
                return b""
            self.port.timeout = 0
            waiting = self.port.in_waiting
            rest = self.port.read(min(max(0, n - 1), waiting)) if waiting and n > 1 else b""
            return first + rest
        except (s.SerialException, OSError) as exc:
            raise LinkClosed(f"serial port {self.name}: {exc}") from None

    def write(self, data: bytes, timeout: float) -> None:
        s = self._serial_mod
        try:
            self.port.write_timeout = max(0.001, timeout)
            self.port.write(data)
            self.port.flush()
        except s.SerialTimeoutException as exc:
            raise LinkTimeout(f"serial port {self.name}: {exc}") from None
        except (s.SerialException, OSError) as exc:
            raise LinkClosed(f"serial port {self.name}: {exc}") from None

    def close(self) -> list[int]:
        try:
            self.port.close()
        except Exception:  # noqa: BLE001 - best effort
            pass
        return []
