"""The SQLite action journal: WAL, named migrations, mode 0600, write leases, safe opening.

The contract the write path relies on:

- ``open_journal(home)`` opens the journal of a home directory (a new handle each call). A missing
  journal is created complete and linked into place atomically (120 concurrent first starts all
  succeed). An existing file is never recreated, moved or deleted: an empty, foreign or damaged one
  is a ``JournalError`` naming the path and what to do. Where the file or its directory cannot be
  written (a read-only filesystem) it opens read-only: queries work, writes raise ``JournalError``.
  Every read-write open marks runs whose process is gone (same host: pid gone or reused, judged by
  pid + process start time) as ``interrupted`` and frees their leases.
- A locked journal is waited for ``$SMARTBUILD_JOURNAL_WAIT`` seconds (default 5, or
  ``open_journal(home, wait_s=…)``), then ``JournalError`` names the holder (run id, command, pid).
  A full disk is ``JournalError("journal full: … N MiB free")``.
- ``record(event)`` journals a model event (the session's event bus calls it before any observer);
  ``start_run(run_id, command, …)`` / ``finish_run(run_id, status)`` record a run (finishing also
  releases its leases). ``add_entry(run_id, kind, device=…, point=…, before=…, requested=…,
  after=…, verified=…, message=…)`` commits one fsynced entry and returns its id, or raises
  ``JournalError``: **when adding an ``intent`` raises, send nothing to the device.** Entry kinds
  are free text; the write outcomes are ``intent`` then one of written, unchanged, refused, rejected,
  unknown, reverted, conflict.
- Write leases, one live run per device: ``acquire_lease(device_id, run_id, command, wait_s=0,
  poll_s=0.05) -> Lease`` (a single INSERT in an IMMEDIATE transaction; re-acquiring by the same run
  returns its lease) raises ``LeaseHeld`` (a ``SafetyRefusal``, exit 5) naming the holding run, its
  command and since when after ``wait_s``; a holder whose process is gone is reclaimed and its run
  marked interrupted. ``release_lease(lease)``, ``release_leases(run_id)``, ``leases()``; the
  ``with journal.lease(…)`` block. From asyncio: ``await acquire_lease_async(…)``,
  ``release_lease_async(lease)``, ``async with journal.lease_async(…)`` (each try runs in a worker
  thread; waits are ``asyncio.sleep``). Order per device: lease → read before → intent → write.
- Queries: ``runs()``, ``run(id)``, ``entries(run=, device=, since=, kinds=)``, ``resolve_run``,
  ``last_run``, ``unresolved(entries)``. A value that no longer decodes is a ``Damaged`` marker in
  its field and the entry lists it under ``damaged``: skip such entries when restoring.
"""

from __future__ import annotations

from pathlib import Path

from smartbuild.journal.leases import Lease, LeaseHeld
from smartbuild.journal.migrations import MIGRATIONS
from smartbuild.journal.queries import (
    ENTRY_COLUMNS,
    RUN_COLUMNS,
    Damaged,
    rollback_command,
    unresolved,
)
from smartbuild.journal.store import FILENAME, Journal

__all__ = [
    "ENTRY_COLUMNS", "FILENAME", "MIGRATIONS", "RUN_COLUMNS", "Damaged", "Journal", "Lease",
    "LeaseHeld", "open_journal", "rollback_command", "unresolved",
]  # fmt: skip


def open_journal(home: Path, *, wait_s: float | None = None) -> Journal:
    """Open the journal of a home directory (the caller closes it; nothing is cached)."""
    return Journal(Path(home).resolve(), wait_s=wait_s)
