"""B1: BACnet discovery of 100 simulated VAV boxes on loopback: time and requests.

100 bacpypes3 devices (127.82.0.1-100:47809) are discovered by unicast Who-Is to the range,
then each device's identity, object list and objects are read — the same code as
`smartbuild discover --bacnet-target 127.82.0.1-100:47809`. The baseline, measured in the same
run, is the same discovery of devices that reject ReadPropertyMultiple (every property its own
ReadProperty, as older controllers force). Devices are served in this process (run it inside
`unshare -n`).

    PYTHONPATH=src .venv/bin/python benchmarks/bacnet_discovery.py [--devices 100]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from support.bacnet_peers import NET, vav_boxes

GOAL_SECONDS_PER_100 = 5.0
GOAL_REQUEST_RATIO = 0.5  # RPM discovery needs at most half the requests of ReadProperty only


async def discover_all(count: int, rpm: bool) -> tuple[float, int, int]:
    """Serve count devices; return (seconds, devices found with a template, requests)."""
    from smartbuild.services.registry import builtin_registry
    from smartbuild.sim.peers.bacnet_devices import start_all, stop
    from smartbuild.transports.bacnet import discovery
    from smartbuild.transports.bacnet.family import BacnetOptions
    from smartbuild.transports.base import DiscoverContext

    devices = await start_all(vav_boxes(count, rpm=rpm))
    found: list[Any] = []
    requests = 0
    original = discovery.Stack

    class Counting(original):  # type: ignore[misc,valid-type]
        def close(self) -> None:
            nonlocal requests
            requests = self.requests
            super().close()

    discovery.Stack = Counting
    try:
        options = BacnetOptions(targets=[f"{NET}.1-{count}:47809"], timeout=1.0)
        context = DiscoverContext(builtin_registry().template_values())
        started = time.perf_counter()
        await discovery.discover(options, context, found.append, "bacnet-ip")
        elapsed = time.perf_counter() - started
    finally:
        discovery.Stack = original
        for device in devices:
            stop(device)
    identified = sum(1 for c in found if c.identity.get("model") == "VAV-B1")
    return elapsed, identified, requests


def main() -> int:
    """Run B1, print the figures; exit 1 when a goal is missed."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--devices", type=int, default=100)
    args = parser.parse_args()
    fast = asyncio.run(discover_all(args.devices, rpm=True))
    slow = asyncio.run(discover_all(args.devices, rpm=False))
    for label, (seconds, n, requests) in (("RPM", fast), ("ReadProperty only (baseline)", slow)):
        print(f"B1 {label}: {n}/{args.devices} devices in {seconds:.2f} s, {requests} requests "
              f"({requests / max(n, 1):.1f} per device)")  # fmt: skip
    ratio = fast[2] / max(slow[2], 1)
    budget = GOAL_SECONDS_PER_100 * args.devices / 100
    print(f"B1 requests RPM / ReadProperty only: {ratio:.2f} (goal <= {GOAL_REQUEST_RATIO}); "
          f"time {fast[0]:.2f} s (goal <= {budget:.1f} s); baseline time ratio {fast[0] / slow[0]:.2f}")  # fmt: skip
    misses = []
    if fast[1] != args.devices or slow[1] != args.devices:
        misses.append("not every device was found and identified")
    if fast[0] > budget:
        misses.append(f"discovery took {fast[0]:.2f} s")
    if ratio > GOAL_REQUEST_RATIO:
        misses.append(f"request ratio {ratio:.2f}")
    print("B1 goals:", "met" if not misses else "MISSED: " + "; ".join(misses))
    return 1 if misses else 0


if __name__ == "__main__":
    raise SystemExit(main())
