"""Transports, device templates and profile actions collected from plugins, with provenance."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from smartbuild.config.schema import Template
    from smartbuild.plugins import SmartbuildPluginManager


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
    actions: dict[str, Entry] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    _templates: dict[str, Entry] | None = None

    def _add(self, table: dict[str, Entry], kind: str, entry: Entry) -> None:
        if entry.name in table:
            first = table[entry.name]
            self.warnings.append(
                f"{kind} {entry.name!r} from plugin {entry.plugin!r} ignored: "
                f"already provided by {first.plugin!r}"
            )
            return
        table[entry.name] = entry

    @property
    def templates(self) -> dict[str, Entry]:
        """Return templates by name, loading registered files on first use."""
        if self._templates is None:
            from smartbuild.errors import ConfigError
            from smartbuild.templates import load_template

            self._templates = {}
            for src in self.template_sources:
                for path in _template_files(src.value):
                    try:
                        template = load_template(path)
                    except ConfigError as error:
                        self.warnings.extend(f"template skipped: {line}" for line in error.lines())
                        continue
                    self._add(
                        self._templates,
                        "template",
                        Entry(template.template, template, src.plugin, src.version, str(path)),
                    )
        return self._templates

    def add_templates(self, paths: list[Path], plugin: str, version: str) -> list[str]:
        """Add site-local templates that override registered ones; return notices."""
        from smartbuild.templates import load_template

        notices = []
        for src in paths:
            for path in _template_files(src):
                template = load_template(path)
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
    path = Path(source)
    if path.is_dir():
        yield from sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml"))
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
        function(register=_bind(registry._add, registry.transports, "transport", plugin, version))
    for function, plugin, version in each("register_device_templates"):

        def add_source(source: Any, plugin: str = plugin, version: str = version) -> None:
            registry.template_sources.append(Entry(str(source), source, plugin, version))

        function(register=add_source)
    for function, plugin, version in each("register_profile_actions"):
        function(register=_bind(registry._add, registry.actions, "profile action", plugin, version))
    return registry


def _bind(
    add: Callable[[dict[str, Entry], str, Entry], None],
    table: dict[str, Entry],
    kind: str,
    plugin: str,
    version: str,
) -> Callable[[str, Any], None]:
    def register(name: str, value: Any) -> None:
        add(table, kind, Entry(name, value, plugin, version))

    return register
