"""The project server base class: what a platform plugin subclasses.

A plugin writes one subclass of :class:`ProjectServer`, sets its class attributes, overrides
the methods its platform supports and runs it as the main program::

    class MyServer(ProjectServer):
        platform_name = "myrtos"
        description = "MyRTOS applications built with make"
        options = [ProjectOption("port", "str", optional_for=["flash", "open_transport"], help="serial port")]

        def boards(self, options): ...
        def target_info(self, board, options): ...
        def generate_project(self, model_library_format_path, project_dir, board, options): ...
        def build(self, project_dir, options): ...

    if __name__ == "__main__":
        MyServer().serve()

The base class does the protocol: it reads JSON-RPC requests from stdin and writes responses to
stdout (one per line), checks the protocol version, validates and types the options of every
call, checks the parameters, encodes transport bytes as base64, and turns every exception into
a JSON-RPC error carrying the exception's type, message and traceback. :meth:`serve` first
guards the channel: from then on fd 1 of the process (``print``, logging to stdout, and every
child process such as make, west or gcc) goes to stderr, and fd 0 reads /dev/null, so no tool
can write into, or read from, the protocol.
"""

from __future__ import annotations

import inspect
import os
import pathlib
import shutil
import sys
import traceback
from typing import Any, Mapping, Sequence

from jsonrpclib import Fault
from jsonrpclib.SimpleJSONRPCServer import SimpleJSONRPCDispatcher

from . import generated, protocol
from .errors import (
    InvalidParams,
    MethodNotFound,
    NotSupported,
    ProjectError,
    ServerError,
    TransportClosed,
    TransportError,
    UnsupportedProtocolVersion,
    to_wire,
)
from .options import ProjectOption, validate_options

Options = dict  # the validated options a method receives: name -> typed value (None if unset)


class ProjectServer:
    """Base class of a platform's project server.

    Class attributes a subclass sets:

    - ``platform_name``: the platform's name (``"zephyr"``), as in its PlatformDescriptor;
    - ``description``: one line;
    - ``version``: the plugin's version string;
    - ``options``: the list of :class:`ProjectOption` the platform accepts, per method.

    Override the methods the platform supports; the others answer :class:`NotSupported`.
    A subclass that defines ``__init__`` must call ``super().__init__()``.
    Every method receives ``options``: a dict holding every option declared for that method,
    already validated, with its typed value (``path`` options as :class:`pathlib.Path`), its
    default when the client did not give it, or None. Paths given as parameters are absolute
    :class:`pathlib.Path` objects. Raise any exception to fail the call; prefer the classes of
    :mod:`utvm.project_api.errors` (``BoardNotFound``, ``BuildFailed``, ``DoesNotFit``...),
    which the client raises again by type. Return JSON values (dicts, lists, str, numbers,
    bool, None; paths are turned into strings).

    Anything the methods print, and everything child processes write to stdout, goes to the
    server's stderr, which the client collects and can show as progress.
    """

    platform_name: str = "unnamed"
    description: str = ""
    version: str = "0"
    options: Sequence[ProjectOption] = ()

    def __init__(self) -> None:
        self._transport_open = False
        self._dispatcher = SimpleJSONRPCDispatcher(config=protocol.JSON_CONFIG)
        self._handlers = {name: getattr(self, f"_rpc_{name}") for name in protocol.METHODS}
        # A bad declaration is a plugin bug: fail at start, not on the first call.
        names = [o.name for o in self.options]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"{type(self).__name__}: option(s) declared twice: {', '.join(duplicates)}")
        for opt in self.options:
            if not isinstance(opt, ProjectOption):
                raise TypeError(f"{type(self).__name__}.options must hold ProjectOption objects, not {opt!r}")

    # ==== methods a platform overrides ========================================================

    def boards(self, options: Options) -> list[dict[str, Any]]:
        """The boards this platform can build for, read from the RTOS's own metadata.

        Returns a list of objects, each with at least ``"name"`` (the name ``target_info`` and
        ``generate_project`` accept) and optionally ``"description"``, ``"vendor"``, ``"cpu"``
        and any other JSON fields.
        """
        raise NotSupported(f"platform {self.platform_name!r} does not list boards")

    def target_info(self, board: str, options: Options) -> dict[str, Any]:
        """What the compiler needs to know about ``board``, from the RTOS's metadata.

        Returns ``{"board", "cpu", "arch", "features", "memory_regions", ...}`` as documented
        in docs/project-api.md: ``features`` is a list of ISA features (``"dsp"``, ``"mve"``,
        ``"fpu"``), ``memory_regions`` a list of ``{"name", "origin", "length", "access"}``.
        Raise :class:`BoardNotFound` (with ``board=`` and ``available=``) for an unknown board.
        """
        raise NotSupported(f"platform {self.platform_name!r} does not implement target_info")

    def generate_project(
        self, model_library_format_path: pathlib.Path, project_dir: pathlib.Path, board: str, options: Options
    ) -> dict[str, Any] | None:
        """Make a firmware project for ``board`` in ``project_dir`` from a Model Library Format archive.

        ``project_dir`` exists and is empty when this is called: it is a staging folder of the
        project folder's name, which the base class then copies into the project folder, writing
        only the files whose content changed and deleting those the previous generation made and
        this one did not (:mod:`utvm.project_api.generated`); the staging folder's path, where it
        appears in the files written or in the result, becomes the project folder's. If this
        method raises, the project folder is left as it was. The project must build with the platform's
        own tools, and must record in itself what ``build``/``flash``/``open_transport`` need
        later (they only receive ``project_dir`` and their options). Place the model's sections
        and pools in the board's memory and raise :class:`DoesNotFit` (with the numbers) for a
        model that does not fit. Returns an optional object of extra information.
        """
        raise NotSupported(f"platform {self.platform_name!r} does not implement generate_project")

    def build(self, project_dir: pathlib.Path, options: Options) -> dict[str, Any] | None:
        """Build the project in ``project_dir`` (made by ``generate_project``).

        Returns an optional object, conventionally ``{"artifacts": [absolute paths]}``. Raise
        :class:`BuildFailed` (with ``command``, ``returncode`` and ``log_tail``) when the tool
        fails. Tool output may go to stdout freely: it reaches the client as stderr lines.
        """
        raise NotSupported(f"platform {self.platform_name!r} does not implement build")

    def flash(self, project_dir: pathlib.Path, options: Options) -> dict[str, Any] | None:
        """Write the built image to the device (or start the emulator/host process).

        Returns an optional object of extra information. Raise :class:`FlashFailed` on failure.
        """
        raise NotSupported(f"platform {self.platform_name!r} does not implement flash")

    def open_transport(self, project_dir: pathlib.Path, options: Options) -> dict[str, Any] | None:
        """Open the byte channel to the running firmware (UART, socket, pipe to a process).

        Called only when no transport is open. Returns an optional object of extra
        information. A platform that implements this must implement ``close_transport``,
        ``read_transport`` and ``write_transport``.
        """
        raise NotSupported(f"platform {self.platform_name!r} has no transport")

    def close_transport(self) -> None:
        """Close the transport. Called only when one is open; also called when the server exits."""
        raise NotSupported(f"platform {self.platform_name!r} has no transport")

    def read_transport(self, n: int, timeout: float) -> bytes:
        """Up to ``n`` bytes from the device.

        Wait at most ``timeout`` seconds for the first byte, then return what is available
        without waiting more (at most ``n`` bytes). Return ``b""`` when nothing arrived in
        time. Raise :class:`TransportClosed` when the device side closed the channel.
        """
        raise NotSupported(f"platform {self.platform_name!r} has no transport")

    def write_transport(self, data: bytes, timeout: float) -> None:
        """Write all of ``data`` to the device within ``timeout`` seconds.

        Raise :class:`TransportTimeout` when it cannot, :class:`TransportClosed` when the
        device side closed the channel.
        """
        raise NotSupported(f"platform {self.platform_name!r} has no transport")

    # ==== running ==============================================================================

    def serve(self) -> None:
        """Guard stdio and answer requests until stdin reaches EOF (see :func:`serve`)."""
        serve(self)

    def implemented_methods(self) -> list[str]:
        """The protocol methods this server supports (overridden ones, plus the always-present)."""
        cls = type(self)
        done = ["server_info_query"]
        for name in protocol.METHODS[1:]:
            if name in ("close_transport", "read_transport", "write_transport"):
                owner = "open_transport"
            else:
                owner = name
            if getattr(cls, owner) is not getattr(ProjectServer, owner):
                done.append(name)
        return done

    def handle_line(self, line: str | bytes) -> str | None:
        """The response line (without newline) for one request line; None for a notification.

        This is the whole server minus the stdio plumbing: tests may call it directly.
        """
        if isinstance(line, bytes):
            try:
                line = line.decode("utf-8")
            except UnicodeDecodeError as exc:
                fault = Fault(protocol.PARSE_ERROR, f"request is not UTF-8: {exc}", config=protocol.JSON_CONFIG)
                return fault.response()
        line = line.strip()
        if not line:
            return None
        response = self._dispatcher._marshaled_dispatch(line, dispatch_method=self._dispatch)
        return response or None

    # ==== protocol plumbing ====================================================================

    def _dispatch(self, method: str, params: Any) -> Any:
        """Calls the handler of ``method``; returns its JSON result, or a Fault."""
        handler = self._handlers.get(method) if isinstance(method, str) else None
        if handler is None:
            exc = MethodNotFound(
                f"method {method!r} not found; methods: {', '.join(protocol.METHODS)}",
                method_name=method,
                available=list(protocol.METHODS),
            )
            return self._fault(exc, protocol.METHOD_NOT_FOUND, log=False)
        signature = inspect.signature(handler)
        try:
            if isinstance(params, (list, tuple)):
                bound = signature.bind(*params)
            else:
                bound = signature.bind(**params)
        except TypeError as err:
            expected = ", ".join(
                p.name + ("" if p.default is inspect.Parameter.empty else "?") for p in signature.parameters.values()
            )
            exc = InvalidParams(f"invalid parameters for {method}: {err}; expected ({expected})", method=method)
            return self._fault(exc, protocol.INVALID_PARAMS, log=False)
        try:
            result = handler(*bound.args, **bound.kwargs)
            try:
                return protocol.to_jsonable(result, f"result of {method}")
            except TypeError as err:
                raise ServerError(f"{self.platform_name}: {err} (a plugin bug)") from None
        except Exception as exc:  # noqa: BLE001 - every failure becomes a JSON-RPC error
            return self._fault(exc, None, log=True, method=method)

    def _fault(self, exc: BaseException, code: int | None, log: bool, method: str | None = None) -> Fault:
        wire_code, message, data = to_wire(exc)
        if log:  # one line: the traceback travels in the error's data
            sys.stderr.write(f"utvm project server ({self.platform_name}): {method} failed: {message}\n")
            sys.stderr.flush()
        return Fault(code if code is not None else wire_code, message, config=protocol.JSON_CONFIG, data=data)

    def _options(self, method: str, options: Any) -> dict[str, Any]:
        return validate_options(method, options, self.options)

    @staticmethod
    def _abs_path(name: str, value: Any) -> pathlib.Path:
        if not isinstance(value, str) or not value:
            raise InvalidParams(f"parameter {name!r} must be a non-empty path string, got {value!r}", param=name)
        path = pathlib.Path(value)
        if not path.is_absolute():
            raise InvalidParams(f"parameter {name!r} must be an absolute path, got {value!r}", param=name)
        return path

    @staticmethod
    def _check_number(name: str, value: Any, integer: bool = False) -> None:
        kinds = (int,) if integer else (int, float)
        if isinstance(value, bool) or not isinstance(value, kinds) or value < 0:
            what = "a non-negative integer" if integer else "a non-negative number"
            raise InvalidParams(f"parameter {name!r} must be {what}, got {value!r}", param=name)

    def _require(self, method: str) -> None:
        if method not in self.implemented_methods():
            raise NotSupported(f"platform {self.platform_name!r} does not implement {method}")

    # -- one handler per protocol method: wire types in, wire types out ------------------------

    def _rpc_server_info_query(self, protocol_version: Any) -> dict[str, Any]:
        if protocol_version not in protocol.SUPPORTED_PROTOCOL_VERSIONS or isinstance(protocol_version, bool):
            supported = ", ".join(str(v) for v in protocol.SUPPORTED_PROTOCOL_VERSIONS)
            raise UnsupportedProtocolVersion(
                f"client speaks Project API protocol version {protocol_version!r}, "
                f"but server {self.platform_name!r} speaks version {supported}",
                client_version=protocol_version,
                server_versions=list(protocol.SUPPORTED_PROTOCOL_VERSIONS),
            )
        return {
            "protocol_version": protocol_version,
            "platform_name": self.platform_name,
            "description": self.description,
            "version": self.version,
            "methods": self.implemented_methods(),
            "options": [o.to_json() for o in self.options],
        }

    def _rpc_boards(self, options: Any = None) -> list[dict[str, Any]]:
        self._require("boards")
        result = self.boards(self._options("boards", options))
        if not isinstance(result, (list, tuple)) or not all(
            isinstance(b, Mapping) and isinstance(b.get("name"), str) for b in result
        ):
            raise ServerError(f"{self.platform_name}: boards() must return a list of objects with a 'name' (a plugin bug)")
        return list(result)

    def _rpc_target_info(self, board: Any, options: Any = None) -> dict[str, Any]:
        self._require("target_info")
        if not isinstance(board, str) or not board:
            raise InvalidParams(f"parameter 'board' must be a non-empty string, got {board!r}", param="board")
        result = self.target_info(board, self._options("target_info", options))
        if not isinstance(result, Mapping):
            raise ServerError(f"{self.platform_name}: target_info() must return an object (a plugin bug)")
        return {"board": board, **result}

    def _rpc_generate_project(
        self, model_library_format_path: Any, project_dir: Any, board: Any, options: Any = None
    ) -> dict[str, Any]:
        self._require("generate_project")
        mlf = self._abs_path("model_library_format_path", model_library_format_path)
        project = self._abs_path("project_dir", project_dir)
        if not isinstance(board, str) or not board:
            raise InvalidParams(f"parameter 'board' must be a non-empty string, got {board!r}", param="board")
        opts = self._options("generate_project", options)
        if not mlf.exists():
            raise ProjectError(f"model library format archive {mlf} does not exist", path=str(mlf))
        if project.exists() and not project.is_dir():
            raise ProjectError(f"project directory {project} exists and is not a directory", path=str(project))
        busy = project.exists() and any(project.iterdir())
        if busy and not generated.generated_for(project, self.platform_name, board):
            raise ProjectError(f"project directory {project} exists and is not empty (nor a {self.platform_name} "
                               f"project for {board})", path=str(project))
        # The plugin writes into an empty staging folder of the same name; the project folder is
        # then brought to that content, writing only what changed (utvm.project_api.generated).
        # A failed generation leaves the project folder as it was.

        def generate(staging: pathlib.Path) -> dict[str, Any]:
            result = self.generate_project(mlf, staging, board, opts)
            if result is not None and not isinstance(result, Mapping):
                raise ServerError(
                    f"{self.platform_name}: generate_project() must return an object or None (a plugin bug)")
            return dict(result or {})

        created = not project.exists()
        try:
            result, update = generated.generate_in_place(generate, project, self.platform_name, board)
        except BaseException:
            if created:
                shutil.rmtree(project, ignore_errors=True)
            raise
        return {"project_dir": str(project), **result, "written": update.written, "removed": update.removed}

    def _project_step(self, method: str, project_dir: Any, options: Any) -> dict[str, Any]:
        self._require(method)
        project = self._abs_path("project_dir", project_dir)
        opts = self._options(method, options)
        if not project.is_dir():
            raise ProjectError(f"project directory {project} does not exist", path=str(project))
        result = getattr(self, method)(project, opts)
        if result is not None and not isinstance(result, Mapping):
            raise ServerError(f"{self.platform_name}: {method}() must return an object or None (a plugin bug)")
        return dict(result) if result else {}

    def _rpc_build(self, project_dir: Any, options: Any = None) -> dict[str, Any]:
        return self._project_step("build", project_dir, options)

    def _rpc_flash(self, project_dir: Any, options: Any = None) -> dict[str, Any]:
        return self._project_step("flash", project_dir, options)

    def _rpc_open_transport(self, project_dir: Any, options: Any = None) -> dict[str, Any]:
        self._require("open_transport")
        if self._transport_open:
            raise TransportError("a transport is already open; close it first")
        result = self._project_step("open_transport", project_dir, options)
        self._transport_open = True
        return result

    def _rpc_close_transport(self) -> None:
        self._require("close_transport")
        if self._transport_open:
            self._transport_open = False
            self.close_transport()
        return None

    def _rpc_read_transport(self, n: Any, timeout: Any) -> dict[str, Any]:
        self._require("read_transport")
        self._check_number("n", n, integer=True)
        self._check_number("timeout", timeout)
        if not self._transport_open:
            raise TransportClosed("no transport is open (call open_transport first)")
        data = self.read_transport(n, float(timeout))
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise ServerError(f"{self.platform_name}: read_transport() must return bytes (a plugin bug)")
        data = bytes(data)
        if len(data) > n:
            raise ServerError(f"{self.platform_name}: read_transport() returned {len(data)} bytes for n={n} (a plugin bug)")
        return {"data": protocol.b64encode(data)}

    def _rpc_write_transport(self, data: Any, timeout: Any) -> dict[str, Any]:
        self._require("write_transport")
        self._check_number("timeout", timeout)
        try:
            raw = protocol.b64decode(data)
        except ValueError as err:
            raise InvalidParams(f"parameter 'data': {err}", param="data") from None
        if not self._transport_open:
            raise TransportClosed("no transport is open (call open_transport first)")
        self.write_transport(raw, float(timeout))
        return {"written": len(raw)}

    def _shutdown(self) -> None:
        if self._transport_open:
            self._transport_open = False
            try:
                self.close_transport()
            except Exception:  # noqa: BLE001 - best effort at exit
                traceback.print_exc()


_guarded: tuple[Any, Any] | None = None


def guard_stdio() -> tuple[Any, Any]:
    """Take fds 0 and 1 for the protocol; returns (binary reader, binary writer).

    The protocol keeps private duplicates of the original stdin and stdout (not inherited by
    child processes); then fd 1 becomes a copy of fd 2 (stderr) and fd 0 reads /dev/null. So
    Python prints, logging handlers on sys.stdout and the output of every child process end up
    on stderr, and no child can consume a request. Idempotent.
    """
    global _guarded
    if _guarded is not None:
        return _guarded
    proto_in_fd = os.dup(0)
    proto_out_fd = os.dup(1)
    # Pending bytes in sys.stdout's buffer now flush to stderr, never into the protocol.
    os.dup2(2, 1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(line_buffering=True)
        except (AttributeError, ValueError):
            pass
    _guarded = (os.fdopen(proto_in_fd, "rb"), os.fdopen(proto_out_fd, "wb"))
    return _guarded


def serve(server: ProjectServer) -> None:
    """Run ``server`` on this process's stdin/stdout until stdin reaches EOF.

    Guards stdio first (:func:`guard_stdio`). Each line read is one JSON-RPC request (or
    batch); each response is written as one line and flushed. Malformed lines get a JSON-RPC
    error and the loop goes on. At EOF an open transport is closed and the function returns
    (the process should then exit 0).
    """
    reader, writer = guard_stdio()
    try:
        for line in reader:
            response = server.handle_line(line)
            if response is None:
                continue
            try:
                writer.write(response.encode("utf-8") + b"\n")
                writer.flush()
            except BrokenPipeError:
                break
    except KeyboardInterrupt:
        pass
    finally:
        server._shutdown()

