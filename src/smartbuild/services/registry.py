"""Transport families, transports and device templates collected from plugins, with provenance.

One registry per session: shipped, plugin and site-local templates in one place. Nothing is cached
for the process; a long-running hub builds a new registry to pick up changed files.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from smartbuild.config.schema import Template
    from smartbuild.services.plugins import SmartbuildPluginManager
    from smartbuild.transports.base import Transport, TransportFamily


@dataclass(frozen=True)
class Entry:
    """A registered thing and the plugin that provided it."""

    name: str
    value: Any
    plugin: str
    version: str
    source: str | None = None  # a file path for templates


@dataclass
class Registry:
    """What the loaded plugins provide; duplicates are rejected with a warning."""

    transports: dict[str, Entry] = field(default_factory=dict)
    template_sources: list[Entry] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    _templates: dict[str, Entry] | None = None
    # site-local templates of a site that came from the cache: added when templates are loaded
    deferred: list[tuple[list[Path], str, str]] = field(default_factory=list)

    def _add(self, table: dict[str, Entry], kind: str, entry: Entry) -> None:
        if entry.name in table:
            first = table[entry.name]
            self.warnings.append(
                f"{kind} {entry.name!r} from plugin {entry.plugin!r} ignored: "
                f"already provided by {first.plugin!r}"
            )
            return
        table[entry.name] = entry

    def transport_entry(self, name: str) -> Entry:
        """Return a registered transport (class and provenance) by name or raise a helpful error."""
        from smartbuild.errors import UsageError
        from smartbuild.suggest import did_you_mean

        entry = self.transports.get(name)
        if entry is None:
            raise UsageError(
                f"no transport {name!r} is loaded.{did_you_mean(name, self.transports)}",
                hint="`smartbuild plugins` shows what is loaded",
            )
        return entry

    def transport_class(self, name: str) -> type[Transport]:
        """Return a registered transport class by name or raise a helpful error."""
        cls: type[Transport] = self.transport_entry(name).value
        return cls

    @property
    def families(self) -> dict[str, type[TransportFamily]]:
        """Return the transport families by template `transport:` name."""
        out: dict[str, type[TransportFamily]] = {}
        for entry in self.transports.values():
            family = entry.value.family
            out.setdefault(family.name, family)
        return out

    def family_of(self, transport: str) -> type[TransportFamily] | None:
        """Return the family a transport serves (None for an unknown transport)."""
        entry = self.transports.get(transport)
        return None if entry is None else entry.value.family

    def schemas(self) -> dict[str, type[Template]]:
        """Return the template schema of every family (the union templates validate against)."""
        return {name: family.template_schema for name, family in self.families.items()}

    @property
    def templates(self) -> dict[str, Entry]:
        """Return templates by name, loading registered files on first use."""
        if self._templates is None:
            from smartbuild.config.templates import load_template
            from smartbuild.errors import ConfigError

            self._templates = {}
            schemas = self.schemas()
            for src in self.template_sources:
                for path in _template_files(src.value):
                    try:
                        template = load_template(path, schemas)
                    except ConfigError as error:
                        self.warnings.extend(f"template skipped: {line}" for line in error.lines())
                        continue
                    self._add(
                        self._templates,
                        "template",
                        Entry(template.template, template, src.plugin, src.version, str(path)),
                    )
            for paths, plugin, version in self.deferred:
                self.add_templates(paths, plugin, version)
        return self._templates

    @property
    def templates_loaded(self) -> bool:
        """Return True once the template files have been loaded."""
        return self._templates is not None

    def template_values(self) -> dict[str, Template]:
        """Return every template by name."""
        return {name: entry.value for name, entry in self.templates.items()}

    def add_templates(self, paths: list[Path], plugin: str, version: str) -> list[str]:
        """Add site-local templates that override registered ones; return notices."""
        from smartbuild.config.templates import load_template

        notices = []
        schemas = self.schemas()
        for src in paths:
            for path in _template_files(src):
                template = load_template(path, schemas)
                if template.template in self.templates:
                    notices.append(
                        f"site template {path} overrides {template.template!r} "
                        f"from {self.templates[template.template].plugin!r}"
                    )
                self.templates[template.template] = Entry(
                    template.template, template, plugin, version, str(path)
                )
        return notices

    def template(self, name: str) -> Template:
        """Return a template by name or raise a helpful error."""
        from smartbuild.errors import UsageError
        from smartbuild.suggest import did_you_mean

        if name not in self.templates:
            raise UsageError(
                f"unknown template {name!r}.{did_you_mean(name, self.templates)}",
                hint="`smartbuild templates list` shows the available templates",
            )
        template: Template = self.templates[name].value
        return template


def _template_files(source: Any) -> Iterator[Path]:
    from smartbuild.config import yamlload

    path = Path(source)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml"))
        if yamlload.RECORD is not None:  # a new or removed template invalidates cached config
            yamlload._record("dirs", str(path.resolve()), "\n".join(p.name for p in files))
        yield from files
    else:
        yield path


def build_registry(pm: SmartbuildPluginManager) -> Registry:
    """Call every registry hook plugin by plugin, recording which plugin gave what."""
    registry = Registry()

    def each(hook_name: str) -> Iterator[tuple[Any, str, str]]:
        hook = getattr(pm.hook, hook_name)
        for impl in hook.get_hookimpls():  # registration order: builtins first
            yield impl.function, impl.plugin_name, pm.version_of(impl.plugin_name)

    for function, plugin, version in each("register_transports"):
        function(register=_bind(registry, plugin, version))
    for function, plugin, version in each("register_device_templates"):

        def add_source(source: Any, plugin: str = plugin, version: str = version) -> None:
            registry.template_sources.append(Entry(str(source), source, plugin, version))

        function(register=add_source)
    return registry


def _bind(registry: Registry, plugin: str, version: str) -> Callable[[str, Any], None]:
    def register(name: str, value: Any) -> None:
        from smartbuild.transports.base import Transport, TransportFamily

        family = getattr(value, "family", None)
        if not (
            isinstance(value, type)
            and issubclass(value, Transport)
            and isinstance(family, type)
            and issubclass(family, TransportFamily)
            and family.name
        ):
            registry.warnings.append(
                f"transport {name!r} from plugin {plugin!r} ignored: it must be a Transport "
                "subclass whose `family` is a TransportFamily with a name (docs/plugins.md)"
            )
            return
        registry._add(registry.transports, "transport", Entry(name, value, plugin, version))

    return register


def builtin_registry() -> Registry:
    """Return a registry of the installed plugins (for tools, the simulator and benchmarks)."""
    from smartbuild.services.plugins import get_plugin_manager

    return build_registry(get_plugin_manager())


def load_template_file(path: str | Path, registry: Registry | None = None) -> Template:
    """Load one template file against the registered families' schemas."""
    from smartbuild.config.templates import load_template

    return load_template(path, (registry or builtin_registry()).schemas())
