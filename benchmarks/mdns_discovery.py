"""mDNS discovery time on loopback: N Shelly-like services announced by a rig in another process.

For 20 and 200 services, run the browser 10 times (fresh zeroconf each run, pinned to
127.0.0.1) and report the median time until all N are resolved, the slowest run, and how
many runs found all within 1.5 s (target: at least 9 of 10).

Runs are spaced by --pause seconds (default 1.5): a responder must not multicast the same
record twice within one second (RFC 6762 §6), so back-to-back runs would measure that rate
limit instead of discovery. Use --pause 0 to see it.

    PYTHONPATH=src .venv/bin/python benchmarks/mdns_discovery.py
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"
sys.path.insert(0, str(SRC))

from smartbuild.aio import run_sync  # noqa: E402
from smartbuild.transports.mdns.browser import MdnsService, browse  # noqa: E402

TARGET = 1.5


async def _rig(count: int) -> asyncio.subprocess.Process:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "smartbuild.sim.peers.mdns", "--synthetic", str(count),
        "--until-stdin-closes",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 30)
    if line.split() != [b"READY", str(count).encode()]:
        raise RuntimeError(f"rig did not start: {line!r}")
    return proc


async def _one_run(count: int, timeout: float) -> float | None:
    """Return seconds until all count services were resolved, or None if they were not."""
    seen: set[str] = set()
    all_at: list[float] = []
    start = time.perf_counter()

    def on_update(event: str, service: MdnsService) -> None:
        if event == "added":
            seen.add(service.name)
            if len(seen) == count and not all_at:
                all_at.append(time.perf_counter() - start)

    await browse(
        ["127.0.0.1"], ["_shelly._tcp"], timeout=timeout, expect=count, quiet=0.1,
        on_update=on_update,
    )  # fmt: skip
    return all_at[0] if all_at else None


@dataclass(frozen=True)
class Row:
    """The samples of one size (None = not all found before the timeout)."""

    count: int
    samples: list[float | None]

    @property
    def found(self) -> list[float]:
        """Return the runs that found every service."""
        return [s for s in self.samples if s is not None]

    @property
    def within(self) -> int:
        """Return how many runs found every service within the target."""
        return sum(1 for s in self.found if s <= TARGET)


async def _size(count: int, runs: int, pause: float, timeout: float) -> Row:
    proc = await _rig(count)
    try:
        samples = []
        for index in range(runs):
            if index:
                await asyncio.sleep(pause)
            samples.append(await _one_run(count, timeout))
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        await asyncio.wait_for(proc.wait(), 10)
    return Row(count, samples)


def main() -> int:
    """Run the benchmark and print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20, 200])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--pause", type=float, default=1.5)
    parser.add_argument("--timeout", type=float, default=5.0)
    parser.add_argument("--verbose", action="store_true", help="print every sample")
    args = parser.parse_args()

    rows = [run_sync(_size(n, args.runs, args.pause, args.timeout)) for n in args.sizes]
    print(f"mDNS discovery on 127.0.0.1, {args.runs} runs per size, {args.pause:g} s between runs")
    print(f"{'services':>8}  {'median s':>8}  {'max s':>6}  {'all within 1.5 s':>16}")
    ok = True
    for row in rows:
        median = f"{statistics.median(row.found):.3f}" if row.found else "-"
        worst = f"{max(row.found):.3f}" if row.found else "-"
        print(f"{row.count:>8}  {median:>8}  {worst:>6}  {row.within:>13}/{len(row.samples)}")
        if args.verbose:
            print("  samples:", [None if s is None else round(s, 3) for s in row.samples])
        ok = ok and row.within >= 0.9 * len(row.samples)
    print("target (>= 9/10 within 1.5 s):", "met" if ok else "NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
