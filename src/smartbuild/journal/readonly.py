"""Reading a journal where nothing may be written: a read-only file, directory or filesystem.

SQLite reads a WAL database through an index file (``journal.db-shm``) that it must be able to
create beside it. Where it cannot, a journal that was closed cleanly is read as it stands
(``immutable``); one whose ``journal.db-wal`` still holds entries (the writer was killed, then the
filesystem went read-only) is read from a private copy of both files, so no entry is missed.
"""

from __future__ import annotations

import atexit
import shutil
import sqlite3
import tempfile
from contextlib import suppress
from pathlib import Path
from urllib.parse import quote


def connect(path: Path, mode: str, wait_s: float) -> sqlite3.Connection:
    """Open the journal through a URI with the given mode; check that it reads."""
    uri = f"file:{quote(str(path))}?mode={mode}"
    db = sqlite3.connect(
        uri, uri=True, isolation_level=None, timeout=wait_s, check_same_thread=False
    )
    try:
        db.execute(f"PRAGMA busy_timeout = {int(wait_s * 1000)}")
        db.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except BaseException:
        db.close()
        raise
    return db


def open_read_only(
    path: Path, wait_s: float, warnings: list[str]
) -> tuple[sqlite3.Connection, str | None]:
    """Return a read-only connection and the private copy's directory, if one was needed."""
    with suppress(sqlite3.Error):
        return connect(path, "ro", wait_s), None  # the index file exists or can be made
    wal = Path(f"{path}-wal")
    if wal.exists() and wal.stat().st_size > 0:
        copy = tempfile.mkdtemp(prefix="smartbuild-journal-")
        atexit.register(shutil.rmtree, copy, True)  # commands keep the journal open to the end
        try:
            for suffix in ("", "-wal"):
                shutil.copyfile(f"{path}{suffix}", f"{copy}/{path.name}{suffix}")
            return connect(Path(copy) / path.name, "rw", wait_s), copy
        except (OSError, sqlite3.Error) as error:
            shutil.rmtree(copy, ignore_errors=True)
            warnings.append(
                f"{wal} cannot be read from this read-only place ({error}): "
                "the most recent entries may be missing"
            )
    return connect(path, "ro&immutable=1", wait_s), None


def discard(copy: str | None) -> None:
    """Remove a private copy made for reading."""
    if copy:
        shutil.rmtree(copy, ignore_errors=True)
