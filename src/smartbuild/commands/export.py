"""`smartbuild export`: the site's points as a CSV schedule, a Brick model or a Haystack grid."""

from __future__ import annotations

import os
from pathlib import Path

import click

from smartbuild.cli import get_app

FORMATS = ("csv", "brick", "haystack")
SUFFIX = {"csv": ".csv", "brick": ".ttl", "haystack": ".json"}


@click.command()
@click.argument("fmt", metavar="csv|brick|haystack", type=click.Choice(FORMATS))
@click.option("--out", "out", type=click.Path(dir_okay=False), metavar="FILE",
              help="Write to FILE (replaced atomically) instead of stdout.")  # fmt: skip
def export(fmt: str, out: str | None) -> None:
    """Export the site's points as a CSV schedule, Brick TTL or Project Haystack JSON."""
    from smartbuild.console import dumps
    from smartbuild.errors import UsageError
    from smartbuild.exports.schedule import points_schedule

    app = get_app()
    site = app.site().site
    rows = points_schedule(site, app.registry.template_values(), app.registry.families)
    if app.output.json_mode and out is None and fmt != "haystack":
        raise UsageError(f"--json prints a summary: pass --out FILE for the {fmt} export",
                         hint=f"e.g. smartbuild --json export {fmt} --out site{SUFFIX[fmt]}")  # fmt: skip
    if fmt == "csv":
        from smartbuild.exports.tabular import to_csv

        text = to_csv(rows)
    elif fmt == "brick":
        from smartbuild.exports.brick import to_brick

        text = to_brick(site, rows)
    else:
        from smartbuild.exports.haystack import to_haystack

        text = dumps(to_haystack(site, rows)) + "\n"
    if out is None:
        click.echo(text, nl=False)
        return
    _write(Path(out), text)
    devices = len({r.device for r in rows})
    if app.output.json_mode:
        app.output.emit_json({"format": fmt, "file": out, "devices": devices,
                              "points": len(rows), "bytes": len(text.encode())})  # fmt: skip
    else:
        app.output.info(f"wrote {out}: {len(rows)} points of {devices} devices ({fmt})")


def _write(path: Path, text: str) -> None:
    """Write text to path through a temporary file in the same directory, then rename."""
    from smartbuild.errors import UsageError

    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(text, encoding="utf-8", newline="")
        os.replace(tmp, path)
    except OSError as error:
        tmp.unlink(missing_ok=True)
        raise UsageError(f"cannot write {path}: {error.strerror or error}") from None
