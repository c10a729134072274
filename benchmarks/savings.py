"""Savings without penalties: every shipped profile against constant setpoints, over weeks.

For each shipped profile and period (two winter weeks, one summer week) the simulated building
of the profile's kind runs twice through `smartbuild.sim.building.compare` (the engine of
`smartbuild kpi`): constant setpoints (the v0.1 baseline) and the profile as controller. The
goals, all against constant setpoints in the same run:

    energy at least 10 % lower · 15-minute peak not higher (compared at 0.01 kW, the resolution
    a demand register shows) · discomfort <= 0.5 K·h per zone per day · CO2 excess (idis) not
    higher

It prints one row per profile and period and exits 1 when any goal is missed.
Run: `.venv/bin/python benchmarks/savings.py [--zones 8] [--step 120] [--jobs 2]` (about 3 min
on two cores; `--profile NAME` runs one profile).
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

PERIODS = (  # Monday to Sunday; the office profile was tuned on 2026-01-12..18 only
    ("winter 1", dt.date(2026, 1, 19), dt.date(2026, 1, 25)),
    ("winter 2", dt.date(2026, 2, 2), dt.date(2026, 2, 8)),
    ("summer", dt.date(2026, 6, 15), dt.date(2026, 6, 21)),
)
ENERGY_CUT_PCT = 10.0
TDIS_PER_ZONE_DAY = 0.5
ROUND = 1e-6  # KPIs within this count as equal
PEAK_RESOLUTION_KW = 0.01  # peaks are compared as a demand register shows them (10 W)


PEAK_WINDOW_S = 900.0


def peak_window(samples: Sequence[Any]) -> tuple[dt.datetime, float, float]:
    """Return the start of the highest 15-minute mean site power, its HVAC and other kW."""
    windows: dict[int, list[Any]] = {}
    for s in samples:
        windows.setdefault(math.floor(s.t.timestamp() / PEAK_WINDOW_S), []).append(s)
    k, top = max(windows.items(), key=lambda kv: sum(s.power_kw for s in kv[1]) / len(kv[1]))
    hvac = sum(s.hvac_kw for s in top) / len(top)
    begin = dt.datetime.fromtimestamp(k * PEAK_WINDOW_S, tz=top[0].t.tzinfo)
    return begin, hvac, sum(s.power_kw for s in top) / len(top) - hvac


def run(job: tuple[str, str, dt.date, dt.date, int, float]) -> dict[str, object]:
    """Compare one profile over one period; return the figures of one table row."""
    from smartbuild.profiles.loading import load_profile
    from smartbuild.sim.building.compare import compare

    path, period, first, last, zones, step = job
    profile = load_profile(path)
    start = time.perf_counter()
    c = compare(profile, first, zones, step, last=last)
    days = len(c.days)
    b, p = c.baseline, c.with_profile
    energy = 100.0 * (p.energy_kwh - b.energy_kwh) / b.energy_kwh
    tdis_day = max(d.with_profile.tdis_kh_per_zone for d in c.days)
    misses = []
    if energy > -ENERGY_CUT_PCT:
        misses.append("energy")
    if round(p.peak_kw / PEAK_RESOLUTION_KW) > round(b.peak_kw / PEAK_RESOLUTION_KW):
        misses.append("peak")
    if tdis_day > TDIS_PER_ZONE_DAY:
        misses.append("discomfort")
    if p.idis_ppmh_per_zone > b.idis_ppmh_per_zone + ROUND:
        misses.append("CO2")
    return {"profile": profile.profile, "kind": c.kind, "period": period, "days": days,
            "energy_pct": energy, "peak": (b.peak_kw, p.peak_kw),
            "tdis_mean": p.tdis_kh_per_zone / days, "tdis_worst_day": tdis_day,
            "idis": (b.idis_ppmh_per_zone, p.idis_ppmh_per_zone), "misses": misses,
            "where": [peak_window(samples) for samples in c.samples],
            "seconds": time.perf_counter() - start}  # fmt: skip


def main() -> int:
    """Run every shipped profile over every period and print the table."""
    from smartbuild.profiles.loading import shipped_profiles

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zones", type=int, default=8)
    parser.add_argument("--step", type=float, default=120.0, help="simulation step, s")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes")
    parser.add_argument("--profile", action="append", help="only these profiles (names)")
    args = parser.parse_args()
    paths = [p for p in shipped_profiles() if not args.profile or p.stem in args.profile]
    jobs = [(str(p), name, a, b, args.zones, args.step) for p in paths for name, a, b in PERIODS]
    start = time.perf_counter()
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        rows = list(pool.map(run, jobs))
    print(f"{'profile':<22} {'kind':<7} {'period':<9} {'energy':>8} {'peak kW (const→prof)':>21} "
          f"{'tdis K·h/zone/day (mean, worst)':>32} {'idis ppm·h/zone':>17}  goals")  # fmt: skip
    missed = 0
    for r in rows:
        (pb, pp), (ib, ip) = r["peak"], r["idis"]  # type: ignore[misc]
        misses = r["misses"]
        missed += bool(misses)
        verdict = "met" if not misses else "MISSED: " + ", ".join(misses)  # type: ignore[arg-type]
        print(f"{r['profile']:<22} {r['kind']:<7} {r['period']:<9} {r['energy_pct']:>+7.1f}% "
              f"{pb:>9.1f} → {pp:>6.1f} ({100 * (pp - pb) / pb:+5.1f}%) "
              f"{r['tdis_mean']:>14.2f}, {r['tdis_worst_day']:>5.2f}{'':>10} "
              f"{ib:>6.0f} → {ip:>6.0f}  {verdict}")  # fmt: skip
    peaks = [r for r in rows if "peak" in r["misses"]]  # type: ignore[operator]
    if peaks:
        print(
            "\nwhere the profile's peak is (15-min interval, mean kW: HVAC + other loads "
            "(EV charging, plugs, less PV); and where the constant-setpoint run has its own)"
        )
    for r in peaks:
        (tb, hb, ob), (tp, hp, op) = r["where"]  # type: ignore[misc]
        print(f"  {r['profile']:<22} {r['period']:<9} profile {tp:%a %d %b %H:%M}: HVAC "
              f"{hp:5.1f} + other {op:5.1f}; constant {tb:%a %d %b %H:%M}: HVAC {hb:5.1f} "
              f"+ other {ob:5.1f}")  # fmt: skip
    print(f"\n{len(rows)} runs of 7 days (+ warm-up) with {args.zones} zones at {args.step:g} s "
          f"in {time.perf_counter() - start:.0f} s; goals: energy <= -{ENERGY_CUT_PCT:g} %, peak "
          f"not higher, discomfort <= {TDIS_PER_ZONE_DAY} K·h/zone/day, idis not higher")  # fmt: skip
    print(f"{len(rows) - missed} of {len(rows)} profile-periods meet every goal")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
