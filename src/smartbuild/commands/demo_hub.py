"""The demo's hub step: `hub run` on simulated time, a schedule transition and an override release."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from pathlib import Path
from typing import Any

HUB_START = "2026-01-15 11:00"  # the hub's simulated clock starts here
TRANSITION = "11:02"  # two simulated minutes later the demo schedule moves to its late mode
OVERRIDE_S = 150.0  # the override expires half a simulated minute after the transition
WAIT_REAL_S = 30.0  # the step gives up after this long, whatever the speed

SHIFT = f"""\
profile: demo-shift
title: Demo shift (the hub applies its transition)
applies_to: {{tags: [office]}}
modes:
  day: {{heating_setpoint: 21 °C}}
  late: {{heating_setpoint: 19 °C}}
schedule:
  weekly:
    mon-sun: [{{from: "00:00", to: "{TRANSITION}", mode: day}}]
  default: late
"""
BOOST = """\
profile: demo-cool
title: Demo cooling override (released by the hub when it expires)
applies_to: {tags: [office]}
modes:
  cool: {cooling_setpoint: 26 °C}
schedule: {default: cool}
"""
HUB_BLOCK = """
profiles: [demo-profiles]
hub:
  schedules:
    - profile: demo-shift
  poll: {enabled: false}
"""


class HubStepFailed(Exception):
    """The hub did not do what the step shows."""


def prepare(site: Path, home: Path) -> Path:
    """Write the demo profiles beside the site and give the site a hub block; return the override."""
    folder = site.parent / "demo-profiles"
    folder.mkdir(exist_ok=True)
    (folder / "demo-shift.yaml").write_text(SHIFT)
    boost = folder / "demo-cool.yaml"
    boost.write_text(BOOST)
    text = site.read_text()
    if "\nhub:" not in text:
        site.write_text(text.rstrip("\n") + "\n" + HUB_BLOCK)
    return boost


async def run_hub(session: Any, site: Path, home: Path, speed: float) -> dict[str, Any]:
    """Hold an override on one zone, run the hub over a transition and the override's expiry."""
    from zoneinfo import ZoneInfo

    from smartbuild.hub.face import Clock
    from smartbuild.hub.runner import Hub

    boost = prepare(site, home)
    session.reload()
    loaded = session.site()
    tz = ZoneInfo(loaded.site.timezone)
    zone = sorted(z for z, spec in loaded.site.zones.items() if "office" in spec.tags)[0]
    clock = Clock(dt.datetime.fromisoformat(HUB_START).replace(tzinfo=tz), speed, tz)
    live = await session.plan(str(boost), at=clock.now().isoformat(), zones=[zone])
    held = await session.apply(live, confirm=lambda question: True, expires=clock.time() + OVERRIDE_S,
                               command=f"profile apply demo-cool --zone {zone} --for {OVERRIDE_S:g}s")  # fmt: skip
    warnings: list[str] = []
    hub = Hub(site, home, clock=clock, warn=warnings.append)
    task = asyncio.ensure_future(hub.run(signals=False))
    deadline = time.monotonic() + WAIT_REAL_S
    try:
        while not (hub.scheduler.transition_count >= 1 and hub.releases):
            if task.done() or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
    finally:
        hub.stop()
        await asyncio.gather(task, return_exceptions=True)
    if task.done() and task.exception() is not None:
        error = task.exception()
        raise HubStepFailed(f"the hub stopped: {type(error).__name__}: {error}")
    if hub.scheduler.transition_count < 1 or not hub.releases:
        raise HubStepFailed(f"within {WAIT_REAL_S:g} s the hub made {hub.scheduler.transition_count} "
                            f"transition(s) and {len(hub.releases)} release(s); {warnings[-3:]}")  # fmt: skip
    release = hub.releases[0]
    return {
        "zone": zone,
        "override": held.run,
        "override_writes": sum(1 for o in held.outcomes if o.status.ok),
        "transitions": hub.scheduler.transition_count,
        "runs": [
            {
                "at": r["at"][11:19],
                "command": r["command"],
                "writes": r["writes"],
                "failed": r["failed"],
            }
            for r in hub.runs
        ],
        "released": release["restored"],
        "release_lag_s": release["lag_s"],
        "conflicts": release["conflicts"],
        "errors": [e["message"] for e in hub.errors],
    }
