"""`smartbuild routine`: list, validate and run the site's routines (a cron job runs one)."""

from __future__ import annotations

from typing import Any

import click

from smartbuild.cli import App, get_app
from smartbuild.errors import ExitStatus


def _runner(app: App) -> Any:
    from smartbuild.services.routines import RoutineRunner

    return RoutineRunner(app.session)


@click.group()
def routine() -> None:
    """List, validate and run routines (triggers, conditions, steps)."""


@routine.command("list")
def list_routines() -> None:
    """List the site's routines: triggers, steps, where each is defined."""
    from smartbuild.routines.loading import summary

    app = get_app()
    rows = [summary(item) for item in _runner(app).routines()]
    if app.output.json_mode:
        app.output.emit_json({"routines": rows})
        return
    from rich.table import Table

    from smartbuild.console import escape

    table = Table(title=f"{len(rows)} routines", title_justify="left")
    for column in ("routine", "triggers", "steps", "on error", "defined in"):
        table.add_column(column, overflow="fold")
    for r in rows:
        name = escape(r["routine"]) + ("" if r["enabled"] else " (disabled)")
        table.add_row(name, escape("; ".join(r["triggers"]) or "by hand"),
                      ", ".join(r["steps"]), r["on_error"], escape(r["origin"]))  # fmt: skip
    app.output.print(table)


@routine.command("validate")
@click.argument("files", nargs=-1)
def validate(files: tuple[str, ...]) -> None:
    """Check routine files, or (without FILES) the site's routines against the site."""
    from smartbuild.errors import ConfigError
    from smartbuild.routines.loading import load_routine_file

    app = get_app()
    problems: list[Any] = []
    names: list[str] = []
    if files:
        for path in files:
            try:
                names.append(load_routine_file(path).routine.routine)
            except ConfigError as error:
                problems += error.problems
    else:
        try:
            names = [item.routine.routine for item in _runner(app).routines()]
        except ConfigError as error:
            problems = list(error.problems)
    if app.output.json_mode:
        app.output.emit_json({"ok": not problems, "routines": names,
                              "problems": [str(p) for p in problems]})  # fmt: skip
    else:
        from smartbuild.console import escape

        for name in names:
            app.output.print(f"[green]ok[/green] routine {escape(name)}")
        for problem in problems:
            app.output.error(str(problem))
    if problems:
        click.get_current_context().exit(int(ExitStatus.USAGE))


@routine.command("run")
@click.argument("name")
@click.option("--dry-run", is_flag=True, help="Check conditions and show the steps; write nothing.")
@click.option("--yes", "-y", is_flag=True, help="Write without asking (needed without a terminal).")
@click.option("--force", is_flag=True, help="Run the steps even when a condition does not hold.")
def run(name: str, dry_run: bool, yes: bool, force: bool) -> None:
    """Run one routine once, now (exit 0 done or skipped, 3, 4, 5 as for writes)."""
    from smartbuild.routines.loading import find

    app = get_app()
    runner = _runner(app)
    item = find(runner.routines(), name)
    if force:
        item = _without_conditions(item)
    result = app.run(lambda session: runner.run(item, confirm=app.confirm(yes), dry_run=dry_run))
    out = app.output
    if out.json_mode:
        out.emit_json(result.to_json())
    else:
        _show(app, result)
    code = exit_status(result)
    if code:
        click.get_current_context().exit(code)


def _without_conditions(item: Any) -> Any:
    from dataclasses import replace

    return replace(item, routine=item.routine.model_copy(update={"conditions": ()}))


def _show(app: App, result: Any) -> None:
    from smartbuild.console import escape

    out = app.output
    for c in result.conditions:
        mark = "[green]holds[/green]" if c["ok"] else "[yellow]does not hold[/yellow]"
        out.print(f"condition {escape(c['condition'])}: {mark} ({escape(c['why'])})")
    if result.status == "skipped":
        out.print(f"routine {escape(result.routine)}: skipped, a condition does not hold "
                  "(nothing written; --force runs it anyway)")  # fmt: skip
        return
    for s in result.steps:
        colour = {"ok": "green", "failed": "red", "skipped": "yellow"}.get(s.status, "cyan")
        out.print(f"step {s.index + 1} {s.kind}: [{colour}]{s.status}[/{colour}] "
                  f"{escape(s.message)}")  # fmt: skip
    out.print(f"routine {escape(result.routine)}: {result.status} (run {result.run})")
    if result.status in ("failed", "partial") and result.run:
        out.error(
            f"routine {result.routine} {result.status}", f"`smartbuild log --run {result.run}`"
        )


def exit_status(result: Any) -> int:
    """Return the exit status of a routine run: as for writes, worst step first."""
    from smartbuild.model.writes import WriteStatus

    if result.status in ("ok", "skipped", "dry-run"):
        return int(ExitStatus.OK)
    outcomes = [o for s in result.steps for o in s.outcomes]
    bad = [o for o in outcomes if not o.status.ok]
    if any(o.status in (WriteStatus.REFUSED, WriteStatus.CONFLICT) and o.cause != "unreachable"
           for o in bad):  # fmt: skip
        return int(ExitStatus.REFUSED)
    if (
        bad
        and all(o.cause == "unreachable" for o in bad)
        and not any(o.status.ok for o in outcomes)
    ):
        return int(ExitStatus.UNREACHABLE)
    return int(ExitStatus.PARTIAL)
