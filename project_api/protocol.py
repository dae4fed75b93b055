"""Constants and wire helpers of the Project API protocol (docs/project-api.md is the spec).

The protocol is JSON-RPC 2.0 over a project server's stdin (requests) and stdout (responses),
one message per line, UTF-8. jsonrpclib-pelix marshals the messages on both sides; this module
holds what both sides must agree on: the version, the method table, the error codes, the
JSON-RPC configuration and the base64 helpers for transport data.
"""

from __future__ import annotations

import base64
import binascii
import os
import pathlib
from typing import Any

import jsonrpclib.config

#: The protocol version this package speaks (client and server).
PROTOCOL_VERSION = 1

#: Protocol versions a :class:`~utvm.project_api.server.ProjectServer` can answer.
SUPPORTED_PROTOCOL_VERSIONS = (PROTOCOL_VERSION,)

#: Every method of protocol version 1, in the order of a typical session.
METHODS = (
    "server_info_query",
    "boards",
    "target_info",
    "generate_project",
    "build",
    "flash",
    "open_transport",
    "close_transport",
    "read_transport",
    "write_transport",
)

#: The methods that take an ``options`` object, hence the ones an option can be declared for.
OPTION_METHODS = ("boards", "target_info", "generate_project", "build", "flash", "open_transport")

#: Default call timeouts in seconds; anything not listed uses :data:`DEFAULT_TIMEOUT`.
DEFAULT_TIMEOUT = 30.0
DEFAULT_TIMEOUTS = {"build": 600.0, "flash": 600.0}

# JSON-RPC 2.0 predefined error codes.
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603

#: jsonrpclib configuration used on both sides: JSON-RPC 2.0, and no "__jsonclass__" magic
#: (a peer must never be able to make the other side instantiate classes).
JSON_CONFIG = jsonrpclib.config.Config(version=2.0, use_jsonclass=False)


def b64encode(data: bytes) -> str:
    """Transport bytes as the protocol's base64 text."""
    return base64.b64encode(bytes(data)).decode("ascii")


def b64decode(text: str) -> bytes:
    """The bytes of a base64 field; ValueError (naming the problem) if it is not base64."""
    if not isinstance(text, str):
        raise ValueError(f"expected base64 text, got {type(text).__name__}")
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise ValueError(f"invalid base64 data: {exc}") from None


def to_jsonable(value: Any, where: str = "result") -> Any:
    """A copy of ``value`` made of JSON types: paths become strings, tuples lists.

    Raises TypeError naming the offending key path for anything else (bytes, objects...).
    """
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (pathlib.PurePath, os.PathLike)):
        return os.fspath(value)
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"{where}: key {key!r} is not a string")
            out[key] = to_jsonable(item, f"{where}.{key}")
        return out
    if isinstance(value, (list, tuple)):
        return [to_jsonable(item, f"{where}[{i}]") for i, item in enumerate(value)]
    raise TypeError(f"{where}: {type(value).__name__} is not JSON-serializable")
