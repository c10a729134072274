"""`smartbuild log`: the action journal, filterable and exportable."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import click

from smartbuild.cli import get_app
from smartbuild.complete import complete_device


def _when(ts: float | None) -> str:
    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S") if ts else "-"


def _value(value: Any) -> str:
    return "-" if value is None else str(value)


@click.command()
@click.option("--run", "run_ref", help="Show the entries of one run (id or unique prefix).")
@click.option("--last", is_flag=True, help="Show the entries of the most recent run.")
@click.option("--device", shell_complete=complete_device, help="Only entries for this device.")
@click.option("--since", help="Only what happened since: a duration (2h, 3d) or an ISO time.")
@click.option(
    "--limit", type=click.IntRange(min=1), default=50, show_default=True, help="Runs to list."
)
@click.option("--jsonl", is_flag=True, help="Export entries as JSON Lines on stdout.")
def log(
    run_ref: str | None, last: bool, device: str | None, since: str | None, limit: int, jsonl: bool
) -> None:
    """Show the action journal: runs and their entries."""
    from smartbuild.journal import open_journal
    from smartbuild.timeparse import parse_since

    app = get_app()
    out = app.output
    journal = open_journal(app.home)
    since_ts = parse_since(since) if since else None
    run_id = journal.resolve_run(run_ref) if run_ref else None
    if last:
        run_id = journal.last_run()
        if run_id is None:
            out.info("the journal is empty")
            if out.json_mode:
                out.emit_json({"runs": [], "entries": []})
            return
    if jsonl:
        out.emit_jsonl(journal.entries(run=run_id, device=device, since=since_ts))
        return
    if run_id or device:
        entries = list(journal.entries(run=run_id, device=device, since=since_ts))
        run = journal.run(run_id) if run_id else None
        pending = unresolved(entries)
        if out.json_mode:
            out.emit_json({"run": run, "entries": entries, "unresolved": pending})
            return
        if run:
            out.print(
                f"run [bold]{run['id']}[/bold] {run['command']} · {run['status']} · "
                f"started {_when(run['started'])} · finished {_when(run['finished'])}"
                + (" · dry run" if run["dry_run"] else "")
            )
        _entries_table(app, entries)
        for e in pending:
            out.warn(
                f"{e['device']}.{e['point']}: the run stopped after announcing a write of "
                f"{e['requested']} (was {e['before']}): it may or may not have been written; "
                f"`smartbuild rollback {e['run']}` checks the device and restores {e['before']}"
            )
        return
    runs = journal.runs(since=since_ts, limit=limit)
    if out.json_mode:
        out.emit_json({"runs": runs})
        return
    if not runs:
        out.info("the journal is empty")
        return
    from rich.table import Table

    table = Table(title=f"runs in {journal.path}", title_justify="left")
    for column in ("run", "started", "command", "status", "user@host", "profile"):
        table.add_column(column)
    for run in runs:
        table.add_row(
            run["id"],
            _when(run["started"]),
            run["command"] + (" (dry run)" if run["dry_run"] else ""),
            run["status"],
            f"{run['user']}@{run['host']}",
            run["profile_path"] or "",
        )
    out.print(table)


def unresolved(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return intents with no result after them: writes that may or may not have happened."""
    open_intents: dict[tuple[str, str, str], dict[str, Any]] = {}
    for e in entries:
        key = (e["run"], e["device"], e["point"])
        if e["kind"] == "intent":
            open_intents[key] = e
        elif e["kind"] in ("written", "unverified", "failed"):
            open_intents.pop(key, None)
    return list(open_intents.values())


def _entries_table(app: Any, entries: list[dict[str, Any]]) -> None:
    from rich.table import Table

    table = Table()
    for column in (
        "time",
        "kind",
        "device",
        "point",
        "before",
        "requested",
        "after",
        "verified",
        "message",
    ):
        table.add_column(column)
    for e in entries:
        verified = "" if e["verified"] is None else ("yes" if e["verified"] else "NO")
        table.add_row(
            _when(e["time"]), e["kind"], _value(e["device"]), _value(e["point"]),
            _value(e["before"]), _value(e["requested"]), _value(e["after"]), verified,
            e["message"] or "",
        )  # fmt: skip
    app.output.print(table)
