"""`smartbuild report RUN`: render a commission run's report again from the journal."""

from __future__ import annotations

from pathlib import Path

import click

from smartbuild.cli import get_app


@click.command()
@click.argument("run_ref", metavar="RUN_ID", required=False)
@click.option("--last", is_flag=True, help="The newest commission run.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the HTML report to this file (default: stdout).")  # fmt: skip
@click.option("--pdf", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also print it to PDF (needs smartbuild[pdf]).")  # fmt: skip
def report(run_ref: str | None, last: bool, out: Path | None, pdf: Path | None) -> None:
    """Render the report of a commission run again from the journal (HTML, or JSON with --json)."""
    from smartbuild.commands.commission import write_outputs
    from smartbuild.errors import UsageError

    app = get_app()
    if last == bool(run_ref):
        raise UsageError("name a RUN_ID or pass --last", hint="`smartbuild log` lists runs")
    if last:
        run_ref = app.session.journal.last_run(command_like="commission")
        if run_ref is None:
            raise UsageError("no commission run in the journal", hint="run `smartbuild commission`")
    assert run_ref is not None
    doc = app.session.commission_report(run_ref)
    write_outputs(app, doc, out, pdf)
    if app.output.json_mode:
        app.output.emit_json(doc)
    elif out is None:
        from smartbuild.report import render_html

        click.echo(render_html(doc), nl=False)
