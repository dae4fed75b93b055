"""AVR boards in simavr: the harness (simavr/utvm_simavr.c), built here, and the processes it runs in.

The harness is a small C program against libsimavr (Debian: simavr, libsimavr-dev), compiled
once with the host C compiler and cached by the hash of its source and flags (under
``$UTVM_CACHE_DIR`` or ``~/.cache/utvm``). It loads the sketch's ELF, runs it at the board's
clock, bridges UART 0 to a TCP port on 127.0.0.1 (for pyserial's ``socket://``) or to stdout,
and reports the cycles between the firmware's markers (GPIOR0 writes, see
firmware/utvm_platform.cpp), the peak stack and the exit status, on stderr.

Owned processes: a harness started here is owned by this server (:mod:`utvm.project_api.owned_process`):
it runs in a process group of its own and dies with this server, however it dies (SIGKILL from
the kernel when its parent exits on Linux, a watchdog elsewhere), is killed at ``stop()``, at
interpreter exit and on SIGTERM/SIGINT/SIGHUP, and checks its ``--parent`` at every slice too.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Mapping

from utvm.project_api import FlashFailed, TransportError
from utvm.project_api.owned_process import LoggedProcess, kill_process_group, spawn_owned

HARNESS_SOURCE = Path(__file__).resolve().parent / "simavr" / "utvm_simavr.c"
INSTALL_HINT = "apt-get install simavr libsimavr-dev"
READY = re.compile(r"utvm-simavr: listening 127\.0\.0\.1:(\d+)")
START_TIMEOUT = 10.0
RUN_LINE = re.compile(r"utvm-simavr: run (\d+) cycles (\d+) stack (\d+)")
EXIT_LINE = re.compile(r"utvm-simavr: exit (-?\d+) cycles (\d+) stack (\d+)")
ERROR_LINE = re.compile(r"utvm-simavr: error (.*)")

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
        kill_process_group(proc, grace=0.5)
        out, err = proc.communicate()
    finally:
        kill_process_group(proc, grace=0.5)
    text, log = out.decode(errors="replace"), err.decode(errors="replace")
    return {"command": argv, "returncode": proc.returncode, "output": text, "log": log,
            "seconds": round(time.monotonic() - started, 3), **parse_reports(log)}


class Emulation:
    """A harness serving the RPC UART on a TCP port, owned by this process."""

    def __init__(self, emulator: Mapping[str, Any], elf: Path, log_path: Path) -> None:
        self.emulator = dict(emulator)
        self.elf = elf
        self.log_path = log_path
        self.process: LoggedProcess | None = None
        self.port: int | None = None

    @property
    def proc(self) -> subprocess.Popen | None:
        return self.process.proc if self.process is not None else None

    def start(self) -> int:
        if not self.elf.is_file():
            raise TransportError(f"{self.elf} does not exist: build the project first")
        try:
            argv = harness_argv(self.emulator, self.elf, ["--tcp", "0"])
        except FlashFailed as exc:
            raise TransportError(str(exc)) from None
        self.process = LoggedProcess(argv, self.log_path, grace=0.5)
        m = self.process.wait_for(READY, START_TIMEOUT)
        if m:
            self.port = int(m.group(1))
            sys.stderr.write(f"simavr: {' '.join(argv)} (pid {self.process.pid}), UART on 127.0.0.1:{self.port}\n")
            return self.port
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
        return self.process is not None and self.process.running

    def reports(self) -> dict[str, Any]:
        return parse_reports(self.log_text())

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None:
            process.stop()
