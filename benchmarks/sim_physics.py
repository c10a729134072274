"""Simulated-building speed: one January day of 12 zones, physics alone and with KPIs.

Prints median wall times over N runs of (a) 1440 `Building.step(60, now)` calls, (b) the same
day through `simulate_day` with a setback controller and KPI computation, at dt 60 and 300 s,
and the simulated-to-wall-clock speed-up; exit 1 when a target below is missed.
Run: PYTHONPATH=src python benchmarks/sim_physics.py
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from smartbuild.sim.building.kpi import comfort_band, simulate_day
from smartbuild.sim.building.physics import Building, ZoneSpec

KINDS = ("office", "home", "school", "hotel")
ZONES = [ZoneSpec(f"z{i:02}", KINDS[i % 4], 80.0 + 20 * i) for i in range(12)]
BERLIN = ZoneInfo("Europe/Berlin")
DAY = date(2026, 1, 14)
MAX_KPI_OVERHEAD = 1.5  # the controller, sampling and KPIs may add at most half the physics cost
MIN_SPEED_UP = 3600 * 1000 / 12  # a 12-zone day fast enough for 1000 zones at the top --speed


def physics_only(dt_s: int) -> float:
    """Return seconds for one day of steps with no controller and no sampling."""
    b = Building.from_zones(ZONES, seed=1)
    t = datetime(DAY.year, DAY.month, DAY.day, tzinfo=BERLIN)
    b.step(0, t)
    start = time.perf_counter()
    for _ in range(86400 // dt_s):
        t += timedelta(seconds=dt_s)
        b.step(dt_s, t)
    return time.perf_counter() - start


def setback(now: datetime, b: Building) -> None:
    """Heat to 21 °C from 06:00 to 19:00 on weekdays, 16 °C otherwise."""
    occupied = 6 <= now.hour < 19 and now.weekday() < 5
    for z in b.zones.values():
        z.set_heating_setpoint(21.0 if occupied else 16.0)


def with_kpis(dt_s: int) -> float:
    """Return seconds for `simulate_day` (controller, sampling and KPIs)."""
    start = time.perf_counter()
    simulate_day(
        lambda: Building.from_zones(ZONES, seed=1),
        DAY,
        BERLIN,
        setback,
        comfort_band(),
        1000.0,
        lambda _t: 0.30,
        dt_s,
    )
    return time.perf_counter() - start


def main() -> int:
    """Run the benchmark, print one line per case; exit 1 when a target is missed."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    walls = {}
    for name, fn in (("physics only", physics_only), ("simulate_day + KPIs", with_kpis)):
        for dt_s in (60, 300):
            walls[name, dt_s] = wall = statistics.median(fn(dt_s) for _ in range(runs))
            print(
                f"{name:20} 12 zones dt={dt_s:3} s: {wall * 1000:7.1f} ms/day "
                f"({86400 / wall:,.0f}x real time)"
            )
    overhead = walls["simulate_day + KPIs", 60] / walls["physics only", 60]
    speed = 86400 / walls["physics only", 60]
    ok = overhead <= MAX_KPI_OVERHEAD and speed >= MIN_SPEED_UP
    print(f"controller + KPIs / physics only (dt 60 s): {overhead:.2f}x (target <= "
          f"{MAX_KPI_OVERHEAD}x); physics {speed:,.0f}x real time (target >= {MIN_SPEED_UP:,.0f}x: "
          f"1000 zones at --speed 3600): {'met' if ok else 'NOT met'}")  # fmt: skip
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
