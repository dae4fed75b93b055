"""The client side of the Project API: start a project server and call it.

::

    from utvm.project_api import connect

    with connect([sys.executable, "-m", "myplugin.server"]) as client:
        print(client.info.platform_name, client.info.methods)
        boards = client.boards()
        client.generate_project("/abs/model.tar", "/abs/project", "myboard", {"project_type": "host_driven"})
        client.build("/abs/project")

Every call has a timeout (:data:`~utvm.project_api.protocol.DEFAULT_TIMEOUTS`, overridable per
client and per call). A server that exits during a call raises :class:`ServerCrashed` (exit
code and the tail of its stderr) as soon as its exit is seen; a server that does not answer in
time is killed (with its whole process group) and raises :class:`ServerTimeout`. Errors the
server reports are raised as the same exception class (see :mod:`utvm.project_api.errors`).
POSIX only.
"""

from __future__ import annotations

import collections
import itertools
import os
import queue
import select
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Sequence

import jsonrpclib

from . import protocol
from .errors import ProjectAPIError, ProtocolError, ServerCrashed, ServerStartError, ServerTimeout, from_wire
from .options import ProjectOption, options_for_method

_EOF = object()
_MAX_LINE = 4096  # characters kept of one stderr line


@dataclass(frozen=True)
class ServerInfo:
    """The answer to ``server_info_query``."""

    protocol_version: int
    platform_name: str
    description: str
    version: str
    methods: tuple[str, ...]
    options: tuple[ProjectOption, ...]
    raw: Mapping[str, Any]

    @classmethod
    def from_json(cls, obj: Any) -> "ServerInfo":
        if not isinstance(obj, Mapping):
            raise ProtocolError(f"server_info_query returned {type(obj).__name__}, not an object")
        try:
            options = tuple(ProjectOption.from_json(o) for o in obj.get("options") or ())
        except ValueError as exc:
            raise ProtocolError(f"server_info_query returned a bad option declaration: {exc}") from None
        return cls(
            protocol_version=obj.get("protocol_version"),
            platform_name=str(obj.get("platform_name", "")),
            description=str(obj.get("description", "")),
            version=str(obj.get("version", "")),
            methods=tuple(obj.get("methods") or ()),
            options=options,
            raw=dict(obj),
        )

    def supports(self, method: str) -> bool:
        return method in self.methods

    def options_for(self, method: str) -> list[ProjectOption]:
        """The declared options ``method`` accepts."""
        return [o for o in self.options if o.applies_to(method)]


class ProjectClient:
    """A running project server and the calls to it.

    ``argv`` starts the server; ``argv[0]`` must be an absolute path (``sys.executable`` is).
    ``timeout`` replaces the default call timeout of 30 s; ``timeouts`` sets it per method
    (``{"build": 1200}``; build and flash default to 600 s). Every call method also takes a
    ``timeout`` of its own.
    ``stderr_callback(line)`` is called (from a reader thread) with each line the server
    writes to stderr, which is where its tools' output goes: use it to show progress. The last
    ``stderr_lines`` lines are kept for error reports (:meth:`stderr_tail`).

    The constructor only starts the process; :func:`connect` also checks the protocol version.
    Use it as a context manager, or call :meth:`close`.
    """

    def __init__(
        self,
        argv: Sequence[str | os.PathLike],
        *,
        timeout: float | None = None,
        timeouts: Mapping[str, float] | None = None,
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike | None = None,
        stderr_callback: Callable[[str], None] | None = None,
        stderr_lines: int = 200,
    ):
        if isinstance(argv, (str, bytes)) or not isinstance(argv, Iterable):
            raise ServerStartError(f"server argv must be a list of strings, not {type(argv).__name__}")
        argv = [os.fspath(a) for a in argv]
        if not argv or not all(isinstance(a, str) for a in argv):
            raise ServerStartError(f"server argv must be a non-empty list of strings, got {argv!r}")
        if not os.path.isabs(argv[0]):
            raise ServerStartError(
                f"server argv[0] {argv[0]!r} is not an absolute path; a platform must name its server "
                f"executable absolutely (for a Python module: [sys.executable, '-m', 'package.module'])",
                argv=argv,
            )
        if not os.path.isfile(argv[0]) or not os.access(argv[0], os.X_OK):
            raise ServerStartError(f"server executable {argv[0]} does not exist or is not executable", argv=argv)

        self.argv = argv
        self._default_timeout = float(timeout) if timeout is not None else protocol.DEFAULT_TIMEOUT
        self._timeouts = dict(protocol.DEFAULT_TIMEOUTS)
        self._timeouts.update(timeouts or {})
        self._stderr_callback = stderr_callback
        self._stderr = collections.deque(maxlen=max(1, int(stderr_lines)))
        self._stderr_lock = threading.Lock()
        self._responses: queue.Queue = queue.Queue()
        self._call_lock = threading.Lock()
        self._ids = itertools.count(1)
        self._dead: ProjectAPIError | None = None
        self._closed = False
        self.info: ServerInfo | None = None

        try:
            self._proc = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=dict(env) if env is not None else None,
                cwd=cwd,
                close_fds=True,
                start_new_session=True,  # its own process group: a timeout kills its tools too
            )
        except OSError as exc:
            raise ServerStartError(f"cannot start project server {argv!r}: {exc}", argv=argv) from None
        self._stdin_fd = self._proc.stdin.fileno()
        os.set_blocking(self._stdin_fd, False)
        self._stdout_thread = threading.Thread(target=self._read_stdout, name="utvm-server-stdout", daemon=True)
        self._stderr_thread = threading.Thread(target=self._read_stderr, name="utvm-server-stderr", daemon=True)
        self._stdout_thread.start()
        self._stderr_thread.start()

    # ==== process state ========================================================================

    @property
    def pid(self) -> int:
        return self._proc.pid

    @property
    def returncode(self) -> int | None:
        """The server's exit code, or None while it runs."""
        return self._proc.poll()

    def stderr_tail(self, lines: int = 20) -> str:
        """The last ``lines`` lines the server wrote to stderr, as one string."""
        with self._stderr_lock:
            kept = list(self._stderr)[-lines:] if lines > 0 else []
        return "\n".join(kept)

    def timeout_for(self, method: str) -> float:
        """The call timeout of ``method`` for this client, in seconds."""
        return float(self._timeouts.get(method, self._default_timeout))

    def _note(self, line: str) -> None:
        if len(line) > _MAX_LINE:
            line = line[:_MAX_LINE] + f"... ({len(line)} characters)"
        with self._stderr_lock:
            self._stderr.append(line)
        if self._stderr_callback is not None:
            try:
                self._stderr_callback(line)
            except Exception:  # noqa: BLE001 - a display problem must not break the session
                pass

    def _read_stdout(self) -> None:
        try:
            for raw in self._proc.stdout:
                self._responses.put(raw)
        except (OSError, ValueError):
            pass
        finally:
            self._responses.put(_EOF)

    def _read_stderr(self) -> None:
        try:
            for raw in self._proc.stderr:
                self._note(raw.decode("utf-8", "replace").rstrip("\r\n"))
        except (OSError, ValueError):
            pass

    def _kill(self) -> None:
        """SIGKILL the server's process group (its tools too), then reap it."""
        if self._proc.poll() is None:
            try:
                os.killpg(self._proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                try:
                    self._proc.kill()
                except ProcessLookupError:
                    pass
        try:
            self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass

    def _describe_exit(self, code: int | None) -> str:
        if code is None:
            return "closed its stdout"
        if code < 0:
            try:
                return f"was killed by {signal.Signals(-code).name}"
            except ValueError:
                return f"was killed by signal {-code}"
        return f"exited with code {code}"

    def _crashed(self, method: str) -> ServerCrashed:
        try:
            code = self._proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            code = None  # stdout closed but still running: nothing more can be said over it
            self._kill()
        self._stderr_thread.join(timeout=1)
        error = ServerCrashed(
            f"project server {self.argv[0]} {self._describe_exit(code)} during {method}",
            method=method,
            exit_code=code if code is not None else self._proc.returncode,
            stderr_tail=self.stderr_tail(),
        )
        self._dead = error
        return error

    def _timed_out(self, method: str, timeout: float) -> ServerTimeout:
        self._kill()
        self._stderr_thread.join(timeout=1)
        error = ServerTimeout(
            f"project server {self.argv[0]} did not answer {method} within {timeout:g} s; it was stopped",
            method=method,
            timeout=timeout,
            stderr_tail=self.stderr_tail(),
        )
        self._dead = error
        return error

    # ==== calls ================================================================================

    def _send(self, data: bytes, method: str, deadline: float, timeout: float) -> None:
        view = memoryview(data)
        while view:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self._timed_out(method, timeout)
            _, ready, _ = select.select([], [self._stdin_fd], [], min(remaining, 0.1))
            if not ready:
                if self._proc.poll() is not None:
                    raise self._crashed(method)
                continue
            try:
                view = view[os.write(self._stdin_fd, view):]
            except BlockingIOError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                raise self._crashed(method) from None

    def call(self, method: str, params: Mapping[str, Any] | None = None, *, timeout: float | None = None) -> Any:
        """Call ``method`` with named ``params``; its result, or the server's error raised.

        Raises the rebuilt server error, :class:`ServerCrashed`, :class:`ServerTimeout` or
        :class:`ProtocolError`.
        """
        if timeout is None:
            timeout = self.timeout_for(method)
        with self._call_lock:
            if self._dead is not None:
                raise type(self._dead)(
                    f"project server {self.argv[0]} is no longer running ({self._dead.message})",
                    method=method,
                    **self._dead.details,
                )
            if self._closed:
                raise ProjectAPIError(f"client of {self.argv[0]} is closed", method=method)
            rid = next(self._ids)
            request = jsonrpclib.dumps(
                protocol.to_jsonable(dict(params or {}), f"parameters of {method}"),
                methodname=method,
                rpcid=rid,
                version=2.0,
                config=protocol.JSON_CONFIG,
            )
            deadline = time.monotonic() + timeout
            self._send(request.encode("utf-8") + b"\n", method, deadline, timeout)
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise self._timed_out(method, timeout)
                try:
                    item = self._responses.get(timeout=min(remaining, 0.1))
                except queue.Empty:
                    if self._proc.poll() is not None:
                        # Exited: let the reader hand over what it still has, then report.
                        self._stdout_thread.join(timeout=0.5)
                        if self._responses.empty():
                            raise self._crashed(method) from None
                    continue
                if item is _EOF:
                    raise self._crashed(method)
                text = item.decode("utf-8", "replace").strip()
                if not text:
                    continue
                try:
                    message = jsonrpclib.loads(text, protocol.JSON_CONFIG)
                except ValueError:
                    message = None
                if not isinstance(message, dict) or ("result" not in message and "error" not in message):
                    self._note(f"[server stdout, not a response] {text}")
                    continue
                if message.get("id") != rid:
                    if message.get("id") is None and message.get("error"):
                        # The server could not read our request at all.
                        raise from_wire(message["error"], method)
                    self._note(f"[server stdout, unexpected response id] {text}")
                    continue
                if message.get("error") is not None:
                    raise from_wire(message["error"], method)
                if "result" not in message:
                    raise ProtocolError(f"response to {method} has neither result nor error", method=method)
                return message["result"]

    # -- the protocol methods ------------------------------------------------------------------

    def server_info_query(self, protocol_version: int = protocol.PROTOCOL_VERSION, *, timeout: float | None = None) -> ServerInfo:
        """Check the protocol version and get the server's platform, methods and options.

        The result is also stored as :attr:`info`. Raises :class:`UnsupportedProtocolVersion`.
        """
        result = self.call("server_info_query", {"protocol_version": protocol_version}, timeout=timeout)
        self.info = ServerInfo.from_json(result)
        return self.info

    def boards(self, options: Mapping[str, Any] | None = None, *, timeout: float | None = None) -> list[dict[str, Any]]:
        """The boards of the platform (each a dict with at least ``"name"``)."""
        return self.call("boards", {"options": _opts(options)}, timeout=timeout)

    def target_info(self, board: str, options: Mapping[str, Any] | None = None, *, timeout: float | None = None) -> dict[str, Any]:
        """CPU, ISA features and memory regions of ``board``."""
        return self.call("target_info", {"board": board, "options": _opts(options)}, timeout=timeout)

    def generate_project(
        self,
        model_library_format_path: str | os.PathLike,
        project_dir: str | os.PathLike,
        board: str,
        options: Mapping[str, Any] | None = None,
        *,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """Make a project in ``project_dir`` (absent or empty) from a Model Library Format archive."""
        params = {
            "model_library_format_path": os.path.abspath(model_library_format_path),
            "project_dir": os.path.abspath(project_dir),
            "board": board,
            "options": _opts(options),
        }
        return self.call("generate_project", params, timeout=timeout)

    def build(self, project_dir: str | os.PathLike, options: Mapping[str, Any] | None = None, *, timeout: float | None = None) -> dict[str, Any]:
        """Build the project; conventionally returns ``{"artifacts": [...]}``."""
        return self.call("build", {"project_dir": os.path.abspath(project_dir), "options": _opts(options)}, timeout=timeout)

    def flash(self, project_dir: str | os.PathLike, options: Mapping[str, Any] | None = None, *, timeout: float | None = None) -> dict[str, Any]:
        """Flash the built project."""
        return self.call("flash", {"project_dir": os.path.abspath(project_dir), "options": _opts(options)}, timeout=timeout)

    def open_transport(self, project_dir: str | os.PathLike, options: Mapping[str, Any] | None = None, *, timeout: float | None = None) -> dict[str, Any]:
        """Open the byte channel to the firmware of the project."""
        return self.call(
            "open_transport", {"project_dir": os.path.abspath(project_dir), "options": _opts(options)}, timeout=timeout
        )

    def close_transport(self, *, timeout: float | None = None) -> None:
        """Close the transport (a no-op when none is open)."""
        self.call("close_transport", {}, timeout=timeout)

    def read_transport(self, n: int, timeout: float, *, call_timeout: float | None = None) -> bytes:
        """Up to ``n`` bytes: waits at most ``timeout`` s for the first byte; ``b""`` if none came.

        The call itself may take ``timeout`` plus the method's call timeout.
        """
        if call_timeout is None:
            call_timeout = self.timeout_for("read_transport") + float(timeout)
        result = self.call("read_transport", {"n": int(n), "timeout": float(timeout)}, timeout=call_timeout)
        try:
            return protocol.b64decode(result["data"])
        except (TypeError, KeyError, ValueError) as exc:
            raise ProtocolError(f"read_transport returned a bad result: {exc}", method="read_transport") from None

    def write_transport(self, data: bytes, timeout: float = 5.0, *, call_timeout: float | None = None) -> int:
        """Write all of ``data`` within ``timeout`` s; returns the number of bytes written."""
        if call_timeout is None:
            call_timeout = self.timeout_for("write_transport") + float(timeout)
        result = self.call(
            "write_transport", {"data": protocol.b64encode(data), "timeout": float(timeout)}, timeout=call_timeout
        )
        return int(result.get("written", len(data))) if isinstance(result, Mapping) else len(data)

    def select_options(self, method: str, options: Mapping[str, Any]) -> dict[str, Any]:
        """The part of a session's ``options`` that ``method`` takes (needs :attr:`info`)."""
        if self.info is None:
            self.server_info_query()
        return options_for_method(method, options, self.info.options)

    # ==== shutdown =============================================================================

    def close(self, timeout: float = 5.0) -> int | None:
        """Close the server's stdin (it exits at EOF), wait ``timeout`` s, then SIGTERM, then SIGKILL.

        Returns the exit code. Safe to call twice.
        """
        if not self._closed:
            self._closed = True
            try:
                self._proc.stdin.close()
            except OSError:
                pass
            try:
                self._proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self._proc.pid, signal.SIGTERM)
                except (ProcessLookupError, PermissionError):
                    self._proc.terminate()
                try:
                    self._proc.wait(timeout=2)
                except subprocess.TimeoutExpired:
                    self._kill()
            self._stdout_thread.join(timeout=1)
            self._stderr_thread.join(timeout=1)
            for stream in (self._proc.stdout, self._proc.stderr):
                try:
                    stream.close()
                except OSError:
                    pass
        return self._proc.returncode

    def __enter__(self) -> "ProjectClient":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"pid {self._proc.pid}"
        return f"<ProjectClient {self.argv!r} ({state})>"


def _opts(options: Mapping[str, Any] | None) -> dict[str, Any]:
    return protocol.to_jsonable(dict(options or {}), "options")


def connect(argv: Sequence[str | os.PathLike], **kwargs: Any) -> ProjectClient:
    """Start the server of ``argv`` and check its protocol version (``server_info_query``).

    Takes the keyword arguments of :class:`ProjectClient`; the returned client has
    :attr:`ProjectClient.info` set. The server is stopped again if the check fails.
    """
    client = ProjectClient(argv, **kwargs)
    try:
        client.server_info_query()
    except BaseException:
        client.close(timeout=1)
        raise
    return client
