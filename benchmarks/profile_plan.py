"""Profile planning cost: 1,000 vs 10,000 zones with in-memory values, and YAML load costs.

Prints the best and median plan time of several runs for each size, the ratio of the best times
(target: 10x the zones costs <= 12x the time; best-of-N is the least disturbed by other load on
a shared machine), the cost per point, and YAML load + validation times: each shipped profile,
and a site's point list per point. Run: `.venv/bin/python benchmarks/profile_plan.py`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

from smartbuild.profiles.planner import PointState, ZoneInfo, plan_profile  # noqa: E402
from smartbuild.profiles.schema import load_profile_text  # noqa: E402

PROFILE = REPO / "src" / "smartbuild" / "profiles" / "library" / "office-en16798-cat2.yaml"
AT = dt.datetime(2026, 1, 12, 10, 0)  # Monday, office hours, heating season
ROLES = (  # role, unit, current value (mix of change / unchanged / deadband)
    ("heating_setpoint", "°C", (18.0, 20.0, 19.9)),
    ("cooling_setpoint", "°C", (26.0, 24.0, 24.1)),
    ("co2_setpoint", "ppm", (1000.0, 1220.0, 1200.0)),
    ("ventilation_mode", None, (0.0, 2.0, 2.0)),
    ("zone_air_temperature", "°C", (21.0, 21.0, 21.0)),
)


def site(n_zones: int) -> tuple[list[ZoneInfo], list[PointState]]:
    """Return n office zones with five points each (four planned, one sensor)."""
    zones = [ZoneInfo(f"f{i % 20}-z{i}", "main", i % 20, ("office",), 50.0) for i in range(n_zones)]
    points = [
        PointState(
            f"th-{zone.id}",
            role,
            role,
            zone.id,
            unit,
            values[i % 3],
            role != "zone_air_temperature",
            0.0,
            2000.0,
        )
        for i, zone in enumerate(zones)
        for role, unit, values in ROLES
    ]
    return zones, points


def times(fn: object, runs: int) -> list[float]:
    """Return the wall times of runs calls of fn(), each after a full collection, GC paused.

    As timeit does: the cyclic collector's passes over the whole live heap grow with the size of
    the test data, not with the planner's work, and would hide the planner's own scaling.
    """
    samples = []
    for _ in range(runs):
        gc.collect()
        gc.disable()
        try:
            start = time.perf_counter()
            fn()  # type: ignore[operator]
            samples.append(time.perf_counter() - start)
        finally:
            gc.enable()
    return samples


def points_yaml(points: list[PointState]) -> str:
    """Return a site-like YAML list of points, as a device inventory file would hold them."""
    import yaml

    rows = [
        {
            "device": p.device,
            "point": p.point,
            "role": p.role,
            "zone": p.zone,
            "unit": p.unit,
            "current": p.current,
            "writable": p.writable,
            "min": p.min,
            "max": p.max,
        }
        for p in points
    ]
    return yaml.safe_dump({"points": rows}, allow_unicode=True, sort_keys=False)


def main() -> int:
    """Run the benchmark and print the figures; exit 1 when the target is missed."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()

    profile = load_profile_text(PROFILE.read_text("utf-8"), file=PROFILE.name)
    results = {}
    for n in (1_000, 10_000):
        zones, points = site(n)
        plan = plan_profile(profile, zones, points, tz="Europe/Berlin", at=AT)  # warm-up
        samples = times(
            lambda z=zones, p=points: plan_profile(profile, z, p, tz="Europe/Berlin", at=AT),
            args.runs,
        )
        results[n] = best = min(samples)
        print(
            f"plan {n:>6} zones, {len(points):>6} points, {len(plan.actions):>6} actions: "
            f"best {best * 1000:7.1f} ms, median {statistics.median(samples) * 1000:7.1f} ms "
            f"({best / len(points) * 1e6:.2f} µs/point)  counts={plan.counts}"
        )
    ratio = results[10_000] / results[1_000]
    verdict = "ok" if ratio <= 12 else "TOO SLOW"
    print(f"ratio 10,000 / 1,000 zones (best times): {ratio:.2f}x (target <= 12x: {verdict})")

    import yaml

    for path in sorted((REPO / "src" / "smartbuild" / "profiles" / "library").glob("*.yaml")):
        text = path.read_text("utf-8")
        seconds = statistics.median(times(lambda t=text: load_profile_text(t), args.runs * 4))
        print(f"profile load+validate {path.name:<28} {seconds * 1000:6.2f} ms")

    _, points = site(1_000)
    text = points_yaml(points)

    def load_points() -> list[PointState]:
        rows = yaml.safe_load(text)["points"]
        return [PointState(**row) for row in rows]

    seconds = statistics.median(times(load_points, 3))
    print(
        f"points YAML safe_load + PointState: {len(points)} points in {seconds * 1000:.1f} ms "
        f"({seconds / len(points) * 1e6:.1f} µs/point)"
    )
    return 0 if ratio <= 12 else 1
    try:
        loader = yaml.CSafeLoader  # type: ignore[attr-defined]
    except AttributeError:
        return
    seconds = statistics.median(times(lambda: yaml.load(text, Loader=loader), 3))
    print(f"  (same text with the libyaml CSafeLoader: {seconds / len(points) * 1e6:.1f} µs/point)")


if __name__ == "__main__":
    raise SystemExit(main())
