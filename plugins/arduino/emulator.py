"""AVR boards in simavr: the harness (simavr/utvm_simavr.c), built here, and the processes it runs in.

The harness is a small C program against libsimavr (Debian: simavr, libsimavr-dev), compiled
once with the host C compiler and cached by the hash of its source and flags (under
``$UTVM_CACHE_DIR`` or ``~/.cache/utvm``). It loads the sketch's ELF, runs it at the board's
clock, bridges UART 0 to a TCP port on 127.0.0.1 (for pyserial's ``socket://``) or to stdout,
and reports the cycles between the firmware's markers (GPIOR0 writes, see
firmware/utvm_platform.cpp), the peak stack and the exit status, on stderr.

Owned processes: a harness started here runs in a process group of its own and dies with this
server, however it dies: it asks the kernel for SIGKILL when its parent exits (prctl on Linux),
checks its ``--parent`` at every slice, and this module kills it at ``stop()``, at interpreter
exit, and on SIGTERM/SIGINT/SIGHUP.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Mapping

from utvm.project_api import FlashFailed, TransportError

HARNESS_SOURCE = Path(__file__).resolve().parent / "simavr" / "utvm_simavr.c"
INSTALL_HINT = "apt-get install simavr libsimavr-dev"
READY = re.compile(r"utvm-simavr: listening 127\.0\.0\.1:(\d+)")
START_TIMEOUT = 10.0
RUN_LINE = re.compile(r"utvm-simavr: run (\d+) cycles (\d+) stack (\d+)")
EXIT_LINE = re.compile(r"utvm-simavr: exit (-?\d+) cycles (\d+) stack (\d+)")
ERROR_LINE = re.compile(r"utvm-simavr: error (.*)")

# ---- owned processes ---------------------------------------------------------------------------

_LIVE: dict[int, subprocess.Popen] = {}
_LOCK = threading.Lock()
_INSTALLED = False
_PREVIOUS: dict[int, Any] = {}


def _kill(proc: subprocess.Popen, grace: float = 0.5) -> None:
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
    else:
        proc.wait()


def kill_all() -> None:
    with _LOCK:
        procs = list(_LIVE.values())
    for proc in procs:
        _kill(proc, 0.2)


def _on_signal(signum: int, frame: Any) -> None:
    kill_all()
    previous = _PREVIOUS.get(signum)
    if callable(previous):
        previous(signum, frame)
        return
    if previous == signal.SIG_IGN:
        return
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def install_reaper() -> None:
    """Kill the harnesses at interpreter exit and on SIGTERM/SIGINT/SIGHUP (chained to earlier handlers)."""
    global _INSTALLED
    if _INSTALLED:
        return
    _INSTALLED = True
    atexit.register(kill_all)
    if threading.current_thread() is not threading.main_thread():
        return
    for name in ("SIGTERM", "SIGINT", "SIGHUP"):
        sig = getattr(signal, name, None)
        if sig is None:
            continue
        try:
            _PREVIOUS[sig] = signal.getsignal(sig)
            signal.signal(sig, _on_signal)
        except (ValueError, OSError):
            pass


def _pdeathsig(parent: int):
    def prepare() -> None:
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
        if os.getppid() != parent:
            os._exit(1)

    return prepare


def spawn_owned(argv: list[str], **kwargs: Any) -> subprocess.Popen:
    install_reaper()
    linux = sys.platform.startswith("linux")
    proc = subprocess.Popen(argv, start_new_session=True, preexec_fn=_pdeathsig(os.getpid()) if linux else None,
                            **kwargs)
    with _LOCK:
        _LIVE[proc.pid] = proc
    return proc


# ---- building the harness ----------------------------------------------------------------------


def cache_dir() -> Path:
    root = os.environ.get("UTVM_CACHE_DIR")
    return Path(root) if root else Path.home() / ".cache" / "utvm"


def simavr_flags() -> tuple[list[str], list[str]]:
    """(cflags, libs) for libsimavr: pkg-config when it answers, else the usual install folders."""
    pkg = shutil.which("pkg-config")
    if pkg:
        cflags = subprocess.run([pkg, "--cflags", "simavr"], capture_output=True, text=True)
        libs = subprocess.run([pkg, "--libs", "simavr"], capture_output=True, text=True)
        if cflags.returncode == 0 and libs.returncode == 0:
            return cflags.stdout.split(), libs.stdout.split()
    for prefix in (Path("/usr"), Path("/usr/local"), Path("/opt/homebrew"), Path("/opt/local")):
        inc = prefix / "include" / "simavr"
        if (inc / "sim_avr.h").is_file():
            libdir = prefix / "lib"
            return [f"-I{inc}"], ([f"-L{libdir}"] if prefix != Path("/usr") else []) + ["-lsimavr"]
    raise FlashFailed(f"libsimavr's headers (simavr/sim_avr.h) are not installed: {INSTALL_HINT}", tool="libsimavr")


def harness_path() -> Path:
    """The compiled harness, built on first use (FlashFailed naming what is missing)."""
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not cc:
        raise FlashFailed("no host C compiler (cc) to build the simavr harness: apt-get install gcc", tool="cc")
    cflags, libs = simavr_flags()
    source = HARNESS_SOURCE.read_bytes()
    key = hashlib.sha256(source + " ".join([cc, *cflags, *libs]).encode()).hexdigest()[:16]
    out_dir = cache_dir() / "arduino" / f"simavr-{key}"
    exe = out_dir / "utvm-simavr"
    if exe.is_file():
        return exe
    out_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out_dir, prefix=".utvm-simavr.")
    os.close(fd)
    argv = [cc, "-O2", "-std=gnu99", *cflags, "-o", tmp, str(HARNESS_SOURCE), *libs]
    proc = subprocess.run(argv, capture_output=True, text=True)
    if proc.returncode != 0:
        Path(tmp).unlink(missing_ok=True)
        raise FlashFailed(
            f"building the simavr harness failed ({INSTALL_HINT}?): {proc.stderr.strip()[-1500:]}",
            command=argv, returncode=proc.returncode, log_tail=proc.stderr[-4000:],
        )
    os.chmod(tmp, 0o755)
    os.replace(tmp, exe)
    return exe


def static_data_end(emulator: Mapping[str, Any], elf: Path) -> int | None:
    """The data address where the static data ends (avr-libc's __heap_start), from the image's symbols."""
    nm = emulator.get("nm")
    exe = shutil.which(nm) if nm else None
    if exe is None:
        return None
    proc = subprocess.run([exe, str(elf)], capture_output=True, text=True)
    for line in proc.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2] == "__heap_start":
            return int(parts[0], 16) & 0xFFFF  # data addresses are 0x800000 + address in the ELF
    return None


def harness_argv(emulator: Mapping[str, Any], elf: Path, mode: list[str], timeout: float | None = None) -> list[str]:
    argv = [str(harness_path()), "--mcu", str(emulator["mcu"]), "--freq", str(int(emulator["clock_hz"])),
            "--marker", str(emulator.get("marker", "0x3e")), *mode, "--parent", str(os.getpid())]
    limit = static_data_end(emulator, elf)
    if limit:
        argv += ["--stack-limit", hex(limit)]
    if timeout:
        argv += ["--timeout", f"{float(timeout):g}"]
    return argv + [str(elf)]


def parse_reports(text: str) -> dict[str, Any]:
    """The harness's report lines: runs (cycles, stack), exit status, errors."""
    runs = [{"run": int(m.group(1)), "cycles": int(m.group(2)), "stack": int(m.group(3))}
            for m in RUN_LINE.finditer(text)]
    out: dict[str, Any] = {"runs": runs}
    m = EXIT_LINE.search(text)
    if m:
        out.update(exit_status=int(m.group(1)), total_cycles=int(m.group(2)), stack_peak=int(m.group(3)))
    errors = ERROR_LINE.findall(text)
    if errors:
        out["errors"] = errors
    if runs:
        out["stack_peak"] = max(out.get("stack_peak", 0), max(r["stack"] for r in runs))
    return out


def run_to_end(emulator: Mapping[str, Any], elf: Path, timeout: float) -> dict[str, Any]:
    """Run a standalone image until it stops: console text, reports, status."""
    argv = harness_argv(emulator, elf, ["--stdio"], timeout)
    started = time.monotonic()
    proc = spawn_owned(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = proc.communicate(timeout=timeout + 10)
    except subprocess.TimeoutExpired:
        _kill(proc)
        out, err = proc.communicate()
    finally:
        _kill(proc)
    text, log = out.decode(errors="replace"), err.decode(errors="replace")
    return {"command": argv, "returncode": proc.returncode, "output": text, "log": log,
            "seconds": round(time.monotonic() - started, 3), **parse_reports(log)}


class Emulation:
    """A harness serving the RPC UART on a TCP port, owned by this process."""

    def __init__(self, emulator: Mapping[str, Any], elf: Path, log_path: Path) -> None:
        self.emulator = dict(emulator)
        self.elf = elf
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None
        self._log = None

    def start(self) -> int:
        if not self.elf.is_file():
            raise TransportError(f"{self.elf} does not exist: build the project first")
        try:
            argv = harness_argv(self.emulator, self.elf, ["--tcp", "0"])
        except FlashFailed as exc:
            raise TransportError(str(exc)) from None
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "wb")
        self.proc = spawn_owned(argv, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            m = READY.search(self.log_text())
            if m:
                self.port = int(m.group(1))
                sys.stderr.write(f"simavr: {' '.join(argv)} (pid {self.proc.pid}), UART on 127.0.0.1:{self.port}\n")
                return self.port
            if self.proc.poll() is not None:
                break
            time.sleep(0.01)
        text = self.log_text()
        self.stop()
        raise TransportError(f"the simavr harness did not start: {text.strip()[-800:] or 'no output'}",
                             command=argv)

    def log_text(self) -> str:
        try:
            return self.log_path.read_bytes().decode(errors="replace")
        except OSError:
            return ""

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def reports(self) -> dict[str, Any]:
        return parse_reports(self.log_text())

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None:
            _kill(proc)
        if self._log is not None:
            self._log.close()
            self._log = None
