"""Opening the journal file safely, and writing runs and entries durably."""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

from smartbuild.errors import JournalError
from smartbuild.journal import diagnose, leases, migrations, processes, readonly
from smartbuild.journal.queries import Reading

if TYPE_CHECKING:
    from smartbuild.model.events import Event

FILENAME = "journal.db"
HEADER = b"SQLite format 3\x00"
DEFAULT_WAIT_S = 5.0
WAIT_ENV = "SMARTBUILD_JOURNAL_WAIT"


def wait_from_env() -> float:
    """Return how long to wait for a locked journal: $SMARTBUILD_JOURNAL_WAIT or 5 s."""
    text = os.environ.get(WAIT_ENV, "").strip()
    if not text:
        return DEFAULT_WAIT_S
    try:
        value = float(text)
    except ValueError:
        raise JournalError(
            f"{WAIT_ENV}={text!r} is not a number of seconds", hint=f"e.g. {WAIT_ENV}=30"
        ) from None
    if not value >= 0:
        raise JournalError(f"{WAIT_ENV}={text!r} must be zero or more seconds")
    return value


class Journal(Reading, leases.Leasing):
    """One journal database in a home directory (see the package docstring for the contract)."""

    def __init__(self, home: Path, *, wait_s: float | None = None) -> None:
        self.path = Path(home) / FILENAME
        self.wait_s = wait_from_env() if wait_s is None else wait_s
        self.read_only = False
        self._disk_full = False  # opened read-only because the disk is full
        self._copy: str | None = None  # a private copy read in place of a read-only journal
        self.warnings: list[str] = []
        self.interrupted: list[str] = []  # runs this open found dead and marked
        self._lock = threading.RLock()
        if not self.path.exists():
            self._create()
        self._check_file()
        self.db = self._connect()
        try:
            if not self.read_only:
                self._prepare()
            self._run_columns = frozenset(
                row[1] for row in self.db.execute("PRAGMA table_info(runs)").fetchall()
            )
            self._has_leases = bool(
                self.db.execute("SELECT 1 FROM sqlite_master WHERE name = 'leases'").fetchone()
            )
            if not self._run_columns:
                raise JournalError(f"the journal {self.path} holds no runs table")
        except sqlite3.Error as error:
            self.close()
            raise diagnose.translate(error, self.path, "open the journal", self.wait_s) from None
        except BaseException:
            self.close()
            raise

    # opening -----------------------------------------------------------------------------------
    def _create(self) -> None:
        """Create the journal complete (migrated, WAL) and link it into place in one step.

        Concurrent first starts each build their own file; ``os.link`` refuses to replace an
        existing journal, so exactly one wins and the others open the winner's.
        """
        home = self.path.parent
        try:
            home.mkdir(parents=True, exist_ok=True)
            tmp = home / f".{FILENAME}.new-{os.getpid()}-{secrets.token_hex(3)}"
            os.close(os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600))
        except OSError as error:
            raise JournalError(
                f"cannot create the journal at {self.path}: {error.strerror}",
                hint="pass a writable directory with --home or set SMARTBUILD_HOME",
            ) from None
        try:
            db = sqlite3.connect(tmp, isolation_level=None)
            try:
                db.execute("PRAGMA journal_mode=WAL")
                migrations.migrate(db)
            finally:
                db.close()
            try:
                os.link(tmp, self.path)
            except FileExistsError:
                pass  # another process created it first: use that one
            except OSError:  # a filesystem without hard links: create in place, exclusively
                self._create_in_place()
        except sqlite3.Error as error:
            raise diagnose.translate(error, self.path, "create the journal", self.wait_s) from None
        finally:
            for suffix in ("", "-wal", "-shm", "-journal"):
                with suppress(OSError):
                    os.unlink(f"{tmp}{suffix}")

    def _create_in_place(self) -> None:
        """Create and migrate the journal where it stands (others wait while it is 0 bytes)."""
        try:
            os.close(os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            return  # another process is creating it: _check_file waits for its header
        except OSError as error:
            raise JournalError(
                f"cannot create the journal at {self.path}: {error.strerror}",
                hint="pass a writable directory with --home or set SMARTBUILD_HOME",
            ) from None
        db = sqlite3.connect(self.path, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")  # writes the header at once
            migrations.migrate(db)
        finally:
            db.close()

    def _check_file(self) -> None:
        """Refuse an existing file that is not a SQLite database; never replace it."""
        deadline = time.monotonic() + min(self.wait_s, 2.0)
        while True:
            try:
                with open(self.path, "rb") as file:
                    head = file.read(len(HEADER))
                    if not head and time.time() - os.fstat(file.fileno()).st_mtime > 10:
                        deadline = 0  # empty for a while: nobody is creating it
            except OSError as error:
                raise JournalError(
                    f"cannot read the journal {self.path}: {error.strerror}",
                    hint="check its permissions, or pass another --home",
                ) from None
            # a filesystem without hard links creates in place: give that creator a moment
            if head or time.monotonic() >= deadline:
                break
            time.sleep(0.02)
        if not head:
            raise JournalError(
                f"the journal {self.path} is empty (0 bytes): it is not a smartbuild journal",
                hint="if it should hold your journal, restore it from a backup; if it never held "
                f"anything, delete it yourself and run again ({diagnose.KEEP})",
            )
        if head != HEADER:
            raise JournalError(
                f"the journal {self.path} is not a SQLite database (it starts with {head[:8]!r})",
                hint="restore journal.db from a backup, or use another directory with --home; "
                + diagnose.KEEP,
            )

    def _connect(self) -> sqlite3.Connection:
        """Connect read-write, or read-only where the file or its directory cannot be written."""
        writable = os.access(self.path, os.W_OK) and os.access(self.path.parent, os.W_OK)
        if writable:
            try:
                return readonly.connect(self.path, "rw", self.wait_s)
            except sqlite3.Error as error:
                why = diagnose.translate(error, self.path, "open the journal", self.wait_s)
                self._disk_full = why.message.startswith("journal full")
                cannot_write = diagnose.code(error) in (diagnose.READONLY, diagnose.CANTOPEN)
                if not (self._disk_full or cannot_write):
                    raise why from None
                # a full disk still lets `log` read; writes then say the disk is full
        self.read_only = True
        try:
            db, self._copy = readonly.open_read_only(self.path, self.wait_s, self.warnings)
        except sqlite3.Error as error:
            raise diagnose.translate(error, self.path, "read the journal", self.wait_s) from None
        return db

    def _prepare(self) -> None:
        """Set the pragmas, migrate, and mark the runs of dead processes interrupted."""
        if migrations.is_foreign(self.db):
            raise JournalError(
                f"{self.path} is a SQLite database but not a smartbuild journal",
                hint="use another directory with --home; " + diagnose.KEEP,
            )
        if self.db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.execute("PRAGMA foreign_keys=ON")
        migrations.migrate(self.db)
        self._reap()

    def _reap(self) -> None:
        """Mark the runs of processes that are gone as interrupted (every open does this)."""
        if not leases.dead_runs(self.db):  # reads only: a run in progress does not block this
            return
        try:
            with self._transaction("mark interrupted runs"):
                self.interrupted = leases.reap(self.db)
        except JournalError as error:  # locked for long: reading still works, the next open marks
            self.warnings.append(f"{error.message} (runs of gone processes stay unmarked)")

    def close(self) -> None:
        """Close the database connection."""
        with suppress(Exception):
            self.db.close()
        readonly.discard(self._copy)
        self._copy = None

    # the one way to write ------------------------------------------------------------------------
    @contextmanager
    def _transaction(self, action: str, *, durable: bool = True) -> Iterator[None]:
        """Run the body in an IMMEDIATE transaction; any failure raises JournalError, committed or not."""
        if self._disk_full:
            raise diagnose.full(self.path, action)
        if self.read_only:
            raise JournalError(
                f"the journal {self.path} is read-only here: cannot {action}",
                hint="commands that write need a writable --home; `smartbuild log` can read it",
            )
        with self._lock:
            began = time.monotonic()
            try:
                if not durable:
                    self.db.execute("PRAGMA synchronous=NORMAL")
                self.db.execute("BEGIN IMMEDIATE")
                yield
                self.db.execute("COMMIT")
            except sqlite3.Error as error:
                waited = time.monotonic() - began
                if self.db.in_transaction:
                    with suppress(sqlite3.Error):
                        self.db.execute("ROLLBACK")
                raise diagnose.translate(error, self.path, action, round(waited, 1)) from None
            except BaseException:
                if self.db.in_transaction:
                    with suppress(sqlite3.Error):
                        self.db.execute("ROLLBACK")
                raise
            finally:
                if not durable:
                    with suppress(sqlite3.Error):
                        self.db.execute("PRAGMA synchronous=FULL")

    def _fetch(self, sql: str, args: tuple[Any, ...] | list[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return self.db.execute(sql, args).fetchall()
            except sqlite3.Error as error:
                raise diagnose.translate(
                    error, self.path, "read the journal", self.wait_s
                ) from None

    def start_run(
        self,
        run_id: str,
        command: str,
        *,
        started: float | None = None,
        user: str | None = None,
        host: str | None = None,
        profile_path: str | None = None,
        profile_sha256: str | None = None,
        dry_run: bool = False,
        expires: float | None = None,
        parent_run: str | None = None,
        kind: str = "run",
    ) -> None:
        """Record a run (run, rollback or release) as running, with this process's pid, host, start."""
        me = processes.current()
        with self._transaction(f"record run {run_id}"):
            self.db.execute(
                "INSERT INTO runs (id, started, command, user, host, profile_path, profile_sha256,"
                " dry_run, expires, parent_run, kind, pid, process_start) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    run_id, time.time() if started is None else started, command,
                    user or processes.user_name(),
                    host or me.host, profile_path, profile_sha256, int(dry_run), expires,
                    parent_run, kind, me.pid, me.start,
                ),
            )  # fmt: skip

    def finish_run(self, run_id: str, status: str, *, finished: float | None = None) -> None:
        """Record how a run ended and give back every lease it still holds."""
        with self._transaction(f"record the end of run {run_id}"):
            self.db.execute(
                "UPDATE runs SET finished = ?, status = ? WHERE id = ?",
                (time.time() if finished is None else finished, status, run_id),
            )
            self.db.execute("DELETE FROM leases WHERE run = ?", (run_id,))

    def add_entry(
        self,
        run_id: str,
        kind: str,
        *,
        device: str | None = None,
        point: str | None = None,
        before: Any = None,
        requested: Any = None,
        after: Any = None,
        verified: bool | None = None,
        message: str | None = None,
        plugin: str | None = None,
        plugin_version: str | None = None,
        data: dict[str, Any] | None = None,
        at: float | None = None,
    ) -> int:
        """Commit one entry (fsynced) and return its id; raise JournalError if it is not committed.

        The write path relies on this: after a failed ``intent`` nothing may be sent to a device.
        """
        with self._transaction(f"record {kind} of {device or 'run'} {point or run_id}"):
            cursor = self.db.execute(
                "INSERT INTO entries (run, time, kind, device, point, before, requested, after,"
                " verified, message, plugin, plugin_version, data)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    run_id, time.time() if at is None else at, kind, device, point,
                    _dump(before), _dump(requested), _dump(after),
                    None if verified is None else int(verified), message, plugin, plugin_version,
                    _dump(data) if data else None,
                ),
            )  # fmt: skip
            return int(cursor.lastrowid or 0)

    def record(self, event: Event) -> None:
        """Write one event durably (runs for run-started/finished, entries otherwise)."""
        data = event.data or {}
        if event.kind == "run-started":
            self.start_run(
                event.run_id, str(data.get("command", "?")), started=event.time,
                user=data.get("user"), host=data.get("host"),
                profile_path=data.get("profile_path"), profile_sha256=data.get("profile_sha256"),
                dry_run=bool(data.get("dry_run")), expires=data.get("expires"),
                parent_run=data.get("parent_run"), kind=str(data.get("kind") or "run"),
            )  # fmt: skip
        elif event.kind == "run-finished":
            self.finish_run(event.run_id, str(data.get("status", "ok")), finished=event.time)
        else:
            self.add_entry(
                event.run_id, event.kind, device=event.device, point=event.point,
                before=event.before, requested=event.requested, after=event.after,
                verified=event.verified, message=event.message, plugin=event.plugin,
                plugin_version=event.plugin_version, data=event.data, at=event.time,
            )  # fmt: skip


def _dump(value: Any) -> str | None:
    return None if value is None else json.dumps(value, default=str, ensure_ascii=False)
