"""Finding platforms: the installed plugins of entry-point group ``utvm``.

::

    from utvm.project_api import get_platform, load_platforms

    for name, platform in load_platforms().items():
        print(name, platform.description)
    with get_platform("zephyr").connect() as client:
        ...

First-party and third-party plugins are found the same way: each distribution declares an
entry point in group ``utvm`` naming a module with a ``utvm_platform`` hook implementation
(see :mod:`utvm.project_api.hookspecs`). Loading goes through pluggy's
``load_setuptools_entrypoints``, one entry point at a time, so that a plugin that fails to
import, fails pluggy's validation, or raises in its hook is reported by name.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import re
from dataclasses import dataclass, field
from typing import Any, Iterable

import pluggy

from . import hookspecs
from .errors import PlatformNotFound, PluginError
from .hookspecs import ENTRY_POINT_GROUP, PROJECT_NAME, PlatformDescriptor


@dataclass
class Registry:
    """The outcome of loading the plugins: the platforms, and what went wrong.

    ``platforms`` maps each platform name to its descriptor; a name two plugins claim is left
    out (ambiguous) and reported in ``errors``, as is every plugin that failed to load or
    raised in its hook.
    """

    platforms: dict[str, PlatformDescriptor] = field(default_factory=dict)
    errors: list[PluginError] = field(default_factory=list)
    plugin_manager: pluggy.PluginManager | None = None

    def raise_errors(self) -> None:
        """Raise one :class:`PluginError` describing every error, if there are any."""
        if not self.errors:
            return
        if len(self.errors) == 1:
            raise self.errors[0]
        text = "; ".join(str(e) for e in self.errors)
        raise PluginError(f"{len(self.errors)} plugin errors: {text}", errors=[str(e) for e in self.errors])


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _entry_points_by_name() -> dict[str, list[tuple[str, importlib.metadata.EntryPoint]]]:
    """Entry points of the group, by name, with the (deduplicated) distribution declaring each."""
    seen: set[str] = set()
    found: dict[str, list[tuple[str, importlib.metadata.EntryPoint]]] = {}
    for dist in importlib.metadata.distributions():
        dist_name = dist.metadata["Name"] or "?"
        key = _normalize(dist_name)
        if key in seen:  # the same distribution on two sys.path entries: the first one wins
            continue
        seen.add(key)
        for ep in dist.entry_points:
            if ep.group == ENTRY_POINT_GROUP:
                found.setdefault(ep.name, []).append((dist_name, ep))
    return found


def new_plugin_manager() -> pluggy.PluginManager:
    """A plugin manager of project "utvm" with the hook specifications added."""
    pm = pluggy.PluginManager(PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    return pm


def load_registry(*, entry_points: bool = True, extra_plugins: Iterable[Any] = ()) -> Registry:
    """Load the plugins and collect their platforms, never raising for a plugin's fault.

    ``entry_points=False`` skips the installed plugins; ``extra_plugins`` registers more plugin
    objects (modules or instances with hook implementations) directly, e.g. in tests.
    """
    registry = Registry(plugin_manager=new_plugin_manager())
    pm = registry.plugin_manager
    where: dict[str, str] = {}  # plugin name -> "plugin 'x' (distribution y)"

    if entry_points:
        for ep_name, declared in sorted(_entry_points_by_name().items()):
            dists = [d for d, _ in declared]
            if len(declared) > 1:
                registry.errors.append(
                    PluginError(
                        f"entry point {ep_name!r} of group {ENTRY_POINT_GROUP!r} is declared by several "
                        f"distributions ({', '.join(dists)}); none of them is loaded",
                        plugin=ep_name,
                        distributions=dists,
                    )
                )
                pm.set_blocked(ep_name)
                continue
            dist_name, ep = declared[0]
            where[ep_name] = f"plugin {ep_name!r} (entry point {ep.value!r} of distribution {dist_name})"
            try:
                pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP, name=ep_name)
                pm.check_pending()  # a misspelt hook name is an error, not a silent no-op
            except Exception as exc:  # noqa: BLE001 - any import or validation failure
                if pm.has_plugin(ep_name):
                    pm.unregister(name=ep_name)
                registry.errors.append(
                    PluginError(
                        f"{where[ep_name]} failed to load: {type(exc).__name__}: {exc}",
                        plugin=ep_name,
                        distribution=dist_name,
                    )
                )

    for obj in extra_plugins:
        name = getattr(obj, "__name__", None) or repr(obj)
        try:
            pm.register(obj, name=name)
            pm.check_pending()
        except Exception as exc:  # noqa: BLE001
            if pm.has_plugin(name):
                pm.unregister(name=name)
            registry.errors.append(PluginError(f"plugin {name!r} failed to register: {type(exc).__name__}: {exc}", plugin=name))
            continue
        where[name] = f"plugin {name!r}"

    dist_of = {id(plugin): dist.project_name for plugin, dist in pm.list_plugin_distinfo()}
    claims: dict[str, list[PlatformDescriptor]] = {}
    # Call each implementation on its own, so that an exception names its plugin.
    for impl in pm.hook.utvm_platform.get_hookimpls():
        label = where.get(impl.plugin_name, f"plugin {impl.plugin_name!r}")
        try:
            result = impl.function()
        except Exception as exc:  # noqa: BLE001
            registry.errors.append(
                PluginError(f"{label} raised in utvm_platform: {type(exc).__name__}: {exc}", plugin=impl.plugin_name)
            )
            continue
        if result is None:
            continue
        items = [result] if isinstance(result, PlatformDescriptor) else result
        if not isinstance(items, (list, tuple)) or not all(isinstance(d, PlatformDescriptor) for d in items):
            registry.errors.append(
                PluginError(
                    f"{label}: utvm_platform must return a PlatformDescriptor, a list of them or None, "
                    f"not {type(result).__name__}",
                    plugin=impl.plugin_name,
                )
            )
            continue
        for descriptor in items:
            descriptor = dataclasses.replace(
                descriptor, plugin=impl.plugin_name, distribution=dist_of.get(id(impl.plugin))
            )
            claims.setdefault(descriptor.name, []).append(descriptor)

    for name, descriptors in sorted(claims.items()):
        if len(descriptors) > 1:
            who = ", ".join(where.get(d.plugin or "", repr(d.plugin)) for d in descriptors)
            registry.errors.append(
                PluginError(
                    f"platform {name!r} is provided by several plugins: {who}; uninstall all but one",
                    platform=name,
                    plugins=[d.plugin for d in descriptors],
                )
            )
            continue
        registry.platforms[name] = descriptors[0]
    return registry


def load_platforms(*, entry_points: bool = True, extra_plugins: Iterable[Any] = ()) -> dict[str, PlatformDescriptor]:
    """Every installed platform: name -> :class:`PlatformDescriptor`, sorted by name.

    Raises :class:`PluginError` naming the plugin if any plugin fails to load, raises in its
    hook or returns something else than descriptors, or if two plugins provide the same
    platform name (or declare the same entry-point name). Use :func:`load_registry` to get
    the working platforms despite broken ones.
    """
    registry = load_registry(entry_points=entry_points, extra_plugins=extra_plugins)
    registry.raise_errors()
    return dict(sorted(registry.platforms.items()))


def get_platform(name: str, *, entry_points: bool = True, extra_plugins: Iterable[Any] = ()) -> PlatformDescriptor:
    """The descriptor of platform ``name``.

    Works even when some other plugin is broken. Raises :class:`PlatformNotFound` listing the
    available platforms (and the plugins that failed, which might have provided it), or
    :class:`PluginError` when the name is claimed by several plugins.
    """
    registry = load_registry(entry_points=entry_points, extra_plugins=extra_plugins)
    if name in registry.platforms:
        return registry.platforms[name]
    for error in registry.errors:
        if getattr(error, "platform", None) == name:
            raise error
    available = sorted(registry.platforms)
    message = f"no platform named {name!r}; available: {', '.join(available) if available else 'none installed'}"
    if registry.errors:
        message += "; plugins that failed to load: " + "; ".join(str(e) for e in registry.errors)
    raise PlatformNotFound(message, platform=name, available=available)
