"""`smartbuild plugins`: which plugins are loaded and which hooks each implements."""

from __future__ import annotations

from typing import Any

import click

from smartbuild.cli import get_app


@click.command()
def plugins() -> None:
    """List loaded plugins and the hooks they implement."""
    app = get_app()
    infos = app.pm.plugin_info()
    rows: list[dict[str, Any]] = [
        {
            "name": i.name,
            "version": i.version,
            "builtin": i.builtin,
            "distribution": i.distribution,
            "hooks": list(i.hooks),
        }
        for i in infos
    ]
    if app.output.json_mode:
        app.output.emit_json({"plugins": rows, "failures": app.pm.failures})
        return
    from rich.table import Table

    table = Table(title="plugins", title_justify="left")
    for column in ("name", "version", "origin", "hooks"):
        table.add_column(column)
    for row in rows:
        origin = "builtin" if row["builtin"] else f"installed ({row['distribution']})"
        table.add_row(row["name"], row["version"], origin, ", ".join(row["hooks"]))
    app.output.print(table)
