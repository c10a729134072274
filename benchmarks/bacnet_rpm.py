"""B2: ReadPropertyMultiple against single ReadProperty requests: a request-count ratio.

50 simulated VAV boxes (6 points each) are read 5 times over by the bacnet-ip transport, once
with the template's ReadPropertyMultiple coalescing and once with it switched off (``rpm:
false``: one ReadProperty per point, the baseline measured in the same run). Devices are served
in this process (run it inside `unshare -n`).

    PYTHONPATH=src .venv/bin/python benchmarks/bacnet_rpm.py [--devices 50] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from support.bacnet_peers import device, vav_boxes

GOAL_RATIO = 0.2  # 6 points: one request instead of six


async def read_all(count: int, rounds: int, rpm: bool) -> tuple[float, int, int]:
    """Return (seconds, readings without error, requests) of reading every point `rounds` times."""
    from smartbuild.sim.peers.bacnet_devices import start_all, stop
    from smartbuild.transports.bacnet.transport import BacnetTransport

    served = await start_all(vav_boxes(count))
    devices = [device(d.address, f"vav{i}", rpm=rpm) for i, d in enumerate(served)]
    transport = BacnetTransport()
    good = 0
    try:
        started = time.perf_counter()
        for _ in range(rounds):
            results = await asyncio.gather(
                *(transport.read(d, list(d.template.points)) for d in devices)
            )
            good += sum(1 for readings in results for r in readings if r.ok)
        elapsed = time.perf_counter() - started
    finally:
        await transport.aclose()
        for d in served:
            stop(d)
    return elapsed, good, sum(s.requests for s in transport.stats.values())


def main() -> int:
    """Run B2, print the figures; exit 1 when a goal is missed."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--devices", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    points = 6 * args.devices * args.rounds
    rpm = asyncio.run(read_all(args.devices, args.rounds, rpm=True))
    single = asyncio.run(read_all(args.devices, args.rounds, rpm=False))
    for label, (seconds, good, requests) in (("RPM", rpm), ("ReadProperty (baseline)", single)):
        print(f"B2 {label}: {good}/{points} points in {seconds:.2f} s with {requests} requests")
    ratio = rpm[2] / max(single[2], 1)
    print(f"B2 request ratio RPM / ReadProperty: {ratio:.3f} (goal <= {GOAL_RATIO}); "
          f"time ratio {rpm[0] / single[0]:.2f}")  # fmt: skip
    misses = []
    if rpm[1] != points or single[1] != points:
        misses.append("not every point was read")
    if ratio > GOAL_RATIO:
        misses.append(f"request ratio {ratio:.3f}")
    print("B2 goals:", "met" if not misses else "MISSED: " + "; ".join(misses))
    return 1 if misses else 0


if __name__ == "__main__":
    raise SystemExit(main())
