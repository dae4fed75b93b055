"""Child processes a project server owns (emulators, simulators): never an orphan.

A plugin that runs its firmware in an emulator starts it from the project server and must not
leave it behind, however the session ends. This module is the one home of that machinery (used
by the arduino and baremetal_cmsis plugins; a third-party plugin may use it as it is):

- :func:`spawn_owned` starts ``argv`` (``subprocess.Popen`` arguments) in a process group of its
  own that cannot outlive this process: on Linux the kernel sends it SIGKILL when this process
  dies (``PR_SET_PDEATHSIG``; a child whose parent is already gone exits at once); elsewhere a
  small watchdog process kills the group when this process's end of its pipe closes. It also
  installs the reaper (:func:`install_reaper`): every owned process is killed at interpreter
  exit and on SIGTERM/SIGINT/SIGHUP (chained to the handlers installed before).
- :func:`kill_process_group` stops one: SIGTERM to its group, SIGKILL after ``grace`` seconds,
  then reaps it (and its watchdog); :func:`kill_all` stops every one still owned.
- :func:`free_port`: a free TCP port on 127.0.0.1 for an emulator's console.
- :class:`LoggedProcess`: an owned process whose stdout and stderr go to a log file, with
  :meth:`~LoggedProcess.wait_for` to wait until the log shows it is ready (e.g. listening on
  its port), :meth:`~LoggedProcess.log_text` and an idempotent :meth:`~LoggedProcess.stop`.
"""

from __future__ import annotations

import atexit
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Sequence

_LIVE: dict[int, subprocess.Popen] = {}
_LOCK = threading.Lock()
_REAPER_INSTALLED = False
_PREVIOUS_HANDLERS: dict[int, Any] = {}


def kill_process_group(proc: subprocess.Popen, grace: float = 1.0) -> None:
    """Stop ``proc`` and its process group: SIGTERM, then SIGKILL after ``grace`` seconds; reap it."""
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
    watchdog = getattr(proc, "_utvm_watchdog", None)
    if watchdog is not None:
        proc._utvm_watchdog = None  # type: ignore[attr-defined]
        kill_process_group(watchdog)


def kill_all(grace: float = 0.5) -> None:
    """Kill every process this module started and still owns."""
    with _LOCK:
        procs = list(_LIVE.values())
    for proc in procs:
        kill_process_group(proc, grace=grace)


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
    """Kill owned processes at interpreter exit and on SIGTERM/SIGINT/SIGHUP (chained to earlier handlers).

    Signal handlers can only be installed from the main thread; call this from a server's
    ``__main__`` so that they are (:func:`spawn_owned` calls it too, for the atexit part).
    """
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


def _die_with_parent(parent: int) -> None:
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
    """Start ``argv`` in a new process group that cannot outlive this process (``kwargs``: for Popen)."""
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
    """A TCP port on 127.0.0.1 that nothing listens on now (the caller's child binds it next)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LoggedProcess:
    """An owned process (:func:`spawn_owned`) with stdout and stderr written to ``log_path``.

    ``LoggedProcess(argv, log_path)`` starts it (OSError if it cannot be started; the log is
    closed again then). ``grace``: the seconds :meth:`stop` gives it after SIGTERM.
    """

    def __init__(self, argv: Sequence[str], log_path: Path, grace: float = 1.0, **kwargs: Any) -> None:
        self.argv = list(argv)
        self.log_path = Path(log_path)
        self.grace = grace
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log: Any = open(self.log_path, "wb")
        try:
            self.proc: subprocess.Popen | None = spawn_owned(
                self.argv, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT, **kwargs
            )
        except BaseException:
            self._close_log()
            raise
        self.pid = self.proc.pid

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def returncode(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def log_text(self) -> str:
        try:
            return self.log_path.read_bytes().decode(errors="replace")
        except OSError:
            return ""

    def wait_for(self, pattern: str | re.Pattern[str], timeout: float) -> re.Match[str] | None:
        """Poll the log until ``pattern`` (a regex, or a plain string) shows up: its match, or None
        when the process exited or ``timeout`` s passed first. The process is left running either way."""
        regex = pattern if isinstance(pattern, re.Pattern) else re.compile(re.escape(pattern))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = regex.search(self.log_text())
            if m:
                return m
            if self.proc is None or self.proc.poll() is not None:
                break
            time.sleep(0.01)
        return None

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def stop(self) -> None:
        """Kill the process group and close the log (idempotent)."""
        proc, self.proc = self.proc, None
        if proc is not None:
            kill_process_group(proc, grace=self.grace)
        self._close_log()
