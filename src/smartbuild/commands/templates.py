"""`smartbuild templates`: the shipped, plugin-provided and site-local device templates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from smartbuild.cli import App, get_app
from smartbuild.commands import FiniteFloat
from smartbuild.complete import complete_template


def _registry(app: App) -> Any:
    """Return the registry, with site-local templates when a site file is present."""
    registry = app.session.full_registry()
    for warning in registry.warnings:
        app.output.warn(warning)
    return registry


@click.group()
def templates() -> None:
    """List, show and validate device templates."""


@templates.command("list")
def list_templates() -> None:
    """List every template with its transport and origin."""
    app = get_app()
    entries = sorted(_registry(app).templates.values(), key=lambda e: e.name)
    rows = [
        {
            "template": e.name,
            "title": e.value.title,
            "transport": e.value.transport,
            "points": len(e.value.points),
            "plugin": e.plugin,
            "file": e.source,
        }
        for e in entries
    ]
    if app.output.json_mode:
        app.output.emit_json({"templates": rows})
        return
    from rich.table import Table

    table = Table(title=f"{len(rows)} templates", title_justify="left")
    # names stay whole (people copy them into site files); the title wraps instead
    longest = max((len(row["template"]) for row in rows), default=8)
    table.add_column("template", no_wrap=True, min_width=longest)
    table.add_column("title", ratio=1)
    table.add_column("transport", no_wrap=True)
    table.add_column("points", justify="right", no_wrap=True)
    table.add_column("from", no_wrap=True, overflow="ellipsis", max_width=16)
    for row in rows:
        table.add_row(
            row["template"], row["title"], row["transport"], str(row["points"]),
            _origin(row["plugin"]),
        )  # fmt: skip
    app.output.print(table)


def _origin(plugin: str) -> str:
    """Return where a template comes from, short: shipped, site, or the plugin's name."""
    return "shipped" if plugin == "smartbuild.templates" else plugin


@templates.command("show")
@click.argument("name", shell_complete=complete_template)
def show_template(name: str) -> None:
    """Show one template's points, addresses, types and bounds."""
    app = get_app()
    registry = _registry(app)
    template = registry.template(name)
    entry = registry.templates[name]
    if app.output.json_mode:
        data = template.model_dump(mode="json", exclude_none=True)
        data["_file"] = entry.source
        data["_plugin"] = entry.plugin
        app.output.emit_json(data)
        return
    from rich.table import Table

    out = app.output
    out.print(f"[bold]{template.template}[/bold] — {template.title} ({template.transport})")
    out.print(f"file: {entry.source} · plugin: {entry.plugin}")
    if template.source:
        out.print(f"register map source: {template.source}")
    table = Table()
    table.add_column("point", no_wrap=True)  # the names people type next never wrap
    table.add_column("where", overflow="fold")
    for column in ("type", "scale", "unit", "role", "rw", "min", "max"):
        table.add_column(column, overflow="fold")
    family = type(template).family
    for pname, p in template.points.items():
        where, kind = family.describe_point(template, p) if family else ("", "")
        table.add_row(
            pname, where, kind, f"{p.scale:g}", p.unit or "", p.role or "",
            "rw" if p.writable else "r", _num(p.min), _num(p.max),
        )  # fmt: skip
    out.print(table)


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


@templates.command("validate")
@click.argument("files", nargs=-1, type=click.Path(path_type=Path))
def validate_templates(files: tuple[Path, ...]) -> None:
    """Validate template files (all registered templates when none are given)."""
    from smartbuild.commands.validate import validate_files
    from smartbuild.errors import ExitStatus

    app = get_app()
    paths = list(files) or [Path(e.source) for e in _registry(app).templates.values() if e.source]
    results, problems = validate_files(paths, app)
    if app.output.json_mode:
        app.output.emit_json({"ok": not problems, "files": results})
    else:
        app.output.print(
            f"{len(results) - sum(not r['ok'] for r in results)}/{len(results)} templates valid"
        )
        for problem in problems:
            app.output.error(str(problem))
    if problems:
        click.get_current_context().exit(int(ExitStatus.USAGE))


@templates.command("infer")
@click.argument("target", metavar="HOST[:PORT]")
@click.option("--unit", type=click.IntRange(0, 255), default=1, show_default=True, help="Unit id.")
@click.option("--range", "ranges", multiple=True, metavar="[TABLE:]A-B",
              help="Addresses to scan (repeatable; default 0-399 and holding:40000-40199).")  # fmt: skip
@click.option("--reads", type=click.IntRange(1, 20), default=3, show_default=True,
              help="Reads of the served registers (stability, counters).")  # fmt: skip
@click.option("--interval", type=FiniteFloat(min=0, max=60), default=1.0, show_default=True,
              help="Seconds between reads.")  # fmt: skip
@click.option("--max-requests", type=click.IntRange(10, 10_000), default=600, show_default=True,
              help="Request budget.")  # fmt: skip
@click.option("--timeout", type=FiniteFloat(min=0.01, max=60), default=1.0, show_default=True,
              help="Seconds to wait per request.")  # fmt: skip
@click.option("--name", help="Template name (default: inferred-HOST-PORT-uUNIT).")
@click.option("--output", "-o", type=click.Path(dir_okay=False),
              help="Write the YAML here instead of stdout.")  # fmt: skip
def infer_template(
    target: str, unit: int, ranges: tuple[str, ...], reads: int, interval: float,
    max_requests: int, timeout: float, name: str | None, output: str | None,
) -> None:  # fmt: skip
    """Scan a Modbus TCP unit and propose a template for it (YAML, a confidence per point)."""
    from smartbuild.commands.modbus_tools import infer_map

    infer_map(get_app(), target, unit, ranges, reads, interval, max_requests, timeout, output,
              name, table_view=False)  # fmt: skip
