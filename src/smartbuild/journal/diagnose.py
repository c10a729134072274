"""Turn SQLite failures into JournalErrors that say what happened and what to do.

Never "may be corrupt" for a full disk, never "internal error" for a lock, and never advice that
loses the rollback history (smartbuild does not move, delete or recreate an existing journal).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any

from smartbuild.errors import JournalError
from smartbuild.journal import processes

# primary result codes (sqlite3.h); Python < 3.11 has no sqlite_errorcode, so messages back them up
BUSY, LOCKED, READONLY, IOERR, CORRUPT, FULL, CANTOPEN, NOTADB = 5, 6, 8, 10, 11, 13, 14, 26
_BY_MESSAGE = {
    "database is locked": BUSY,
    "database table is locked": LOCKED,
    "attempt to write a readonly database": READONLY,
    "disk i/o error": IOERR,
    "database disk image is malformed": CORRUPT,
    "database or disk is full": FULL,
    "unable to open database file": CANTOPEN,
    "file is not a database": NOTADB,
}
KEEP = "smartbuild never moves, deletes or recreates an existing journal"


def code(error: sqlite3.Error) -> int | None:
    """Return the primary SQLite result code of an error."""
    extended = getattr(error, "sqlite_errorcode", None)
    if isinstance(extended, int):
        return extended & 0xFF
    return _BY_MESSAGE.get(str(error).lower())


def free_space(path: Path) -> str:
    """Return the free space of the filesystem holding path, for people."""
    try:
        free = float(shutil.disk_usage(path.parent).free)
    except OSError:
        return "free space unknown"
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if free < 1024 or unit == "GiB":
            return f"{free:.0f} {unit} free" if unit == "bytes" else f"{free:.1f} {unit} free"
        free /= 1024
    return ""  # pragma: no cover


def translate(error: sqlite3.Error, path: Path, action: str, waited_s: float) -> JournalError:
    """Return the JournalError for a SQLite error met while doing `action` on the journal."""
    kind = code(error)
    if kind in (BUSY, LOCKED):
        return JournalError(
            f"the journal {path} is locked: waited {waited_s:g} s to {action}; {holder(path)}",
            hint="run again when that is done, or wait longer: SMARTBUILD_JOURNAL_WAIT=SECONDS",
        )
    if kind == FULL or (kind == IOERR and _nearly_full(path)):
        return full(path, action)
    if kind == READONLY:
        return JournalError(
            f"the journal {path} is read-only here: cannot {action}",
            hint="commands that write need a writable --home; `smartbuild log` reads it as it is",
        )
    if kind in (CORRUPT, NOTADB):
        return damaged(path, str(error))
    if kind == IOERR:
        return JournalError(
            f"the journal {path}: cannot {action}: disk I/O error",
            hint="check the disk (dmesg, fsck); keep a copy of the journal before anything else",
        )
    if kind == CANTOPEN:
        return JournalError(
            f"cannot open the journal {path}: {error}",
            hint="check that the directory exists and is readable; pass another --home otherwise",
        )
    return JournalError(f"the journal {path}: cannot {action}: {error}")


def full(path: Path, action: str) -> JournalError:
    """Return the error for a journal on a full disk."""
    return JournalError(
        f"journal full: cannot {action}: the disk holding {path} is full ({free_space(path)})",
        hint="free space on that disk (or raise its quota) and run again; the journal is intact",
    )


def damaged(path: Path, detail: str) -> JournalError:
    """Return the error for a journal SQLite reports as damaged."""
    return JournalError(
        f"the journal {path} is damaged: {detail}",
        hint=f"keep the file and copy it first; `sqlite3 {path} .recover` saves what is readable "
        f"into a new database; {KEEP}",
    )


def _nearly_full(path: Path) -> bool:
    try:
        return shutil.disk_usage(path.parent).free < 64 * 1024
    except OSError:
        return False


def lock_pids(path: Path) -> list[int]:
    """Return pids holding a POSIX write lock on the journal or its WAL index (Linux /proc/locks)."""
    inodes = set()
    for suffix in ("", "-shm", "-wal"):
        try:
            inodes.add(os.stat(f"{path}{suffix}").st_ino)
        except OSError:
            continue
    try:
        with open("/proc/locks", encoding="ascii") as file:
            lines = file.read().splitlines()
    except OSError:
        return []
    pids: list[int] = []
    for line in lines:
        fields = line.split()
        # "1: POSIX  ADVISORY  WRITE 4242 08:01:1234567 120 120"
        if len(fields) < 6 or fields[1] != "POSIX" or fields[3] != "WRITE":
            continue
        try:
            pid, inode = int(fields[4]), int(fields[5].rsplit(":", 1)[1])
        except (ValueError, IndexError):
            continue
        if inode in inodes and pid not in pids and pid != os.getpid():
            pids.append(pid)
    return pids


def _command_line(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as file:
            raw = file.read()
    except OSError:
        return None
    words = [w.decode(errors="replace") for w in raw.split(b"\0") if w]
    return " ".join(words)[:120] or None


def running_runs(path: Path) -> list[dict[str, Any]]:
    """Return runs marked running whose process lives (read without waiting for any lock)."""
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=0.2)
        try:
            rows = db.execute(
                "SELECT id, command, started, pid, host, process_start FROM runs"
                " WHERE status = 'running' ORDER BY started DESC LIMIT 20"
            ).fetchall()
        finally:
            db.close()
    except sqlite3.Error:
        return []
    keys = ("id", "command", "started", "pid", "host", "process_start")
    runs = [dict(zip(keys, row, strict=True)) for row in rows]
    return [
        r for r in runs if processes.alive(r["pid"], r["host"], r["process_start"]) is not False
    ]


def describe_run(run: dict[str, Any]) -> str:
    """Return 'run ID (COMMAND, pid N on HOST, since HH:MM:SS)'."""
    try:
        since = datetime.fromtimestamp(float(run["started"])).strftime("%Y-%m-%d %H:%M:%S")
    except (TypeError, ValueError, OverflowError, OSError):
        since = "an unknown time"
    where = f"pid {run['pid']} on {run['host']}, " if run.get("pid") else ""
    return f"run {run['id']} (`smartbuild {run['command']}`, {where}since {since})"


def holder(path: Path) -> str:
    """Return who holds the journal's write lock, as far as it can be known."""
    pids = lock_pids(path)
    runs = running_runs(path)
    named = [describe_run(r) for r in runs if r["pid"] in pids]
    if named:
        return "it is held by " + ", ".join(named)
    if pids:
        return "it is held by " + ", ".join(
            f"pid {pid}" + (f" ({cmd})" if (cmd := _command_line(pid)) else "") for pid in pids
        )
    if runs:
        return "running now: " + ", ".join(describe_run(r) for r in runs[:3])
    return "no smartbuild run is in progress: another program holds it (an open sqlite3 shell?)"
