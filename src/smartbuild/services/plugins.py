"""Plugin manager: builtins first, then installed entry points, with an allowlist and warnings."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pluggy

from smartbuild import __version__, hookspecs

ENTRY_POINT_GROUP = "smartbuild"
ALLOWLIST_ENV = "SMARTBUILD_LOAD_PLUGINS"

# Builtins are plugins too: they register through the same hooks a third-party package uses.
BUILTINS: tuple[str, ...] = (
    "smartbuild.templates",
    "smartbuild.transports.modbus",
    "smartbuild.transports.ble",
    "smartbuild.transports.mdns",
    "smartbuild.transports.bacnet",
    "smartbuild.services.identify",
)
# Plugins by module name, for development and tests (no package to install): a,b.c
MODULES_ENV = "SMARTBUILD_PLUGIN_MODULES"


@dataclass(frozen=True)
class PluginInfo:
    """Where a loaded plugin came from."""

    name: str
    version: str
    builtin: bool
    distribution: str | None = None
    hooks: tuple[str, ...] = ()


class SmartbuildPluginManager(pluggy.PluginManager):
    """A pluggy manager that remembers each plugin's origin and version."""

    def __init__(self) -> None:
        super().__init__("smartbuild")
        self.info: dict[str, PluginInfo] = {}
        self.failures: list[str] = []

    def plugin_info(self) -> list[PluginInfo]:
        """Return every loaded plugin with the hooks it implements."""
        result = []
        for name, info in self.info.items():
            plugin = self.get_plugin(name)
            hooks = tuple(
                sorted(
                    caller.name
                    for caller in self.get_hookcallers(plugin) or []
                    if not caller.name.startswith("_")
                )
            )
            result.append(
                PluginInfo(info.name, info.version, info.builtin, info.distribution, hooks)
            )
        return result

    def version_of(self, name: str) -> str:
        """Return the version of a plugin by name (for provenance)."""
        info = self.info.get(name)
        return info.version if info else "unknown"


def allowlist() -> set[str] | None:
    """Return the plugin allowlist from the environment (None = load every installed plugin)."""
    raw = os.environ.get(ALLOWLIST_ENV)
    if raw is None:
        return None
    return {part.strip() for part in raw.split(",") if part.strip()}


def get_plugin_manager(warn: Callable[[str], None] | None = None) -> SmartbuildPluginManager:
    """Return a new plugin manager with the builtins, the allowed entry points and module plugins.

    Nothing is cached for the process: a session (or a hub reloading) builds its own.
    """
    pm = SmartbuildPluginManager()
    pm.add_hookspecs(hookspecs)
    for module_name in BUILTINS:
        module = importlib.import_module(module_name)
        pm.register(module, name=module_name)
        pm.info[module_name] = PluginInfo(module_name, __version__, builtin=True)
    pm.check_pending()  # a misspelled builtin hook is a bug: fail loudly
    _load_entry_points(pm, warn or _stderr_warning)
    _load_modules(pm, warn or _stderr_warning)
    if os.environ.get("SMARTBUILD_TRACE_HOOKS"):
        pm.trace.root.setwriter(sys.stderr.write)
        pm.enable_tracing()
    return pm


def _load_modules(pm: SmartbuildPluginManager, warn: Callable[[str], None]) -> None:
    for name in (m.strip() for m in os.environ.get(MODULES_ENV, "").split(",")):
        if not name or pm.has_plugin(name):
            continue
        try:
            pm.register(importlib.import_module(name), name=name)
            pm.check_pending()
        except Exception as error:  # a broken plugin must not take smartbuild down
            if pm.has_plugin(name):
                pm.unregister(name=name)
            message = f"plugin module {name!r} failed to load: {type(error).__name__}: {error}"
            pm.failures.append(message)
            warn(f"{message}; remove it from {MODULES_ENV}")
            continue
        pm.info[name] = PluginInfo(name, "unknown", builtin=False, distribution=None)


def _stderr_warning(message: str) -> None:
    sys.stderr.write(f"warning: {message}\n")


def _load_entry_points(pm: SmartbuildPluginManager, warn: Callable[[str], None]) -> None:
    from importlib.metadata import entry_points

    allowed = allowlist()
    if allowed is not None and not allowed:
        return
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        dist = ep.dist.name if ep.dist is not None else None
        if allowed is not None and ep.name not in allowed and dist not in allowed:
            continue
        if pm.has_plugin(ep.name):
            warn(f"plugin {ep.name!r} from {dist} skipped: a plugin of that name is already loaded")
            continue
        disable = (
            f"disable it with {ALLOWLIST_ENV}=<plugins to keep> (empty for builtins only) "
            f"or `pip uninstall {dist or ep.name}`"
        )
        try:
            plugin: Any = ep.load()
            pm.register(plugin, name=ep.name)
            pm.check_pending()
        except Exception as error:  # a broken plugin must not take smartbuild down
            if pm.has_plugin(ep.name):
                pm.unregister(name=ep.name)
            message = (
                f"plugin {ep.name!r} failed to load: {type(error).__name__}: {error}; {disable}"
            )
            pm.failures.append(message)
            warn(message)
            continue
        version = ep.dist.version if ep.dist is not None else "unknown"
        pm.info[ep.name] = PluginInfo(ep.name, version, builtin=False, distribution=dist)
