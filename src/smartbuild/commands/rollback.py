"""`smartbuild rollback` and `smartbuild overrides`: undo a run; list changes still in force."""

from __future__ import annotations

import click

from smartbuild.cli import get_app
from smartbuild.commands import FiniteFloat
from smartbuild.errors import ExitStatus


@click.command()
@click.argument("run_ref", required=False, metavar="RUN_ID")
@click.option(
    "--last",
    is_flag=True,
    help="Roll back the most recent run that wrote something (not a rollback).",
)
@click.option(
    "--force", is_flag=True, help="Restore even points someone changed since (conflicts)."
)
@click.option(
    "--yes", "-y", is_flag=True, help="Roll back without asking (needed without a terminal)."
)
@click.option(
    "--wait",
    type=FiniteFloat(0, 3600),
    default=0.0,
    show_default=True,
    help="Seconds to wait for another run's write lease on a device before refusing (exit 5).",
)
def rollback(run_ref: str | None, last: bool, force: bool, yes: bool, wait: float) -> None:
    """Restore the values a run changed, where devices still hold what it wrote."""
    from smartbuild.console import escape
    from smartbuild.model.writes import WriteStatus

    app = get_app()
    session = app.session
    session.lease_wait_s = wait
    run_id = session.resolve_undo(run_ref, last)
    items = session.undo_plan(run_id)
    out = app.output
    if not out.json_mode:
        for i in items:
            note = {"intent": " (interrupted mid-write)", "unknown": " (sent, no answer)"}.get(
                i["state"], ""
            )
            out.print(f"{escape(i['device'])}.{escape(i['point'])}: {escape(str(i['requested']))} "
                      f"→ {escape(str(i['before']))}{note}")  # fmt: skip
    result = app.run(lambda s: s.rollback(run_id, confirm=app.confirm(yes), force=force))
    outcomes = result.outcomes
    conflicts = [o for o in outcomes if o.status == WriteStatus.CONFLICT]
    # the old value is outside the template's bounds now: never written, not even with --force
    blocked = [o for o in outcomes if o.status == WriteStatus.REFUSED and o.cause != "unreachable"]
    failed = [o for o in outcomes if not o.status.ok and o not in conflicts and o not in blocked]
    if out.json_mode:
        out.emit_json({"run": result.run, "rolled_back": run_id, "outcomes": outcomes})
    else:
        for o in outcomes:
            verb = {
                WriteStatus.WRITTEN: "restored",
                WriteStatus.UNCHANGED: "already at the old value",
            }.get(o.status, str(o.status))
            out.print(f"{escape(o.device)}.{escape(o.point)}: {verb}"
                      + (f" — {escape(o.message)}" if o.message else ""))  # fmt: skip
        restored = len(outcomes) - len(conflicts) - len(failed) - len(blocked)
        out.print(f"rollback run {result.run} of {run_id}: {restored} restored or unchanged, "
                  f"{len(conflicts)} conflicts, {len(blocked)} blocked, {len(failed)} failed")  # fmt: skip
    if failed:
        click.get_current_context().exit(int(ExitStatus.PARTIAL))
    if blocked:
        out.warn("blocked points were left as they are: their old value is outside the template")
    if conflicts:
        out.warn("conflicting points were left as they are; use --force to restore them anyway")
    if blocked or conflicts:
        click.get_current_context().exit(int(ExitStatus.REFUSED))


@click.command()
def overrides() -> None:
    """List overrides (profile apply --for) that are still in force."""
    app = get_app()
    rows = app.session.overrides()
    if app.output.json_mode:
        app.output.emit_json({"overrides": rows})
        return
    if not rows:
        app.output.info("no active overrides")
        return
    from rich.table import Table

    from smartbuild.console import escape

    table = Table(title=f"{len(rows)} active overrides", title_justify="left")
    for column in ("run", "command", "expires in", "changes"):
        table.add_column(column, overflow="fold")
    for r in rows:
        changes = ", ".join(f"{c['device']}.{c['point']}={c['requested']}" for c in r["changes"])
        table.add_row(
            r["id"], escape(r["command"]), f"{r['remaining_s'] // 60} min", escape(changes)
        )
    app.output.print(table)
    app.output.info("release one early with `smartbuild rollback RUN_ID`")
