"""The cost of write safety on a 25-write profile apply: leases and settle verification.

Starts the simulated building (12 zones, as the demo) and applies the office profile at 10:00,
which writes about 25 points over Modbus; a rollback between rounds puts the old values back.
Each round applies once on each path, in turns, in this one run:

- v0.1's path: read before, journal, write, read back (no lease, no second read);
- the lease alone (a journal row per device, taken and given back);
- the full path: lease, read back, then the settle wait and a second read per device.

Prints the median of each and the ratios to v0.1's path. Goals: a lease costs at most 5 ms per
device written (two small journal transactions; on a 25-write apply v0.1's whole path takes only
a few tens of milliseconds on loopback, so a ratio alone would judge a fixed cost); the full path
costs at most v0.1's path + the longest settle time of the devices + 25 %.
Exit 1 when a goal is missed. Run: python benchmarks/write_path.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from smartbuild.services import writes  # noqa: E402
from smartbuild.services.session import Session  # noqa: E402
from smartbuild.sim.launch import SimProcess, free_base  # noqa: E402

PROFILE = "office-en16798-cat2"
AT = "2026-01-15 10:00"


class NoLeaseSession(Session):
    """A session whose writes take no lease (v0.1 had none)."""

    def _lease(self, run: Any) -> Any:
        return None


async def apply_once(session: Session, settle: bool) -> tuple[float, int, int]:
    """Apply the profile, return (seconds, writes, devices), then roll it back (not timed)."""
    original = writes.settle_time
    if not settle:
        writes.settle_time = lambda device, point: 0.0  # type: ignore[assignment]
    try:
        live = await session.plan(PROFILE, AT)
        started = time.perf_counter()
        result = await session.apply(live, confirm=lambda q: True)
        seconds = time.perf_counter() - started
    finally:
        writes.settle_time = original  # type: ignore[assignment]
    bad = [o for o in result.outcomes if not o.status.ok]
    if bad:
        raise SystemExit(f"apply failed: {bad[:3]}")
    assert result.run is not None
    await session.rollback(result.run, confirm=lambda q: True)
    return seconds, len(result.outcomes), len({o.device for o in result.outcomes})


async def measure(site: Path, home: Path, rounds: int) -> tuple[dict[str, list[float]], int]:
    """Time each path `rounds` times, in turns."""
    paths = {
        "v0.1 path": (NoLeaseSession(site, home), False),
        "lease": (Session(site, home), False),
        "lease + settle": (Session(site, home), True),
    }
    times: dict[str, list[float]] = {name: [] for name in paths}
    count = devices = 0
    for _ in range(rounds):
        for name, (session, settle) in paths.items():
            seconds, count, devices = await apply_once(session, settle)
            times[name].append(seconds)
    for session, _ in paths.values():
        await session.aclose()
        session.close()
    print(f"{count} writes to {devices} devices per apply, {rounds} rounds")
    return times, devices


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sb-bench-") as tmp:
        home = Path(tmp)
        site = home / "site.yaml"
        sim = SimProcess(home / "sim", zones=12, speed=60, start_at="2026-01-15 09:30",
                         base=free_base(), site_out=site, extra=["--no-ble"])  # fmt: skip
        sim.start()
        try:
            times, devices = asyncio.run(measure(site, home, args.rounds))
        finally:
            sim.stop()
    median = {name: statistics.median(values) for name, values in times.items()}
    base = median["v0.1 path"]
    settle = writes.DEFAULT_SETTLE_S
    print(f"{'path':<16}{'median s':>10}{'vs v0.1':>9}")
    for name, value in median.items():
        print(f"{name:<16}{value:>10.3f}{value / base:>8.2f}x")
    per_device_ms = max(0.0, median["lease"] - base) / max(devices, 1) * 1000
    lease_ok = per_device_ms <= 5.0
    full_goal = (base + settle) * 1.25
    full_ok = median["lease + settle"] <= full_goal
    print(
        f"lease: {per_device_ms:.2f} ms per device (goal <= 5 ms) {'ok' if lease_ok else 'MISSED'}"
    )
    print(f"lease + settle: {median['lease + settle']:.3f} s (goal <= ({base:.3f} + {settle:g}) x "
          f"1.25 = {full_goal:.3f} s) {'ok' if full_ok else 'MISSED'}")  # fmt: skip
    return 0 if lease_ok and full_ok else 1


if __name__ == "__main__":
    sys.exit(main())
