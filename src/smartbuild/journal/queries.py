"""Reading the journal: runs, entries (damage kept per entry), unresolved writes.

A value that no longer decodes (a damaged JSON text) becomes a ``Damaged`` marker in its field and
the entry lists the field under ``damaged``: the rest of the run still reads, and rollback skips only
the damaged entries. A marker never equals a real value, so it cannot be written to a device.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from smartbuild.errors import UsageError
from smartbuild.journal import processes

if TYPE_CHECKING:
    import sqlite3

RUN_COLUMNS = (
    "id", "started", "finished", "command", "user", "host", "profile_path", "profile_sha256",
    "dry_run", "status", "expires", "parent_run", "kind", "pid", "process_start",
)  # fmt: skip
ENTRY_COLUMNS = (
    "id", "run", "time", "kind", "device", "point", "before", "requested", "after", "verified",
    "message", "plugin", "plugin_version", "data",
)  # fmt: skip
JSON_FIELDS = ("before", "requested", "after", "data")
# the outcomes of a write (the model's WriteStatus values) and v0.1's names for some of them
OUTCOME_KINDS = frozenset(
    {"written", "unchanged", "refused", "rejected", "unknown", "reverted", "conflict", "overridden"}
    | {"unverified", "failed", "skipped", "blocked"}
)


@dataclass(frozen=True)
class Damaged:
    """A stored value that no longer decodes: shown as damaged, never used as a value."""

    field: str
    raw: str
    error: str

    def __str__(self) -> str:
        return "damaged"

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-ready marker (the raw text cut short)."""
        return {"damaged": True, "raw": self.raw[:200], "error": self.error}


def rollback_command(run_id: str) -> str:
    """Return the exact command that checks and undoes a run."""
    return f"smartbuild rollback {run_id}"


def unresolved(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return writes whose outcome is not known: intents without an outcome, and ``unknown``s.

    An ``unknown`` (sent, no answer) stays unresolved until a later entry of the same run records
    another outcome for that point (a read-back that found out).
    """
    open_writes: dict[tuple[str, str, str], dict[str, Any]] = {}
    for e in entries:
        key = (e["run"], e["device"], e["point"])
        if e["kind"] in ("intent", "unknown"):
            open_writes[key] = e
        elif e["kind"] in OUTCOME_KINDS:
            open_writes.pop(key, None)
    return list(open_writes.values())


class Reading:
    """The query half of a Journal."""

    path: Path
    db: sqlite3.Connection
    read_only: bool
    _lock: threading.RLock
    _run_columns: frozenset[str]

    if TYPE_CHECKING:  # provided by the Journal that mixes this in (store.py)

        def _fetch(
            self, sql: str, args: tuple[Any, ...] | list[Any] = ()
        ) -> list[tuple[Any, ...]]: ...

    def _select_runs(self) -> str:
        # a journal opened read-only may predate a migration: missing columns read as NULL
        cols = [c if c in self._run_columns else f"NULL AS {c}" for c in RUN_COLUMNS]
        return f"SELECT {', '.join(cols)} FROM runs"

    def resolve_run(self, ref: str) -> str:
        """Return the full run id for an id or a unique prefix."""
        # a prefix compare, not LIKE: '%' or '_' typed by someone must not match other runs
        rows = [
            str(r[0])
            for r in self._fetch(
                "SELECT id FROM runs WHERE substr(id, 1, ?) = ? ORDER BY started", (len(ref), ref)
            )
        ]
        if len(rows) == 1:
            return rows[0]
        if not rows:
            raise UsageError(f"no run {ref!r} in {self.path}", hint="`smartbuild log` lists runs")
        raise UsageError(f"run prefix {ref!r} is ambiguous: {', '.join(rows[:5])}")

    def last_run(self, *, command_like: str | None = None) -> str | None:
        """Return the id of the most recent run (optionally of a command)."""
        sql = "SELECT id FROM runs"
        args: tuple[Any, ...] = ()
        if command_like:
            sql += " WHERE command LIKE ?"
            args = (command_like,)
        rows = self._fetch(sql + " ORDER BY started DESC, rowid DESC LIMIT 1", args)
        return str(rows[0][0]) if rows else None

    def runs(self, *, since: float | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        """Return runs, newest first (interrupted ones carry their rollback command)."""
        sql = self._select_runs()
        args: list[Any] = []
        if since is not None:
            sql += " WHERE started >= ?"
            args.append(since)
        sql += " ORDER BY started DESC, rowid DESC"
        if limit:
            sql += " LIMIT ?"
            args.append(limit)
        return [self._run_row(row) for row in self._fetch(sql, args)]

    def run(self, run_id: str) -> dict[str, Any]:
        """Return one run by id."""
        rows = self._fetch(self._select_runs() + " WHERE id = ?", (run_id,))
        if not rows:
            raise UsageError(f"no run {run_id!r}")
        return self._run_row(rows[0])

    def entries(
        self,
        *,
        run: str | None = None,
        device: str | None = None,
        since: float | None = None,
        kinds: tuple[str, ...] = (),
    ) -> Iterator[dict[str, Any]]:
        """Yield entries in the order they were written; damaged values come as Damaged markers."""
        sql = f"SELECT {', '.join(ENTRY_COLUMNS)} FROM entries"
        where: list[str] = []
        args: list[Any] = []
        if run:
            where.append("run = ?")
            args.append(run)
        if device:
            where.append("device = ?")
            args.append(device)
        if since is not None:
            where.append("time >= ?")
            args.append(since)
        if kinds:
            where.append(f"kind IN ({','.join('?' * len(kinds))})")
            args.extend(kinds)
        if where:
            sql += " WHERE " + " AND ".join(where)
        for row in self._fetch(sql + " ORDER BY id", args):
            yield _entry(row)

    def _run_row(self, row: tuple[Any, ...]) -> dict[str, Any]:
        run = dict(zip(RUN_COLUMNS, row, strict=True))
        run["dry_run"] = bool(run["dry_run"])
        # a dead run not marked yet (read-only journal, or the marking waited in vain): say what is
        # true now
        if (
            run["status"] == "running"
            and processes.alive(run["pid"], run["host"], run["process_start"]) is False
        ):
            run["status"] = "interrupted"
        run["rollback"] = None
        if run["status"] == "interrupted":
            # an interrupted rollback is finished by rolling its parent back again (what is
            # restored already counts as unchanged), not by undoing the rollback
            undo = run["parent_run"] if run["kind"] in ("rollback", "release") else None
            run["rollback"] = rollback_command(undo or run["id"])
        return run


def _entry(row: tuple[Any, ...]) -> dict[str, Any]:
    entry = dict(zip(ENTRY_COLUMNS, row, strict=True))
    damaged = []
    for key in JSON_FIELDS:
        text = entry[key]
        if text is None:
            continue
        try:
            entry[key] = json.loads(text)
        except (ValueError, TypeError) as error:
            entry[key] = Damaged(key, str(text), str(error))
            damaged.append(key)
    if entry["verified"] is not None:
        entry["verified"] = bool(entry["verified"])
    entry["damaged"] = damaged
    return entry
