"""Per-device write leases between real processes."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from smartbuild.errors import ExitStatus, SafetyRefusal
from smartbuild.journal import Journal, Lease, LeaseHeld, open_journal
from smartbuild.journal.processes import current
from tests.journal.procs import HOLD_LEASE, holding


@pytest.fixture
def journal(isolated_home: Path) -> Journal:
    j = Journal(isolated_home)
    j.start_run("run-a", "profile apply a.yaml")
    j.start_run("run-b", "write th heating_setpoint 21")
    return j


def test_one_holder_per_device_and_release(journal):
    lease = journal.acquire_lease("th-1", "run-a", "profile apply a.yaml")
    assert isinstance(lease, Lease) and lease.pid == os.getpid()
    assert journal.acquire_lease("th-1", "run-a", "profile apply a.yaml") == lease  # same run
    journal.acquire_lease("th-2", "run-b", "write th-2")  # another device is free
    with pytest.raises(LeaseHeld) as info:
        journal.acquire_lease("th-1", "run-b", "write th heating_setpoint 21")
    error = info.value
    assert isinstance(error, SafetyRefusal) and error.exit_status == ExitStatus.REFUSED == 5
    assert error.message.startswith("th-1 is being written by run run-a (`smartbuild profile apply")
    assert f"pid {os.getpid()}" in error.message and "since 20" in error.message
    assert error.to_json()["holder"]["run"] == "run-a"
    assert journal.release_lease(lease) is True
    assert journal.release_lease(lease) is False
    assert journal.acquire_lease("th-1", "run-b", "write").run == "run-b"
    assert [lease.device for lease in journal.leases()] == ["th-2", "th-1"]


def test_finishing_a_run_releases_its_leases(journal):
    journal.acquire_lease("th-1", "run-a", "profile apply a.yaml")
    journal.acquire_lease("th-2", "run-a", "profile apply a.yaml")
    journal.finish_run("run-a", "ok")
    assert journal.leases() == []
    with journal.lease("th-1", "run-b", "write") as held:
        assert journal.leases() == [held]
    assert journal.leases() == []


def test_a_second_process_waits_then_refuses_naming_the_holder(isolated_home):
    with holding(HOLD_LEASE, str(isolated_home), "holder1", "th-1", "30") as holder:
        journal = Journal(isolated_home)
        journal.start_run("late", "write th-1")
        began = time.monotonic()
        with pytest.raises(LeaseHeld) as info:
            journal.acquire_lease("th-1", "late", "write th-1", wait_s=0.3, poll_s=0.02)
        assert 0.3 <= time.monotonic() - began < 3
        assert "run holder1 (`smartbuild profile apply office.yaml`" in info.value.message
        assert f"pid {holder.pid}" in info.value.message and "waited 0.3 s" in info.value.message


def test_a_waiting_writer_gets_the_lease_when_the_holder_finishes(isolated_home):
    with holding(HOLD_LEASE, str(isolated_home), "holder1", "th-1", "0.5"):
        journal = Journal(isolated_home)
        journal.start_run("next", "write th-1")
        lease = journal.acquire_lease("th-1", "next", "write th-1", wait_s=20, poll_s=0.02)
        assert lease.run == "next"
        assert journal.run("holder1")["status"] == "ok"


def test_a_killed_holder_is_reclaimed_and_its_run_interrupted(isolated_home):
    with holding(HOLD_LEASE, str(isolated_home), "holder1", "th-1", "60") as holder:
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
        journal = Journal(isolated_home)  # opening already reaps the dead run
        assert journal.interrupted == ["holder1"]
        assert journal.leases() == []
    with holding(HOLD_LEASE, str(isolated_home), "holder2", "th-1", "60") as holder:
        journal = Journal(isolated_home)
        journal.start_run("next", "write th-1")
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
        # the lease is found dead while waiting for it
        assert journal.acquire_lease("th-1", "next", "write th-1", wait_s=5).run == "next"
        assert journal.run("holder2")["status"] == "interrupted"


def _insert_holder(journal: Journal, pid: int, host: str, start: str | None) -> None:
    journal.start_run("ghost", "profile apply ghost.yaml")
    with journal._transaction("plant a lease"):
        journal.db.execute(
            "INSERT INTO leases VALUES ('th-1', 'ghost', 'profile apply ghost.yaml', ?, ?, ?, ?)",
            (time.time(), pid, host, start),
        )


def test_a_reused_pid_does_not_keep_a_lease(journal):
    """The pid lives, but it is another process now: its start time differs."""
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        me = current()
        assert me.start is not None
        boot, pidns, _ = me.start.split("/")
        _insert_holder(journal, other.pid, me.host, f"{boot}/{pidns}/1")
        assert journal.acquire_lease("th-1", "run-b", "write").run == "run-b"
        assert journal.run("ghost")["status"] == "interrupted"
    finally:
        other.kill()
        other.wait()


@pytest.mark.parametrize(("host", "start"), [("elsewhere", None), (None, "BOOT/other-namespace/1")])
def test_a_holder_we_cannot_judge_keeps_its_lease(journal, host, start):
    me = current()
    assert me.start is not None
    start = (start or "").replace("BOOT", me.start.split("/")[0]) or None
    _insert_holder(journal, 999_999_999, host or me.host, start)
    with pytest.raises(LeaseHeld, match="run ghost"):
        journal.acquire_lease("th-1", "run-b", "write")


def _contend(home: str, worker: int, rounds: int, barrier, queue) -> None:
    journal = open_journal(Path(home))
    run_id = f"w{worker}"
    journal.start_run(run_id, "profile apply")
    counter, marker = Path(home) / "counter", Path(home) / "inside"
    barrier.wait(30)
    overlaps = 0
    for _ in range(rounds):
        with journal.lease("dev", run_id, "profile apply", wait_s=60, poll_s=0.002):
            try:
                os.close(os.open(marker, os.O_CREAT | os.O_EXCL))
            except FileExistsError:
                overlaps += 1
            value = int(counter.read_text() or 0) if counter.exists() else 0
            time.sleep(0.001)
            counter.write_text(str(value + 1))
            marker.unlink(missing_ok=True)
    queue.put(overlaps)


def test_concurrent_processes_never_hold_a_device_together(isolated_home):
    Journal(isolated_home).close()
    ctx = multiprocessing.get_context("fork")
    workers, rounds = 8, 15
    barrier, queue = ctx.Barrier(workers), ctx.Queue()
    procs = [
        ctx.Process(target=_contend, args=(str(isolated_home), w, rounds, barrier, queue))
        for w in range(workers)
    ]
    for proc in procs:
        proc.start()
    overlaps = [queue.get(timeout=120) for _ in procs]
    for proc in procs:
        proc.join(30)
    assert overlaps == [0] * workers
    assert int((isolated_home / "counter").read_text()) == workers * rounds


def test_async_acquire_waits_without_blocking_the_loop(isolated_home):
    async def scenario() -> tuple[Lease, int]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        task = asyncio.create_task(ticker())
        journal = Journal(isolated_home)
        journal.start_run("async", "hub run")
        try:
            async with journal.lease_async(
                "th-1", "async", "hub run", wait_s=20, poll_s=0.02
            ) as got:
                assert journal.leases() == [got]
            assert journal.leases() == []
            with pytest.raises(LeaseHeld):
                held = journal.acquire_lease("th-2", "other", "x")
                await journal.acquire_lease_async("th-2", "async", "hub run", wait_s=0.1)
            await journal.release_lease_async(held)
        finally:
            task.cancel()
        return got, ticks

    with holding(HOLD_LEASE, str(isolated_home), "holder1", "th-1", "0.6"):
        got, ticks = asyncio.run(scenario())
    assert got.run == "async"
    assert ticks >= 20  # the loop kept running while the lease was awaited
