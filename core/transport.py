"""Byte transports between the host and a device running the utvm RPC server.

A transport moves raw bytes; framing and sessions are built on top of it
(:mod:`utvm.rpc_framing`, :mod:`utvm.session`). Anything with the three
methods of :class:`Transport` works: a serial port, a TCP socket, a project
server's ``read_transport``/``write_transport``, or :class:`SubprocessTransport`
for a program on this machine that speaks over its stdin/stdout.
"""

from __future__ import annotations

import os
import select
import subprocess
import tempfile
import time
from typing import Mapping, Optional, Protocol, Sequence, runtime_checkable

from .errors import UtvmError


class TransportError(UtvmError):
    """The transport failed: the other end went away, or an I/O error."""


class TransportTimeout(TransportError):
    """Nothing could be read (or written) within the timeout."""


class TransportClosed(TransportError):
    """The transport is closed, or the device side closed it (a program that exited)."""


@runtime_checkable
class Transport(Protocol):
    """What a session needs from a link to a device.

    ``read`` returns between 1 and ``max_bytes`` bytes: everything already
    available up to ``max_bytes``, waiting at most ``timeout_s`` for the first
    byte; it raises :class:`TransportTimeout` if none arrived in time and
    :class:`TransportClosed` if the link is gone. ``write`` sends all of
    ``data`` or raises (``TransportTimeout`` if the device did not take it in
    time). ``close`` is idempotent.
    """

    def write(self, data: bytes, timeout_s: float) -> None: ...

    def read(self, max_bytes: int, timeout_s: float) -> bytes: ...

    def close(self) -> None: ...


class SubprocessTransport:
    """Talk to a program over its stdin (host -> device) and stdout (device -> host).

    Its stderr goes to a temporary file whose end is quoted when the program
    exits early. ``close()`` closes its stdin, gives it ``grace_s`` to exit,
    then kills it.
    """

    def __init__(
        self,
        argv: Sequence[str],
        cwd: Optional[str | os.PathLike] = None,
        env: Optional[Mapping[str, str]] = None,
        grace_s: float = 0.2,
    ) -> None:
        if not argv:
            raise TransportError("SubprocessTransport needs a program to run (argv is empty)")
        self.argv = [str(a) for a in argv]
        self.grace_s = grace_s
        self._stderr = tempfile.TemporaryFile(prefix="utvm-device-stderr-")
        try:
            self.proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self._stderr,
                cwd=cwd,
                env=dict(env) if env is not None else None,
                bufsize=0,
            )
        except OSError as exc:
            self._stderr.close()
            raise TransportError(f"cannot start {self.argv[0]}: {exc.strerror or exc}") from None
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self._wfd = self.proc.stdin.fileno()
        self._rfd = self.proc.stdout.fileno()
        os.set_blocking(self._wfd, False)
        os.set_blocking(self._rfd, False)
        self._closed = False

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stderr_tail(self, limit: int = 2000) -> str:
        """The last ``limit`` characters the program wrote to stderr."""
        try:
            self._stderr.flush()
            size = self._stderr.seek(0, os.SEEK_END)
            self._stderr.seek(max(0, size - limit))
            return self._stderr.read().decode("utf-8", "replace")
        except (OSError, ValueError):
            return ""

    def _gone(self, what: str) -> TransportClosed:
        try:
            code = self.proc.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            code = None
        status = f"exited with code {code}" if code is not None else "closed its output"
        tail = self.stderr_tail().strip()
        detail = f"; its stderr ends with:\n{tail}" if tail else ""
        return TransportClosed(f"{what}: device program {self.argv[0]} {status}{detail}")

    def write(self, data: bytes, timeout_s: float) -> None:
        if self._closed:
            raise TransportClosed("write on a closed transport")
        view = memoryview(bytes(data))
        deadline = time.monotonic() + max(0.0, timeout_s)
        while view:
            remaining = deadline - time.monotonic()
            _, ready, _ = select.select([], [self._wfd], [], max(0.0, remaining))
            if not ready:
                raise TransportTimeout(
                    f"device program took only {len(data) - len(view)} of {len(data)} bytes within {timeout_s:.1f} s"
                )
            try:
                n = os.write(self._wfd, view)
            except BlockingIOError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                raise self._gone("cannot write") from None
            view = view[n:]

    def read(self, max_bytes: int, timeout_s: float) -> bytes:
        if self._closed:
            raise TransportClosed("read on a closed transport")
        if max_bytes < 1:
            raise ValueError("max_bytes must be at least 1")
        deadline = time.monotonic() + max(0.0, timeout_s)
        while True:
            ready, _, _ = select.select([self._rfd], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                raise TransportTimeout(f"no bytes from the device program within {timeout_s:.1f} s")
            try:
                data = os.read(self._rfd, max_bytes)
            except BlockingIOError:  # a spurious wake-up: wait on
                continue
            if not data:
                raise self._gone("cannot read")
            return data

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self.proc.stdin.close()  # type: ignore[union-attr]
        except OSError:
            pass
        try:
            self.proc.wait(timeout=self.grace_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        try:
            self.proc.stdout.close()  # type: ignore[union-attr]
        except OSError:
            pass
        self._stderr.close()

    def __enter__(self) -> "SubprocessTransport":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:  # a forgotten transport must not leave a process behind
        try:
            if not self._closed and self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        except Exception:
            pass
