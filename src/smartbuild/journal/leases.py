"""Per-device write leases: one writing run per device at a time, across processes.

A lease is one row in ``leases`` (device is the primary key), taken by a single INSERT inside an
IMMEDIATE transaction, so two processes can never both hold a device. A holder whose process is gone
(same host; pid gone, a zombie, or reused — the start time tells) is reclaimed and its run marked
``interrupted``. Lease commits skip the fsync: a lease only matters between living processes, which
see it at once, and the intent entry that follows is synced together with it.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from smartbuild.errors import SafetyRefusal
from smartbuild.journal import processes

LEASE_COLUMNS = ("device", "run", "command", "acquired", "pid", "host", "process_start")


@dataclass(frozen=True)
class Lease:
    """The right of one run to write one device."""

    device: str
    run: str
    command: str
    acquired: float
    pid: int | None = None
    host: str | None = None
    process_start: str | None = None

    def to_json(self) -> dict[str, Any]:
        """Return JSON-ready data."""
        return {k: getattr(self, k) for k in LEASE_COLUMNS if k != "process_start"}


class LeaseHeld(SafetyRefusal):
    """Another live run holds the write lease of a device (exit 5)."""

    def __init__(self, holder: Lease, waited_s: float) -> None:
        self.holder = holder
        self.waited_s = waited_s
        since = datetime.fromtimestamp(holder.acquired).strftime("%Y-%m-%d %H:%M:%S")
        age = max(0.0, time.time() - holder.acquired)
        where = f", pid {holder.pid} on {holder.host}" if holder.pid else ""
        super().__init__(
            f"{holder.device} is being written by run {holder.run} "
            f"(`smartbuild {holder.command}`{where}) since {since} ({age:.0f} s); "
            f"waited {waited_s:g} s for it",
            hint="run again when that run is done; a lease whose process is gone is reclaimed "
            "by itself (`smartbuild log` lists the leases held now)",
        )

    def to_json(self) -> dict[str, object]:
        """Return the error with the holding lease."""
        data = super().to_json()
        data["holder"] = self.holder.to_json()
        return data


class Leasing:
    """The lease half of a Journal."""

    db: sqlite3.Connection
    _lock: threading.RLock
    _has_leases: bool

    if TYPE_CHECKING:  # provided by the Journal that mixes this in (store.py)

        def _transaction(self, action: str, *, durable: bool = True) -> Any: ...

        def _fetch(
            self, sql: str, args: tuple[Any, ...] | list[Any] = ()
        ) -> list[tuple[Any, ...]]: ...

    def _try_lease(self, device_id: str, run_id: str, command: str) -> tuple[Lease | None, Lease]:
        """Take the lease if free (or held by a dead process); return (ours or None, holder)."""
        me = processes.current()
        mine = Lease(device_id, run_id, command, time.time(), me.pid, me.host, me.start)
        with self._transaction(f"take the write lease of {device_id}", durable=False):
            try:
                self.db.execute(
                    f"INSERT INTO leases ({', '.join(LEASE_COLUMNS)}) VALUES (?,?,?,?,?,?,?)",
                    tuple(getattr(mine, k) for k in LEASE_COLUMNS),
                )
                return mine, mine
            except sqlite3.IntegrityError:
                pass
            row = self.db.execute(
                f"SELECT {', '.join(LEASE_COLUMNS)} FROM leases WHERE device = ?", (device_id,)
            ).fetchone()
            holder = Lease(*row)
            if holder.run == run_id:
                return holder, holder  # this run holds it already: leases are per run, not counted
            if processes.alive(holder.pid, holder.host, holder.process_start) is not False:
                return None, holder
            # its process is gone: so is every lease of its run
            self.db.execute("DELETE FROM leases WHERE run = ?", (holder.run,))
            _interrupt(self.db, holder.run)
            self.db.execute(
                f"INSERT INTO leases ({', '.join(LEASE_COLUMNS)}) VALUES (?,?,?,?,?,?,?)",
                tuple(getattr(mine, k) for k in LEASE_COLUMNS),
            )
            return mine, mine

    def acquire_lease(
        self, device_id: str, run_id: str, command: str, wait_s: float = 0.0, poll_s: float = 0.05
    ) -> Lease:
        """Take the write lease of a device, waiting up to wait_s; raise LeaseHeld otherwise."""
        deadline = time.monotonic() + max(0.0, wait_s)
        while True:
            lease, holder = self._try_lease(device_id, run_id, command)
            if lease is not None:
                return lease
            left = deadline - time.monotonic()
            if left <= 0:
                raise LeaseHeld(holder, wait_s)
            time.sleep(min(poll_s, left))

    async def acquire_lease_async(
        self, device_id: str, run_id: str, command: str, wait_s: float = 0.0, poll_s: float = 0.05
    ) -> Lease:
        """Take a write lease without blocking the event loop (each try runs in a thread)."""
        import asyncio

        deadline = time.monotonic() + max(0.0, wait_s)
        while True:
            lease, holder = await asyncio.to_thread(self._try_lease, device_id, run_id, command)
            if lease is not None:
                return lease
            left = deadline - time.monotonic()
            if left <= 0:
                raise LeaseHeld(holder, wait_s)
            await asyncio.sleep(min(poll_s, left))

    def release_lease(self, lease: Lease) -> bool:
        """Give a lease back; return False when it was not held any more (reclaimed or released)."""
        with self._transaction(f"release the write lease of {lease.device}", durable=False):
            cursor = self.db.execute(
                "DELETE FROM leases WHERE device = ? AND run = ?", (lease.device, lease.run)
            )
            return cursor.rowcount > 0

    async def release_lease_async(self, lease: Lease) -> bool:
        """Give a lease back without blocking the event loop."""
        import asyncio

        return await asyncio.to_thread(self.release_lease, lease)

    def release_leases(self, run_id: str) -> int:
        """Give back every lease of a run; return how many were held."""
        with self._transaction(f"release the write leases of run {run_id}", durable=False):
            return self.db.execute("DELETE FROM leases WHERE run = ?", (run_id,)).rowcount

    @contextmanager
    def lease(
        self, device_id: str, run_id: str, command: str, wait_s: float = 0.0, poll_s: float = 0.05
    ) -> Iterator[Lease]:
        """Hold a device's write lease for the body of a with-block."""
        held = self.acquire_lease(device_id, run_id, command, wait_s, poll_s)
        try:
            yield held
        finally:
            self.release_lease(held)

    @asynccontextmanager
    async def lease_async(
        self, device_id: str, run_id: str, command: str, wait_s: float = 0.0, poll_s: float = 0.05
    ) -> AsyncIterator[Lease]:
        """Hold a device's write lease for the body of an async with-block."""
        held = await self.acquire_lease_async(device_id, run_id, command, wait_s, poll_s)
        try:
            yield held
        finally:
            await self.release_lease_async(held)

    def leases(self) -> list[Lease]:
        """Return the leases held now, oldest first."""
        if not self._has_leases:  # an older journal read where it cannot be upgraded
            return []
        rows = self._fetch(f"SELECT {', '.join(LEASE_COLUMNS)} FROM leases ORDER BY acquired")
        return [Lease(*row) for row in rows]


def _interrupt(db: sqlite3.Connection, run_id: str) -> None:
    """Mark a run whose process is gone as interrupted (inside the caller's transaction)."""
    db.execute(
        "UPDATE runs SET status = 'interrupted' WHERE id = ? AND status = 'running'", (run_id,)
    )


def dead_runs(db: sqlite3.Connection) -> list[str]:
    """Return runs marked running, or holding leases, whose process is gone (reads only).

    Runs without a pid come from v0.1, which recorded none: marking them is safe, because a run that
    is in fact still going sets its own status when it finishes.
    """
    dead = []
    for run_id, pid, host, start in db.execute(
        "SELECT id, pid, host, process_start FROM runs WHERE status = 'running'"
    ).fetchall():
        if pid is None or processes.alive(pid, host, start) is False:
            dead.append(run_id)
    for run_id, pid, host, start in db.execute(
        "SELECT run, pid, host, process_start FROM leases"
    ).fetchall():
        if run_id not in dead and processes.alive(pid, host, start) is False:
            dead.append(run_id)
    return dead


def reap(db: sqlite3.Connection) -> list[str]:
    """Mark runs of dead processes interrupted and free their leases (inside a write transaction)."""
    dead = dead_runs(db)
    for run_id in dead:
        _interrupt(db, run_id)
        db.execute("DELETE FROM leases WHERE run = ?", (run_id,))
    return dead
