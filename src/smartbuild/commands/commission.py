"""`smartbuild commission`: point-to-point checkout of the site, kept in the journal, as a report."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from smartbuild.cli import get_app
from smartbuild.commands import FiniteFloat
from smartbuild.complete import complete_device, complete_zone
from smartbuild.errors import ExitStatus

if TYPE_CHECKING:
    from smartbuild.cli import App


def show_summary(app: App, doc: dict[str, Any]) -> None:
    """Print the counts by category and the deficiency list (people; JSON prints the document)."""
    from rich.table import Table

    from smartbuild.console import escape

    out = app.output
    table = Table(title=f"commission run {doc['run']}", title_justify="left")
    for column in ("category", "pass", "fail", "n/a"):
        table.add_column(column, justify="left" if column == "category" else "right")
    for name, counts in doc["categories"].items():
        table.add_row(name, str(counts["pass"]), str(counts["fail"]), str(counts["n/a"]))
    out.print(table)
    for index, check in enumerate(doc["deficiencies"], 1):
        out.print(f"{index:>3}. [red]fail[/red] {escape(check['category'])} "
                  f"{escape(check['subject'])}: {escape(check['reason'])}", highlight=False)  # fmt: skip
    s = doc["summary"]
    out.print(f"{s['pass']} pass, {s['fail']} fail, {s['n/a']} n/a", highlight=False)


def write_outputs(app: App, doc: dict[str, Any], out: Path | None, pdf: Path | None) -> None:
    """Write the HTML (and PDF) report files that were asked for."""
    from smartbuild.report import render_html, render_pdf, write_html

    if out is not None:
        size = write_html(doc, out)
        app.output.info(f"report written to {out} ({size / 1024:.0f} KiB)")
    if pdf is not None:
        render_pdf(render_html(doc), pdf)
        app.output.info(f"PDF written to {pdf}")


@click.command()
@click.option("--zone", "zones", multiple=True, shell_complete=complete_zone,
              help="Commission the devices of a zone (repeatable).")  # fmt: skip
@click.option("--device", "devices", multiple=True, shell_complete=complete_device,
              help="Commission one device (repeatable).")  # fmt: skip
@click.option("--write-test", is_flag=True,
              help="Write a safe test value to each writable point, verify it, restore it.")  # fmt: skip
@click.option("--trend", "trend", metavar="DURATION", default=None,
              help="Capture values for a while for the report's charts (90s, 10m).")  # fmt: skip
@click.option("--interval", type=FiniteFloat(min=0.05, max=3600), default=None,
              help="Seconds between trend samples (default: about 30 samples).")  # fmt: skip
@click.option("--rounds", type=click.IntRange(1, 50), default=3, show_default=True,
              help="Reads of each device for the latency figures.")  # fmt: skip
@click.option("--max-p95", type=FiniteFloat(min=1, max=60_000), default=None,
              help="Slowest p95 latency per request (ms) that passes "
              "(default: 80% of each device's timeout).")  # fmt: skip
@click.option("--concurrency", type=click.IntRange(1, 256), default=16, show_default=True,
              help="Devices read at once for the link figures.")  # fmt: skip
@click.option("--profile", "profiles", multiple=True,
              help="Plan this profile (default: every profile of the site's profile folders).")  # fmt: skip
@click.option("--at", "at", default=None, help="Plan profiles for this site-local moment.")
@click.option("--installer", default=None, help="Installer's name for the sign-off block.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the HTML report to this file.")  # fmt: skip
@click.option("--pdf", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also print it to PDF (needs smartbuild[pdf]).")  # fmt: skip
@click.option("--yes", "-y", is_flag=True, help="With --write-test: write without asking.")
def commission(
    zones: tuple[str, ...], devices: tuple[str, ...], write_test: bool, trend: str | None,
    interval: float | None, rounds: int, max_p95: float | None, concurrency: int,
    profiles: tuple[str, ...], at: str | None, installer: str | None, out: Path | None,
    pdf: Path | None, yes: bool,
) -> None:  # fmt: skip
    """Check the site point by point against its inventory and write a commissioning report."""
    from smartbuild.services.commission import CommissionOptions, Progress
    from smartbuild.services.commission.stored import with_journal
    from smartbuild.timeparse import parse_duration

    app = get_app()
    session = app.session
    options = CommissionOptions(
        devices=devices, zones=zones, write_test=write_test,
        trend_s=parse_duration(trend) if trend else 0.0, trend_interval_s=interval,
        rounds=rounds, max_p95_ms=max_p95, concurrency=concurrency, profiles=profiles, at=at,
        installer=installer,
    )  # fmt: skip
    chosen = session.select(devices, zones)  # unknown names: exit 2 before anything is read
    if write_test:
        writable = sum(p.writable for d in chosen for p in d.template.points.values())
        question = (f"write test values to up to {writable} writable points of "
                    f"{len(chosen)} devices, then restore them?")  # fmt: skip
        if not app.confirm(yes)(question):
            from smartbuild.errors import SafetyRefusal

            raise SafetyRefusal("nothing written: not confirmed")
    progress = Progress()
    try:
        with app.output.status("commissioning"):
            doc = app.run(lambda s: s.commission(options, progress))
    except KeyboardInterrupt:
        _interrupted(app, progress)
        raise
    doc = with_journal(session.journal, doc)
    write_outputs(app, doc, out, pdf)
    if app.output.json_mode:
        app.output.emit_json(doc)
    else:
        show_summary(app, doc)
        app.output.info(f"render it again with: smartbuild report {doc['run']} --out FILE")
    if doc["summary"]["fail"]:
        click.get_current_context().exit(int(ExitStatus.PARTIAL))


def _interrupted(app: App, progress: Any) -> None:
    """Say what an interrupted run restored; leave the rollback hint only where it is needed."""
    from smartbuild.services.rollback import restorable, rolled_back

    session = app.session
    if progress.run is None:
        return  # interrupted before the run began: nothing was read or written
    journal = session.journal
    undone = progress.run in rolled_back(journal) or not restorable(journal, progress.run)
    if not undone:
        session.last_run = progress.run  # the boundary names what it wrote and how to undo it
        app.output.warn(f"commission run {progress.run} interrupted during {progress.phase}: "
                        "its test values were NOT all restored")  # fmt: skip
        return
    session.last_run = None  # nothing to undo: the write test restored what it changed
    restored = len(progress.restored)
    detail = f"; {restored} test values restored (run {progress.restore_run})" if restored else ""
    app.output.warn(f"commission run {progress.run} interrupted during {progress.phase}{detail}")
