"""Journal safety costs: a write lease per device write against a plain entry commit, same run.

1. Lease overhead: median time of acquire + release of a device's write lease, against the median
   time of committing one journal entry (fsynced, as every intent and outcome is), measured
   interleaved in the same process on the same journal. Goal: the lease costs at most 2x an entry.
2. First-start race: N processes (default 120) open a fresh journal at the same moment (a barrier)
   and each records a run. Goal: every one succeeds (v0.1 lost 14 of 120). With --cli the racers
   are real `smartbuild log` processes instead of forked ones (slower; no barrier).

Exits non-zero when a start fails or the lease overhead exceeds 2x.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GOAL_RATIO = 2.0


def lease_overhead(home: Path, rounds: int) -> tuple[float, float]:
    """Return the median seconds of (acquire + release, one entry commit), interleaved."""
    from smartbuild.journal import Journal

    journal = Journal(home)
    journal.start_run("bench", "profile apply bench.yaml")
    leases, entries = [], []
    for i in range(rounds):
        device = f"dev-{i % 25}"
        start = time.perf_counter()
        lease = journal.acquire_lease(device, "bench", "profile apply bench.yaml")
        journal.release_lease(lease)
        leases.append(time.perf_counter() - start)
        start = time.perf_counter()
        journal.add_entry("bench", "intent", device=device, point="heating_setpoint",
                          before=20.5, requested=21.0, message="benchmark")  # fmt: skip
        entries.append(time.perf_counter() - start)
    journal.finish_run("bench", "ok")
    journal.close()
    return statistics.median(leases), statistics.median(entries)


def _racer(home: str, barrier, queue) -> None:  # type: ignore[no-untyped-def]
    try:
        from smartbuild.journal import open_journal
        from smartbuild.model.events import new_run_id

        barrier.wait(60)
        open_journal(Path(home)).start_run(new_run_id(), "log")
        queue.put("ok")
    except BaseException as error:
        queue.put(f"{type(error).__name__}: {error}")


def first_start_race(home: Path, count: int) -> list[str]:
    """Start `count` forked processes on a fresh home at once; return their results."""
    ctx = multiprocessing.get_context("fork")
    barrier, queue = ctx.Barrier(count), ctx.Queue()
    procs = [ctx.Process(target=_racer, args=(str(home), barrier, queue)) for _ in range(count)]
    for proc in procs:
        proc.start()
    results = [queue.get(timeout=300) for _ in procs]
    for proc in procs:
        proc.join(60)
    return results


def cli_race(home: Path, count: int) -> list[str]:
    """Start `count` real `smartbuild log` processes on a fresh home; return their results."""
    argv = [sys.executable, "-m", "smartbuild", "--home", str(home), "--json", "log"]
    procs = [
        subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for _ in range(count)
    ]
    results = []
    for proc in procs:
        _, err = proc.communicate(timeout=600)
        results.append("ok" if proc.returncode == 0 else err.strip().splitlines()[-1])
    return results


def main() -> int:
    """Run both measurements, print them, return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=300, help="lease/entry pairs to time")
    parser.add_argument("--starts", type=int, default=120, help="racing first starts")
    parser.add_argument("--cli", action="store_true", help="race real `smartbuild log` processes")
    args = parser.parse_args()
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        lease_s, entry_s = lease_overhead(Path(tmp) / "bench", args.rounds)
        ratio = lease_s / entry_s
        print(f"entry commit (fsynced)       median {entry_s * 1e3:8.3f} ms")
        print(f"lease acquire + release      median {lease_s * 1e3:8.3f} ms")
        print(f"lease / entry = {ratio:.2f}x (goal <= {GOAL_RATIO:g}x)")
        if ratio > GOAL_RATIO:
            failed = True
        race = cli_race if args.cli else first_start_race
        began = time.perf_counter()
        results = race(Path(tmp) / "race", args.starts)
        ok = results.count("ok")
        kind = "smartbuild log processes" if args.cli else "forked processes"
        print(
            f"first-start race: {ok}/{len(results)} {kind} succeeded "
            f"in {time.perf_counter() - began:.1f} s (goal: all)"
        )
        for problem in sorted({r for r in results if r != "ok"})[:5]:
            print(f"  failure: {problem}")
        if ok != len(results):
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
