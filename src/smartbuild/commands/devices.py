"""`smartbuild devices`: the site inventory."""

from __future__ import annotations

from typing import Any

import click

from smartbuild.cli import get_app


@click.command()
@click.option("--zone", "zones", multiple=True, help="Only devices in this zone (repeatable).")
def devices(zones: tuple[str, ...]) -> None:
    """List the devices of the site with their zone, template and address."""
    app = get_app()
    chosen = app.session.select(zones=zones)
    site = app.site().site
    rows: list[dict[str, Any]] = [
        {
            "device": d.id,
            "zone": d.spec.zone,
            "building": site.zones[d.spec.zone].building if d.spec.zone else None,
            "floor": site.zones[d.spec.zone].floor if d.spec.zone else None,
            "template": d.template.template,
            "title": d.spec.title or d.template.title,
            "transport": d.transport,
            "address": d.spec.address,
            "unit": d.spec.unit,
            "points": len(d.template.points),
            "writable": sum(p.writable for p in d.template.points.values()),
        }
        for d in chosen
    ]
    if app.output.json_mode:
        app.output.emit_json({"site": site.site, "devices": rows})
        return
    from rich.table import Table

    table = Table(title=f"{site.site}: {len(rows)} devices", title_justify="left")
    for column in ("device", "zone", "template", "transport", "address", "unit", "points"):
        # wrap rather than cut: at 80 columns every identifier stays readable in full
        table.add_column(column, overflow="fold")
    for r in rows:
        table.add_row(
            r["device"], r["zone"] or "", r["template"], r["transport"], str(r["address"]),
            "" if r["unit"] is None else str(r["unit"]), f"{r['points']} ({r['writable']} rw)",
        )  # fmt: skip
    app.output.print(table)
