"""Named schema migrations, applied once each inside one exclusive transaction.

Entry kinds stay free text (no CHECK): SQLite can add a CHECK only by rebuilding the table — a copy
of exactly the data a rollback needs — and journals must stay readable by older and newer versions
whose vocabularies differ (v0.1 wrote ``failed``/``unverified``; BACnet adds ``overridden``). The
vocabulary is enforced where entries are made (the write-outcome enum); ``log`` renders any kind.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import sqlite3

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
    (
        "011_run_process_and_leases",
        """
        ALTER TABLE runs ADD COLUMN pid INTEGER;
        ALTER TABLE runs ADD COLUMN process_start TEXT;
        CREATE INDEX runs_status ON runs(status);
        CREATE TABLE leases (
            device TEXT PRIMARY KEY,
            run TEXT NOT NULL,
            command TEXT NOT NULL,
            acquired REAL NOT NULL,
            pid INTEGER,
            host TEXT,
            process_start TEXT
        );
        CREATE INDEX leases_run ON leases(run);
        """,
    ),
]

KNOWN = frozenset(name for name, _ in MIGRATIONS)


def pending(db: sqlite3.Connection) -> list[str]:
    """Return the names of migrations not applied yet (all of them on an empty database)."""
    has_table = db.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_migrations'"
    ).fetchone()
    if not has_table:
        return [name for name, _ in MIGRATIONS]
    done = {row[0] for row in db.execute("SELECT name FROM _migrations")}
    return [name for name, _ in MIGRATIONS if name not in done]


def migrate(db: sqlite3.Connection) -> list[str]:
    """Apply the pending migrations in one exclusive transaction; return the names applied.

    Concurrent first starts all get here: the first takes the write lock, the others wait for it
    (busy timeout) and then find nothing left to do, because the check is repeated under the lock.
    """
    if not pending(db):  # the common case: no lock taken at all
        return []
    db.execute("BEGIN EXCLUSIVE")
    try:
        db.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied REAL)")
        todo = set(pending(db))
        applied = []
        for name, sql in MIGRATIONS:
            if name not in todo:
                continue
            for statement in filter(str.strip, sql.split(";")):
                db.execute(statement)
            db.execute("INSERT INTO _migrations VALUES (?, ?)", (name, time.time()))
            applied.append(name)
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    return applied


def is_foreign(db: sqlite3.Connection) -> bool:
    """Return True for a SQLite database that holds tables but is no smartbuild journal."""
    names = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    names.discard("sqlite_sequence")
    return bool(names) and "_migrations" not in names
