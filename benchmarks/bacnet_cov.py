"""B3: change-of-value subscriptions against polling: traffic over 10 simulated minutes.

One VAV box (6 watched points) whose zone temperature changes every 30 s and occupancy every
120 s. Polling (the baseline, measured in the same run) reads every point every 2 s with
ReadPropertyMultiple — what it takes to see a change within 2 s; COV subscribes each object
(lifetime 300 s, renewed at half of it) and receives unconfirmed notifications. Traffic counts
datagrams: each request and its answer, each notification. Time runs 60x (10 minutes in 10 s;
the subscription lifetime scaled alike). Devices are served in this process (`unshare -n`).

    PYTHONPATH=src .venv/bin/python benchmarks/bacnet_cov.py [--speed 60]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from support.bacnet_peers import device, vav_boxes

SIM_SECONDS = 600.0
POLL_S, LIFETIME_S = 2.0, 300.0
GOAL_RATIO = 0.5  # COV needs at most half the datagrams of 2-second polling


async def changes(served: Any, speed: float) -> int:
    """Change the zone temperature every 30 s and occupancy every 120 s; return the changes."""
    from smartbuild.sim.peers.bacnet_devices import set_value

    count, t = 0, 0.0
    while t + 30 <= SIM_SECONDS:
        await asyncio.sleep(30 / speed)
        t += 30
        set_value(served, "zone-temp", 21.0 + (t % 120) / 100)
        count += 1
        if t % 120 == 0:
            set_value(served, "occupancy-sensor", "active" if (t // 120) % 2 else "inactive")
            count += 1
    return count


async def run(mode: str, speed: float) -> dict[str, Any]:
    """Watch one device for SIM_SECONDS by polling or by COV; return the traffic figures."""
    from smartbuild.sim.peers.bacnet_devices import start, stop
    from smartbuild.transports.bacnet.transport import BacnetTransport

    (served,) = vav_boxes(1)
    await start(served)
    dev = device(served.address, cov_lifetime=max(1, round(LIFETIME_S / speed)))
    transport = BacnetTransport()
    seen: list[Any] = []
    changer = asyncio.ensure_future(changes(served, speed))
    try:
        if mode == "poll":
            while not changer.done():
                seen += await transport.read(dev, list(dev.template.points))
                await asyncio.sleep(POLL_S / speed)
        else:
            follower = asyncio.ensure_future(transport.follow([dev], seen.append))
            await changer
            await asyncio.sleep(0.2)  # the last notification's way back
            follower.cancel()
            await asyncio.gather(follower, return_exceptions=True)
        made = await changer
    finally:
        await transport.aclose()
        stop(served)
    requests = sum(s.requests for s in transport.stats.values())
    temps = {r.value for r in seen if r.point == "zone_temperature"}
    return {"requests": requests, "notifications": transport.cov_notifications, "changes": made,
            "datagrams": 2 * requests + transport.cov_notifications, "temperatures": len(temps)}  # fmt: skip


def main() -> int:
    """Run B3, print the figures; exit 1 when a goal is missed."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--speed", type=float, default=60.0)
    args = parser.parse_args()
    poll = asyncio.run(run("poll", args.speed))
    cov = asyncio.run(run("cov", args.speed))
    for label, f in (("polling every 2 s (baseline)", poll), ("COV", cov)):
        print(f"B3 {label}: {f['datagrams']} datagrams ({f['requests']} requests, "
              f"{f['notifications']} notifications) for {f['changes']} changes; "
              f"{f['temperatures']} zone temperatures seen")  # fmt: skip
    ratio = cov["datagrams"] / max(poll["datagrams"], 1)
    print(f"B3 datagrams COV / polling over {SIM_SECONDS / 60:g} simulated minutes: {ratio:.2f} "
          f"(goal <= {GOAL_RATIO})")  # fmt: skip
    misses = []
    if ratio > GOAL_RATIO:
        misses.append(f"ratio {ratio:.2f}")
    if cov["temperatures"] < 4:  # the temperature cycles through 4 values (and the first)
        misses.append("COV missed temperature changes")
    print("B3 goals:", "met" if not misses else "MISSED: " + "; ".join(misses))
    return 1 if misses else 0


if __name__ == "__main__":
    raise SystemExit(main())
