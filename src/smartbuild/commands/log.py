"""`smartbuild log`: the action journal, filterable and exportable (also from read-only places)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import click

from smartbuild.cli import get_app
from smartbuild.complete import complete_device

# how each entry kind reads in the table: the write outcomes, the intent before them, v0.1's names
KIND_STYLES = {
    "intent": "cyan",
    "written": "green",
    "unchanged": "dim",
    "refused": "yellow",
    "rejected": "red",
    "unknown": "bold yellow",
    "reverted": "bold red",
    "conflict": "yellow",
    "unverified": "yellow",
    "failed": "red",
    "skipped": "dim",
    "blocked": "yellow",
}
RESTORE_FIELDS = ("before", "requested")  # what rollback needs from an entry
STATUS_STYLES = {"ok": "green", "running": "cyan", "interrupted": "bold red", "error": "red"}


def _when(ts: Any) -> str:
    if not ts:
        return "-"
    try:
        # this machine's local time, with its zone: plans speak site time, and people compare them
        return datetime.fromtimestamp(float(ts)).astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")
    except (TypeError, ValueError, OverflowError, OSError):
        return "damaged"  # a time that is no time: show the rest of the entry anyway


def _clean(value: Any) -> str:
    """Return stored text with control characters shown as escapes (never sent raw)."""
    text = "-" if value is None else str(value)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _text(value: Any) -> str:
    """Return stored text safe for a rich table cell: control characters shown, markup escaped."""
    from smartbuild.console import escape

    return escape(_clean(value))


def _styled(value: str, styles: dict[str, str]) -> str:
    style = styles.get(value)
    return f"[{style}]{_text(value)}[/{style}]" if style else _text(value)


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
    from smartbuild.timeparse import parse_since

    app = get_app()
    out = app.output
    journal = app.session.journal
    for warning in journal.warnings:
        out.warn(warning)
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
        _show_entries(app, journal, run_id, device, since_ts)
        return
    runs = journal.runs(since=since_ts, limit=limit)
    held = journal.leases()
    if out.json_mode:
        out.emit_json({"runs": runs, "leases": held})
        return
    if not runs:
        out.info("the journal is empty")
        return
    from rich.table import Table

    title = f"runs in {_text(journal.path)}" + (" (read-only)" if journal.read_only else "")
    table = Table(title=title, title_justify="left")
    table.add_column("run", no_wrap=True)
    table.add_column(f"started ({datetime.now().astimezone():%Z})", no_wrap=True)
    table.add_column("command", ratio=2, overflow="fold")
    table.add_column("status", no_wrap=True)
    table.add_column("user@host", overflow="ellipsis", no_wrap=True, max_width=16)
    table.add_column("profile", ratio=1, overflow="fold")
    for run in runs:
        table.add_row(
            _text(run["id"]),
            _when(run["started"])[:16],
            _text(run["command"] + (" (dry run)" if run["dry_run"] else "")),
            _styled(run["status"], STATUS_STYLES),
            _text(f"{run['user']}@{run['host']}"),
            _text(_profile_file(run["profile_path"])),
        )
    out.print(table)
    for run in runs:
        if run["rollback"]:
            out.warn(_interrupted(journal, run))
    for lease in held:
        out.info(
            f"{_clean(lease.device)} is being written by run {lease.run} "
            f"({_clean(lease.command)}, pid {lease.pid} on {_clean(lease.host)}) "
            f"since {_when(lease.acquired)}"
        )


def _interrupted(journal: Any, run: dict[str, Any]) -> str:
    """Return the line that tells what an interrupted run left and how to undo it."""
    wrote = sum(1 for _ in journal.entries(run=run["id"], kinds=("intent",)))
    if not wrote:
        return f"run {run['id']} was interrupted before it announced any write"
    return (
        f"run {run['id']} ({_clean(run['command'])}) was interrupted after announcing {wrote} write(s): "
        f"`{run['rollback']}` checks its devices and restores what it changed"
    )


def _show_entries(
    app: Any, journal: Any, run_id: str | None, device: str | None, since_ts: float | None
) -> None:
    from smartbuild.journal import unresolved

    out = app.output
    entries = list(journal.entries(run=run_id, device=device, since=since_ts))
    run = journal.run(run_id) if run_id else None
    pending = unresolved(entries)
    if out.json_mode:
        out.emit_json({"run": run, "entries": entries, "unresolved": pending})
        return
    if run:
        out.print(
            f"run [bold]{_text(run['id'])}[/bold] {_text(run['command'])} · "
            f"{_styled(run['status'], STATUS_STYLES)} · started {_when(run['started'])} · "
            f"finished {_when(run['finished'])}" + (" · dry run" if run["dry_run"] else "")
        )
    _entries_table(app, entries)
    for e in entries:
        for field in e["damaged"]:
            out.warn(
                f"entry {e['id']} ({_clean(e['device'])}.{_clean(e['point'])}): its {field} value is damaged "
                f"({e[field].error}); the other entries read"
                + ("; rollback leaves this point as it is" if field in RESTORE_FIELDS else "")
            )
    for e in pending:
        what = f"{_clean(e['device'])}.{_clean(e['point'])}"
        if e["kind"] == "unknown":
            said = f"sent {_clean(e['requested'])} (was {_clean(e['before'])}) but no answer came: unresolved"
        else:
            said = (
                f"the run stopped after announcing a write of {_clean(e['requested'])} "
                f"(was {_clean(e['before'])}): it may or may not have been written"
            )
        out.warn(
            f"{what}: {said}; `smartbuild rollback {e['run']}` checks the device and "
            f"restores {_clean(e['before'])}"
        )
    if run and run["rollback"] and not pending:
        out.warn(_interrupted(journal, run))


def _entries_table(app: Any, entries: list[dict[str, Any]]) -> None:
    """Print entries compactly (80 columns): one row per change, an answered intent folded in.

    An intent that a result answered is the same change, so only the result is shown (-v shows
    every entry); an unresolved one stays, marked. The date is left out when every entry is of
    one day (the run line above has it).
    """
    from rich.table import Table

    from smartbuild.journal import Damaged, unresolved

    open_ids = {e["id"] for e in unresolved(entries)}
    if app.output.verbosity < 1:
        entries = [e for e in entries if e["kind"] != "intent" or e["id"] in open_ids]

    def cell(value: Any) -> str:
        return "[red]damaged[/red]" if isinstance(value, Damaged) else _text(value)

    times = [_when(e["time"])[:19] for e in entries]  # the zone is in the column title
    one_day = len({t[:10] for t in times if t not in ("-", "damaged")}) <= 1
    longest = max((len(f"{e['device']}.{e['point']}") for e in entries), default=5)
    zone = f"{datetime.now().astimezone():%Z}"
    table = Table(caption=f"times in {zone} (this machine's zone)", caption_justify="left")
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("time", no_wrap=True)
    table.add_column("point", overflow="fold", min_width=min(longest, 30))  # whole when it can
    table.add_column("change", no_wrap=True)
    table.add_column("outcome", ratio=1)  # wraps "(unresolved)" below the kind when narrow
    table.add_column("message", ratio=2)
    for e, when in zip(entries, times, strict=True):
        outcome = _styled(e["kind"], KIND_STYLES)
        if e["id"] in open_ids:
            outcome += " [bold](unresolved)[/bold]"
        if e["verified"] is not None:
            outcome += " ✓" if e["verified"] else " [red]✗[/red]"
        change = ""
        if any(e[k] is not None for k in ("before", "requested", "after")):
            change = f"{cell(e['before'])} → {cell(e['after'] if e['after'] is not None else e['requested'])}"
        asked = e["requested"] not in (None, e["after"]) and e["after"] is not None
        message = "; ".join(
            part
            for part in (
                f"asked {cell(e['requested'])}" if asked else "",
                _text(e["message"] or ""),
            )
            if part and part != "-"
        )
        table.add_row(
            str(e["id"]), when[11:] if one_day and len(when) > 11 else when,
            ".".join(cell(v) for v in (e["device"], e["point"]) if v is not None) or "-",
            change, outcome, message,
        )  # fmt: skip
    app.output.print(table)


def _profile_file(path: str | None) -> str:
    """Return "shipped" for a shipped profile, else its path (relative when under the cwd)."""
    from pathlib import Path

    if not path:
        return ""
    file = Path(path)
    shipped = (Path(__file__).resolve().parents[1] / "profiles" / "library").resolve()
    if file.resolve().parent == shipped:
        return "shipped"  # the command column names it
    try:
        return str(file.resolve().relative_to(Path.cwd()))
    except ValueError:
        return path
