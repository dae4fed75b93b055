"""The exceptions of the Project API.

Every class derives from :class:`ProjectAPIError` (itself a :class:`utvm.errors.UtvmError`, so
the CLI reports it as one line). Each takes a message and keyword *details*: JSON values that
describe the error for programs (``option="port"``, ``valid=[...]``); they become attributes
and travel in the error's ``data.details`` on the wire.

Errors a project server raises are sent to the client, which raises the same class again
(see :func:`from_wire`), with three extra attributes:

- ``remote_type``: the name of the exception's class in the server (``"CalledProcessError"``);
- ``remote_traceback``: the server's formatted traceback;
- ``code``: the JSON-RPC error code.

An exception the client does not know (any Python exception inside a plugin, or a plugin's
own subclass) comes back as the nearest known base class in its MRO, or as
:class:`ServerError`.
"""

from __future__ import annotations

import traceback as _traceback
from typing import Any

from utvm.errors import UtvmError

from . import protocol

#: Attribute names a detail may not take (they belong to the exception itself).
_RESERVED = frozenset({"args", "details", "remote_type", "remote_traceback", "code", "method", "with_traceback"})


class ProjectAPIError(UtvmError):
    """Base class of every Project API error.

    ``ProjectAPIError(message, **details)``; ``code`` is the JSON-RPC error code the server
    uses for this class.
    """

    code = -32000

    def __init__(self, message: str = "", **details: Any):
        super().__init__(message)
        self.details: dict[str, Any] = {}
        self.remote_type: str | None = None
        self.remote_traceback: str | None = None
        self.method: str | None = details.pop("method", None)
        for key, value in details.items():
            if key in _RESERVED or key.startswith("_"):
                raise ValueError(f"{type(self).__name__}: detail name {key!r} is reserved")
            self.details[key] = value
            setattr(self, key, value)

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""


# --- errors a server reports ---------------------------------------------------------------


class ServerError(ProjectAPIError):
    """The server reported an error the client has no more specific class for.

    ``remote_type`` names the server-side exception class (e.g. ``"ValueError"``).
    """

    code = -32000

    def __str__(self) -> str:
        if self.remote_type and self.remote_type != "ServerError":
            return f"{self.remote_type}: {self.message}"
        return self.message


class UnsupportedProtocolVersion(ProjectAPIError):
    """Client and server speak different protocol versions (details: client_version, server_versions)."""

    code = -32001


class OptionError(ProjectAPIError):
    """Base of the option errors (details: option, method, valid)."""

    code = -32002


class UnsupportedOption(OptionError):
    """An option the method does not declare; ``valid`` lists the ones it does."""

    code = -32002


class InvalidOption(OptionError):
    """A declared option with a value of the wrong type, or outside its choices."""

    code = -32003


class MissingOption(InvalidOption):
    """A required option was not given."""

    code = -32003


class BoardNotFound(ProjectAPIError):
    """The platform has no such board (details: board, available)."""

    code = -32004


class NotSupported(ProjectAPIError):
    """The platform does not implement this method (e.g. a host platform has no ``flash``)."""

    code = -32005


class ProjectError(ProjectAPIError):
    """``generate_project`` could not make the project (bad model archive, bad directory...)."""

    code = -32006


class DoesNotFit(ProjectError):
    """The model does not fit the board's memory (details: region, needed, available)."""

    code = -32007


class BuildFailed(ProjectAPIError):
    """The platform's build tool failed (details: command, returncode, log_tail)."""

    code = -32008


class FlashFailed(ProjectAPIError):
    """Flashing failed (details: command, returncode, log_tail)."""

    code = -32009


class TransportError(ProjectAPIError):
    """The transport to the device failed."""

    code = -32010


class TransportClosed(TransportError):
    """No transport is open, or the device side closed it."""

    code = -32011


class TransportTimeout(TransportError):
    """A transport write could not complete within its timeout."""

    code = -32012


class MethodNotFound(ProjectAPIError):
    """JSON-RPC -32601: the server has no such method."""

    code = protocol.METHOD_NOT_FOUND


class InvalidParams(ProjectAPIError):
    """JSON-RPC -32602: the method's parameters are wrong (missing, unknown or ill-typed)."""

    code = protocol.INVALID_PARAMS


# --- errors raised by the client itself ----------------------------------------------------


class ProtocolError(ProjectAPIError):
    """The peer broke the protocol: unparsable request or response, bad JSON-RPC envelope."""

    code = protocol.INVALID_REQUEST


class ServerStartError(ProjectAPIError):
    """The server could not be started (relative or missing executable, bad argv)."""


class _WithStderr(ProjectAPIError):
    """One line (the CLI's convention) ending with the server's last stderr line; the last
    lines are in ``stderr_tail``."""

    def __str__(self) -> str:
        lines = [ln for ln in (getattr(self, "stderr_tail", "") or "").splitlines() if ln.strip()]
        if lines:
            return f"{self.message} (last stderr line: {lines[-1].strip()})"
        return self.message


class ServerCrashed(_WithStderr):
    """The server exited while the client waited for it (details: exit_code, stderr_tail)."""


class ServerTimeout(_WithStderr):
    """A call got no answer within its timeout; the server was killed (details: timeout, stderr_tail)."""


# --- plugin discovery ----------------------------------------------------------------------


class PluginError(ProjectAPIError):
    """A plugin could not be loaded, raised in its hook, or clashes with another one."""


class PlatformNotFound(ProjectAPIError):
    """No plugin provides the requested platform (details: platform, available)."""


# --- wire conversion -----------------------------------------------------------------------

#: Classes the client rebuilds by name (everything a server may meaningfully raise).
WIRE_ERRORS: dict[str, type[ProjectAPIError]] = {
    cls.__name__: cls
    for cls in (
        ProjectAPIError,
        ServerError,
        UnsupportedProtocolVersion,
        OptionError,
        UnsupportedOption,
        InvalidOption,
        MissingOption,
        BoardNotFound,
        NotSupported,
        ProjectError,
        DoesNotFit,
        BuildFailed,
        FlashFailed,
        TransportError,
        TransportClosed,
        TransportTimeout,
        MethodNotFound,
        InvalidParams,
        ProtocolError,
    )
}

_BY_CODE = {
    protocol.PARSE_ERROR: ProtocolError,
    protocol.INVALID_REQUEST: ProtocolError,
    protocol.METHOD_NOT_FOUND: MethodNotFound,
    protocol.INVALID_PARAMS: InvalidParams,
}


def to_wire(exc: BaseException) -> tuple[int, str, dict[str, Any]]:
    """``(code, message, data)`` of the JSON-RPC error object describing ``exc``.

    ``data`` is ``{"type", "mro", "message", "traceback", "details"}`` (docs/project-api.md).
    Must be called while ``exc`` is being handled, or with an exception that has a traceback.
    """
    cls = type(exc)
    message = str(exc)
    details = dict(getattr(exc, "details", None) or {}) if isinstance(exc, ProjectAPIError) else {}
    try:
        details = protocol.to_jsonable(details, "details")
    except TypeError as bad:
        details = {"unserializable_details": str(bad)}
    code = exc.code if isinstance(exc, ProjectAPIError) else ServerError.code
    mro = [klass.__name__ for klass in cls.__mro__ if klass not in (object, BaseException)]
    data = {
        "type": cls.__name__,
        "mro": mro,
        "message": message,
        "traceback": "".join(_traceback.format_exception(cls, exc, exc.__traceback__)),
        "details": details,
    }
    return code, f"{cls.__name__}: {message}", data


def from_wire(error: dict[str, Any], method: str | None = None) -> ProjectAPIError:
    """The exception to raise for a JSON-RPC error object received from a server."""
    if not isinstance(error, dict):
        return ProtocolError(f"malformed JSON-RPC error object: {error!r}", method=method)
    code = error.get("code")
    data = error.get("data") if isinstance(error.get("data"), dict) else {}
    remote_type = data.get("type") if isinstance(data.get("type"), str) else None
    message = data.get("message") if isinstance(data.get("message"), str) else str(error.get("message", ""))

    cls: type[ProjectAPIError] | None = None
    for name in data.get("mro") or ([remote_type] if remote_type else []):
        if isinstance(name, str) and name in WIRE_ERRORS:
            cls = WIRE_ERRORS[name]
            break
    if cls is None or cls is ProjectAPIError:
        cls = _BY_CODE.get(code, ServerError) if isinstance(code, int) else ServerError

    details = data.get("details") if isinstance(data.get("details"), dict) else {}
    clean = {k: v for k, v in details.items() if isinstance(k, str) and k not in _RESERVED and not k.startswith("_")}
    exc = cls(message, **clean)
    exc.remote_type = remote_type or cls.__name__
    exc.remote_traceback = data.get("traceback") if isinstance(data.get("traceback"), str) else None
    exc.code = code if isinstance(code, int) else cls.code
    exc.method = method
    return exc
