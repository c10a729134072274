"""`smartbuild doctor`: check this machine and the site's files, each finding with its fix."""

from __future__ import annotations

import click

from smartbuild.cli import get_app
from smartbuild.commands import FiniteFloat
from smartbuild.errors import ExitStatus

MARK = {"ok": "[green]ok[/green]", "warn": "[yellow]warn[/yellow]", "fail": "[red]fail[/red]"}


@click.command()
@click.option(
    "--only",
    "only",
    multiple=True,
    metavar="NAME",
    help="Only these checks or areas (repeatable), e.g. --only journal --only ble.",
)
@click.option(
    "--broker",
    metavar="URL",
    help="Check this MQTT broker (mqtt://host:port) instead of the site's.",
)
@click.option("--timeout", type=FiniteFloat(min=0.1, max=60), default=2.0, show_default=True,
              help="Seconds for any one question to the host (a bus call, a connect).")  # fmt: skip
def doctor(only: tuple[str, ...], broker: str | None, timeout: float) -> None:
    """Check Python, the journal, the site's files, the clock and what each protocol needs."""
    from smartbuild.services.doctor import run_doctor

    app = get_app()
    report = app.run(
        lambda session: run_doctor(
            session, site_required=app.site_explicit, broker=broker, timeout=timeout, only=only
        )
    )
    if only and not report.checks:
        from smartbuild.errors import UsageError

        raise UsageError(f"no check is called {', '.join(only)}",
                         hint="`smartbuild doctor --json` lists every check with its area")  # fmt: skip
    if app.output.json_mode:
        app.output.emit_json(report.to_json())
    else:
        _render(app.output, report)
    if not report.healthy:
        click.get_current_context().exit(int(ExitStatus.PARTIAL))


def _render(output: object, report: object) -> None:
    from rich.table import Table

    from smartbuild.console import Output, escape
    from smartbuild.services.doctor import DoctorReport

    assert isinstance(output, Output) and isinstance(report, DoctorReport)
    table = Table(title_justify="left", show_lines=False)
    for column in ("area", "check", "status", "finding"):
        table.add_column(column, overflow="fold", no_wrap=column in ("area", "status"))
    for check in report.checks:
        finding = escape(check.summary)
        if check.fix:
            finding += f"\n[bold]fix:[/bold] {escape(check.fix)}"
        table.add_row(check.area, check.name, MARK[check.status.value], finding)
    counts = report.counts()
    table.title = f"doctor: {counts['ok']} ok, {counts['warn']} warn, {counts['fail']} fail"
    output.print(table)
