"""The plugin contract: pluggy hook specifications of the project "utvm".

A plugin is a module (or any object) with hook implementations, named in its distribution's
metadata as an entry point of group ``utvm``::

    # pyproject.toml of the plugin
    [project.entry-points.utvm]
    myrtos = "utvm_myrtos.plugin"

    # utvm_myrtos/plugin.py
    import sys
    from utvm.project_api import PlatformDescriptor, hookimpl

    @hookimpl
    def utvm_platform():
        return PlatformDescriptor(
            name="myrtos",
            description="MyRTOS applications built with make",
            server_argv=[sys.executable, "-m", "utvm_myrtos.server"],
        )

The registry (:mod:`utvm.project_api.registry`) loads every entry point of the group with
pluggy and calls the hooks below.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any, Sequence

import pluggy

PROJECT_NAME = "utvm"
ENTRY_POINT_GROUP = "utvm"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

_PLATFORM_NAME_RE = re.compile(r"^[a-z][a-z0-9_-]*$")


@dataclass(frozen=True)
class PlatformDescriptor:
    """What a plugin tells utvm about one platform.

    - ``name``: the platform's name on the command line (``--platform NAME``): lower-case
      letters, digits, ``_`` and ``-``, starting with a letter; unique among installed plugins;
    - ``description``: one line for listings;
    - ``server_argv``: how to start its project server; ``server_argv[0]`` must be an absolute
      path (typically ``[sys.executable, "-m", "package.server"]``). The server runs with the
      caller's environment and working directory;
    - ``plugin`` and ``distribution``: filled in by the registry (the entry point's name and
      the distribution that declared it); a plugin leaves them unset.

    Construction raises ValueError for a malformed descriptor.
    """

    name: str
    description: str
    server_argv: Sequence[str]
    plugin: str | None = field(default=None, compare=False)
    distribution: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _PLATFORM_NAME_RE.match(self.name):
            raise ValueError(
                f"platform name {self.name!r} must be lower-case letters, digits, '_' or '-', starting with a letter"
            )
        if not isinstance(self.description, str):
            raise ValueError(f"platform {self.name!r}: description must be a string")
        if isinstance(self.server_argv, (str, bytes)):
            raise ValueError(f"platform {self.name!r}: server_argv must be a list, not a string")
        argv = tuple(os.fspath(a) for a in self.server_argv)
        if not argv or not all(isinstance(a, str) and a for a in argv):
            raise ValueError(f"platform {self.name!r}: server_argv must be a non-empty list of strings")
        if not os.path.isabs(argv[0]):
            raise ValueError(
                f"platform {self.name!r}: server_argv[0] {argv[0]!r} is not an absolute path "
                f"(use sys.executable for a Python server)"
            )
        object.__setattr__(self, "server_argv", argv)

    def connect(self, **kwargs: Any):
        """Start this platform's server and check its protocol version; a :class:`ProjectClient`.

        Takes the keyword arguments of :class:`~utvm.project_api.client.ProjectClient`.
        """
        from .client import connect

        return connect(list(self.server_argv), **kwargs)


@hookspec
def utvm_platform() -> "PlatformDescriptor | Sequence[PlatformDescriptor] | None":
    """Describe the platform(s) this plugin provides.

    Return one :class:`PlatformDescriptor`, a list of them (a plugin may provide several
    platforms), or None (provides nothing here, e.g. a required tool is missing; prefer
    providing the platform and letting its server report what is missing). Called once per
    registry load; must be fast and must not start processes or touch hardware. An exception
    raised here is reported as a :class:`~utvm.project_api.errors.PluginError` naming the plugin.
    """
