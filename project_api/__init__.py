"""The Project API: how utvm drives per-platform project servers (docs/project-api.md).

- A *platform plugin* is a Python distribution with an entry point in group ``utvm`` whose
  ``utvm_platform`` hook returns a :class:`PlatformDescriptor` (name, description, server argv).
- Its *project server* subclasses :class:`ProjectServer` and runs as a child process speaking
  JSON-RPC 2.0 over stdin/stdout (protocol version :data:`PROTOCOL_VERSION`).
- utvm finds platforms with :func:`load_platforms` / :func:`get_platform` and talks to a server
  through a :class:`ProjectClient` (:func:`connect`).
- Options are typed and declared per method with :class:`ProjectOption`;
  :func:`parse_cli_options` converts ``key=value`` strings.

docs/writing-a-plugin.md walks through writing a plugin.
"""

from .client import ProjectClient, ServerInfo, connect
from .errors import (
    BoardNotFound,
    BuildFailed,
    DoesNotFit,
    FlashFailed,
    InvalidOption,
    InvalidParams,
    MethodNotFound,
    MissingOption,
    NotSupported,
    OptionError,
    PlatformNotFound,
    PluginError,
    ProjectAPIError,
    ProjectError,
    ProtocolError,
    ServerCrashed,
    ServerError,
    ServerStartError,
    ServerTimeout,
    TransportClosed,
    TransportError,
    TransportTimeout,
    UnsupportedOption,
    UnsupportedProtocolVersion,
)
from .hookspecs import ENTRY_POINT_GROUP, PlatformDescriptor, hookimpl, hookspec
from .options import OPTION_TYPES, ProjectOption, options_for_method, parse_cli_options, validate_options
from .protocol import DEFAULT_TIMEOUT, DEFAULT_TIMEOUTS, METHODS, OPTION_METHODS, PROTOCOL_VERSION
from .registry import Registry, get_platform, load_platforms, load_registry
from .server import ProjectServer, serve

__all__ = [
    "BoardNotFound",
    "BuildFailed",
    "DEFAULT_TIMEOUT",
    "DEFAULT_TIMEOUTS",
    "DoesNotFit",
    "ENTRY_POINT_GROUP",
    "FlashFailed",
    "InvalidOption",
    "InvalidParams",
    "METHODS",
    "MethodNotFound",
    "MissingOption",
    "NotSupported",
    "OPTION_METHODS",
    "OPTION_TYPES",
    "OptionError",
    "PROTOCOL_VERSION",
    "PlatformDescriptor",
    "PlatformNotFound",
    "PluginError",
    "ProjectAPIError",
    "ProjectClient",
    "ProjectError",
    "ProjectOption",
    "ProjectServer",
    "ProtocolError",
    "Registry",
    "ServerCrashed",
    "ServerError",
    "ServerInfo",
    "ServerStartError",
    "ServerTimeout",
    "TransportClosed",
    "TransportError",
    "TransportTimeout",
    "UnsupportedOption",
    "UnsupportedProtocolVersion",
    "connect",
    "get_platform",
    "hookimpl",
    "hookspec",
    "load_platforms",
    "load_registry",
    "options_for_method",
    "parse_cli_options",
    "serve",
    "validate_options",
]
