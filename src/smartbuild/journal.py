"""The SQLite action journal (WAL, named migrations, mode 0600) and its builtin observer.

Every entry is committed (synchronous=FULL) before ``add_entry`` returns, so a process killed at any
moment leaves a journal that says exactly which writes were intended and which completed.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

from smartbuild.errors import JournalError, UsageError

if TYPE_CHECKING:
    import sqlite3

    from smartbuild.model.events import Event

FILENAME = "journal.db"

MIGRATIONS: list[tuple[str, str]] = [
    (
        "001_runs_and_entries",
        """
        CREATE TABLE runs (
            id TEXT PRIMARY KEY,
            started REAL NOT NULL,
            finished REAL,
            command TEXT NOT NULL,
            user TEXT,
            host TEXT,
            profile_path TEXT,
            profile_sha256 TEXT,
            dry_run INTEGER NOT NULL DEFAULT 0,
            status TEXT NOT NULL DEFAULT 'running'
        );
        CREATE TABLE entries (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            run TEXT NOT NULL REFERENCES runs(id),
            time REAL NOT NULL,
            kind TEXT NOT NULL,
            device TEXT,
            point TEXT,
            before TEXT,
            requested TEXT,
            after TEXT,
            verified INTEGER,
            message TEXT,
            plugin TEXT,
            plugin_version TEXT,
            data TEXT
        );
        CREATE INDEX entries_run ON entries(run);
        CREATE INDEX entries_device_time ON entries(device, time);
        """,
    ),
    (
        "002_run_expiry_and_parent",
        """
        ALTER TABLE runs ADD COLUMN expires REAL;
        ALTER TABLE runs ADD COLUMN parent_run TEXT;
        """,
    ),
    (
        "010_run_kind",
        """
        ALTER TABLE runs ADD COLUMN kind TEXT NOT NULL DEFAULT 'run';
        UPDATE runs SET kind = 'rollback' WHERE parent_run IS NOT NULL AND command LIKE 'rollback%';
        """,
    ),
]

RUN_COLUMNS = (
    "id", "started", "finished", "command", "user", "host", "profile_path", "profile_sha256",
    "dry_run", "status", "expires", "parent_run", "kind",
)  # fmt: skip
ENTRY_COLUMNS = (
    "id", "run", "time", "kind", "device", "point", "before", "requested", "after", "verified",
    "message", "plugin", "plugin_version", "data",
)  # fmt: skip


class Journal:
    """One journal database in a home directory."""

    def __init__(self, home: Path) -> None:
        import sqlite3

        self.path = Path(home) / FILENAME
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            os.close(fd)
        except OSError as error:
            raise JournalError(
                f"cannot create the journal at {self.path}: {error.strerror}",
                hint="pass a writable directory with --home or set SMARTBUILD_HOME",
            ) from None
        try:
            self.db = sqlite3.connect(self.path, isolation_level=None, timeout=10)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
            self.db.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except sqlite3.DatabaseError as error:
            raise JournalError(
                f"the journal {self.path} cannot be used: {error}",
                hint="move the file aside (it may be corrupt) and run again; a new journal is created",
            ) from None

    def _migrate(self) -> None:
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied REAL)"
        )
        done = {row[0] for row in self.db.execute("SELECT name FROM _migrations")}
        for name, sql in MIGRATIONS:
            if name in done:
                continue
            self.db.execute("BEGIN IMMEDIATE")
            try:
                for statement in filter(str.strip, sql.split(";")):
                    self.db.execute(statement)
                self.db.execute("INSERT INTO _migrations VALUES (?, ?)", (name, time.time()))
                self.db.execute("COMMIT")
            except Exception:
                self.db.execute("ROLLBACK")
                raise

    def close(self) -> None:
        """Close the database connection."""
        with suppress(Exception):
            self.db.close()

    # writing ---------------------------------------------------------------------------------
    def record(self, event: Event) -> None:
        """Write one event durably (runs for run-started/finished, entries otherwise)."""
        data = event.data or {}
        if event.kind == "run-started":
            self.db.execute(
                "INSERT INTO runs (id, started, command, user, host, profile_path, profile_sha256,"
                " dry_run, expires, parent_run, kind) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (
                    event.run_id, event.time, data.get("command", "?"), data.get("user"),
                    data.get("host"), data.get("profile_path"), data.get("profile_sha256"),
                    int(bool(data.get("dry_run"))), data.get("expires"), data.get("parent_run"),
                    data.get("kind") or "run",
                ),
            )  # fmt: skip
            return
        if event.kind == "run-finished":
            self.db.execute(
                "UPDATE runs SET finished = ?, status = ? WHERE id = ?",
                (event.time, data.get("status", "ok"), event.run_id),
            )
            return
        self.db.execute(
            "INSERT INTO entries (run, time, kind, device, point, before, requested, after,"
            " verified, message, plugin, plugin_version, data) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                event.run_id, event.time, event.kind, event.device, event.point,
                _dump(event.before), _dump(event.requested), _dump(event.after),
                None if event.verified is None else int(event.verified), event.message,
                event.plugin, event.plugin_version, _dump(event.data) if event.data else None,
            ),
        )  # fmt: skip

    # reading ---------------------------------------------------------------------------------
    def resolve_run(self, ref: str) -> str:
        """Return the full run id for an id or a unique prefix."""
        # a prefix compare, not LIKE: '%' or '_' typed by someone must not match other runs
        rows = [
            r[0]
            for r in self.db.execute(
                "SELECT id FROM runs WHERE substr(id, 1, ?) = ? ORDER BY started", (len(ref), ref)
            )
        ]
        if len(rows) == 1:
            return str(rows[0])
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
        row = self.db.execute(sql + " ORDER BY started DESC, rowid DESC LIMIT 1", args).fetchone()
        return str(row[0]) if row else None

    def runs(self, *, since: float | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        """Return runs, newest first."""
        sql = f"SELECT {', '.join(RUN_COLUMNS)} FROM runs"
        args: list[Any] = []
        if since is not None:
            sql += " WHERE started >= ?"
            args.append(since)
        sql += " ORDER BY started DESC, rowid DESC"
        if limit:
            sql += " LIMIT ?"
            args.append(limit)
        return [self._run_row(row) for row in self.db.execute(sql, args)]

    def run(self, run_id: str) -> dict[str, Any]:
        """Return one run by id."""
        row = self.db.execute(
            f"SELECT {', '.join(RUN_COLUMNS)} FROM runs WHERE id = ?", (run_id,)
        ).fetchone()
        if row is None:
            raise UsageError(f"no run {run_id!r}")
        return self._run_row(row)

    def entries(
        self,
        *,
        run: str | None = None,
        device: str | None = None,
        since: float | None = None,
        kinds: tuple[str, ...] = (),
    ) -> Iterator[dict[str, Any]]:
        """Yield entries in the order they were written, filtered."""
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
        for row in self.db.execute(sql + " ORDER BY id", args):
            entry = dict(zip(ENTRY_COLUMNS, row, strict=True))
            for key in ("before", "requested", "after", "data"):
                entry[key] = _load(entry[key])
            if entry["verified"] is not None:
                entry["verified"] = bool(entry["verified"])
            yield entry

    @staticmethod
    def _run_row(row: sqlite3.Row | tuple[Any, ...]) -> dict[str, Any]:
        run = dict(zip(RUN_COLUMNS, row, strict=True))
        run["dry_run"] = bool(run["dry_run"])
        return run


def _dump(value: Any) -> str | None:
    return None if value is None else json.dumps(value, default=str, ensure_ascii=False)


def _load(text: str | None) -> Any:
    return None if text is None else json.loads(text)


_open: dict[Path, Journal] = {}


def open_journal(home: Path) -> Journal:
    """Return the journal of a home directory, opened once per process."""
    key = Path(home).resolve()
    if key not in _open:
        _open[key] = Journal(key)
    return _open[key]
