"""`smartbuild rollback` and `smartbuild overrides`: undo a run; list changes still in force."""

from __future__ import annotations

import time
from typing import Any

import click

from smartbuild.cli import App, get_app
from smartbuild.errors import ExitStatus, UsageError

WRITE_KINDS = ("intent", "written", "unverified")
NOT_RESTORED = ("failed", "unverified")


def restorable(journal: Any, run_id: str) -> list[dict[str, Any]]:
    """Return per (device, point): the value before the run and the last value it asked for.

    An ``intent`` with no result (the process died mid-write) counts: the device may hold either
    value, and rollback reads it to find out.
    """
    changes: dict[tuple[str, str], dict[str, Any]] = {}
    for entry in journal.entries(run=run_id, kinds=WRITE_KINDS):
        key = (entry["device"], entry["point"])
        item = changes.setdefault(
            key, {"device": key[0], "point": key[1], "before": entry["before"]}
        )
        item["requested"] = entry["requested"]
        item["state"] = entry["kind"]
    return list(changes.values())


def _is_rollback(run: dict[str, Any]) -> bool:
    return bool(run["parent_run"]) and str(run["command"]).startswith("rollback")


def rolled_back(journal: Any) -> set[str]:
    """Return the ids of runs that a successful rollback has undone."""
    return {
        run["parent_run"] for run in journal.runs() if _is_rollback(run) and run["status"] == "ok"
    }


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
def rollback(run_ref: str | None, last: bool, force: bool, yes: bool) -> None:
    """Restore the values a run changed, where devices still hold what it wrote."""
    from smartbuild.aio import run_sync
    from smartbuild.apply import Run, WriteRequest, apply_writes, confirm
    from smartbuild.devices import Connections, site_devices
    from smartbuild.journal import open_journal

    app = get_app()
    journal = open_journal(app.home)
    if last:
        # the newest run that is not itself a rollback; if that one is undone already, say so
        # rather than undo the rollback or reach further back: `rollback --last --yes` run twice
        # (a retried cron job) must change nothing the second time
        run_id = next(
            (
                r["id"]
                for r in journal.runs()
                if not _is_rollback(r) and restorable(journal, r["id"])
            ),
            None,
        )
        if run_id is None:
            raise UsageError("no run in the journal wrote anything")
        if run_id in rolled_back(journal):
            raise UsageError(
                f"the last run that wrote something, {run_id}, is rolled back already",
                hint="`smartbuild log` lists runs; name a RUN_ID to roll back another one",
            )
    elif run_ref:
        run_id = journal.resolve_run(run_ref)
    else:
        raise UsageError("name a RUN_ID or pass --last", hint="`smartbuild log` lists runs")
    items = restorable(journal, run_id)
    if not items:
        raise UsageError(f"run {run_id} wrote nothing: there is nothing to roll back")
    devices = site_devices(app)
    missing = sorted({i["device"] for i in items if i["device"] not in devices})
    if missing:
        raise UsageError(f"devices of run {run_id} are no longer in the site: {', '.join(missing)}")
    out = app.output
    if not out.json_mode:
        for i in items:
            note = " (interrupted mid-write)" if i["state"] == "intent" else ""
            out.print(f"{i['device']}.{i['point']}: {i['requested']} → {i['before']}{note}")
    confirm(app, f"restore {len(items)} value(s) of run {run_id}?", yes)
    requests = [
        WriteRequest(
            devices[i["device"]],
            i["point"],
            i["before"],
            f"rollback of run {run_id}",
            expect_before=i["requested"],
            check_expect=not force,
        )
        for i in items
    ]

    async def go() -> tuple[str, list[Any]]:
        async with Connections(app) as conns:
            with Run(app, f"rollback {run_id}", parent_run=run_id) as run:
                outcomes = await apply_writes(run, conns, requests)
                bad = [o for o in outcomes if o.status in (*NOT_RESTORED, "conflict", "blocked")]
                run.status = "ok" if not bad else "partial"
                return run.id, outcomes

    new_run, outcomes = run_sync(go())
    conflicts = [o for o in outcomes if o.status == "conflict"]
    failed = [o for o in outcomes if o.status in NOT_RESTORED]
    # the old value is outside the template's bounds now: never written, not even with --force
    blocked = [o for o in outcomes if o.status == "blocked"]
    if out.json_mode:
        out.emit_json({"run": new_run, "rolled_back": run_id, "outcomes": outcomes})
    else:
        for o in outcomes:
            verb = {"written": "restored", "unchanged": "already at the old value"}.get(
                o.status, o.status
            )
            out.print(f"{o.device}.{o.point}: {verb}" + (f" — {o.message}" if o.message else ""))
        restored = len(outcomes) - len(conflicts) - len(failed) - len(blocked)
        out.print(f"rollback run {new_run} of {run_id}: {restored} restored or unchanged, "
                  f"{len(conflicts)} conflicts, {len(blocked)} blocked, {len(failed)} failed")  # fmt: skip
    if failed:
        click.get_current_context().exit(int(ExitStatus.PARTIAL))
    if blocked:
        out.warn("blocked points were left as they are: their old value is outside the template")
    if conflicts:
        out.warn("conflicting points were left as they are; use --force to restore them anyway")
    if blocked or conflicts:
        click.get_current_context().exit(int(ExitStatus.REFUSED))


def active_overrides(app: App) -> list[dict[str, Any]]:
    """Return runs applied with --for whose expiry is in the future and that are not rolled back."""
    from smartbuild.journal import open_journal

    journal = open_journal(app.home)
    undone = rolled_back(journal)
    now = time.time()
    result = []
    for run in journal.runs():
        if (
            run["expires"]
            and run["expires"] > now
            and run["id"] not in undone
            and not run["dry_run"]
        ):
            items = [i for i in restorable(journal, run["id"]) if i["state"] != "intent"]
            if items:  # a run that changed nothing overrides nothing
                result.append({**run, "changes": items, "remaining_s": round(run["expires"] - now)})
    return result


@click.command()
def overrides() -> None:
    """List overrides (profile apply --for) that are still in force."""
    app = get_app()
    rows = active_overrides(app)
    if app.output.json_mode:
        app.output.emit_json({"overrides": rows})
        return
    if not rows:
        app.output.info("no active overrides")
        return
    from rich.table import Table

    table = Table(title=f"{len(rows)} active overrides", title_justify="left")
    for column in ("run", "command", "expires in", "changes"):
        table.add_column(column, overflow="fold")
    for r in rows:
        changes = ", ".join(f"{c['device']}.{c['point']}={c['requested']}" for c in r["changes"])
        table.add_row(r["id"], r["command"], f"{r['remaining_s'] // 60} min", changes)
    app.output.print(table)
    app.output.info("release one early with `smartbuild rollback RUN_ID`")
