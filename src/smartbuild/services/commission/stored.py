"""A commissioning report as the journal keeps it, with the journal entries of its runs."""

from __future__ import annotations

from typing import Any

from smartbuild.errors import UsageError
from smartbuild.services.commission.run import REPORT_ENTRY

JOURNAL_FIELDS = ("time", "kind", "device", "point", "before", "requested", "after", "message")


def journal_rows(journal: Any, run_ids: list[str]) -> list[dict[str, Any]]:
    """Return the entries of runs (the report entry itself left out), oldest first."""
    rows: list[dict[str, Any]] = []
    for run_id in run_ids:
        run = journal.run(run_id)
        blank = dict.fromkeys(JOURNAL_FIELDS)
        rows.append({**blank, "run": run_id, "time": run["started"], "kind": "run-started",
                     "message": f"{run['command']} by {run['user']}@{run['host']}"})  # fmt: skip
        for entry in journal.entries(run=run_id):
            if entry["kind"] == REPORT_ENTRY:
                continue
            rows.append({"run": run_id, **{k: _plain(entry.get(k)) for k in JOURNAL_FIELDS}})
        if run.get("finished"):
            rows.append({**blank, "run": run_id, "time": run["finished"], "kind": "run-finished",
                         "message": run["status"]})  # fmt: skip
    return rows


def _plain(value: Any) -> Any:
    if hasattr(value, "to_json"):  # a damaged value
        return str(value)
    return value


def with_journal(journal: Any, doc: dict[str, Any]) -> dict[str, Any]:
    """Return the report document with the journal of its run and its restore run."""
    runs = [doc["run"]] + ([doc["restore_run"]] if doc.get("restore_run") else [])
    return {**doc, "journal": journal_rows(journal, runs)}


def load_report(journal: Any, ref: str) -> dict[str, Any]:
    """Return the report a commission run stored (RUN_ID or a unique prefix), with its journal."""
    run_id = journal.resolve_run(ref)
    entries = list(journal.entries(run=run_id, kinds=(REPORT_ENTRY,)))
    if not entries or not isinstance(entries[-1].get("data"), dict):
        run = journal.run(run_id)
        why = ("it ended before its report was complete" if run["command"] == "commission"
               else f"it is a {run['command']!r} run, not a commission run")  # fmt: skip
        raise UsageError(f"run {run_id} holds no commissioning report: {why}",
                         hint="`smartbuild log` lists runs; commission runs say 'commission'")  # fmt: skip
    return with_journal(journal, entries[-1]["data"])
