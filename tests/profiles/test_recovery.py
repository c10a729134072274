"""The recovery learner: episodes, hours per kelvin against the drive, powers, the quiet peak."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from smartbuild.profiles.recovery import (
    DEFAULT_H_PER_K,
    REACHED_K,
    Snapshot,
    ZoneReading,
    find_episodes,
    learn_recovery,
)

BERLIN = ZoneInfo("Europe/Berlin")


def history(days: int, rates: dict[str, float], outdoor: list[float]) -> list[Snapshot]:
    """Nights at 16 °C, a step to 20.5 °C at 04:00, then `rates[zone]` K/h up to the setpoint."""
    snaps = []
    start = dt.datetime(2026, 1, 5, 1, tzinfo=BERLIN)
    for minute in range(0, days * 1440, 5):
        t = start + dt.timedelta(minutes=minute)
        hour = t.hour + t.minute / 60
        t_out = outdoor[minute // 1440]
        zones = {}
        kw = 5.0
        for zone, rate in rates.items():
            # a colder day (bigger drive) recovers slower: rate scales with 1 / (1 + drive/40)
            r = rate / (1 + (20.5 - t_out) / 40)
            if 4 <= hour < 19:
                temp = min(16.0 + r * (hour - 4), 20.5)
                sp = 20.5
                kw += 2.0 if temp < 20.0 else 0.5
            else:
                temp, sp = 16.0, 16.0
            zones[zone] = ZoneReading(temp, sp, 30.0)
        snaps.append(Snapshot(t, t_out, kw, zones))
    return snaps


def test_episodes_are_found_per_zone_with_their_length_and_drive() -> None:
    snaps = history(3, {"a": 2.0, "b": 4.0}, [0.0, 0.0, 0.0])
    episodes = find_episodes(snaps)
    by_zone = {z: [e for e in episodes if e.zone == z] for z in ("a", "b")}
    # the history starts at 01:00: 3 h of setback before the first step teach nothing
    assert [len(v) for v in by_zone.values()] == [2, 2]
    a, b = by_zone["a"][0], by_zone["b"][0]
    assert a.direction == "heat" and a.drive_k == pytest.approx(20.5)
    assert a.delta_k == pytest.approx(20.5 - 16.0 - REACHED_K)
    rate_a = 2.0 / (1 + 20.5 / 40)
    assert a.hours == pytest.approx(4.0 / rate_a, abs=5 / 60)
    assert b.hours < a.hours
    # both zones stepped together: the meter's 4 kW step is shared
    assert a.power_kw == pytest.approx(2.0, abs=0.01)


def test_learned_rates_follow_the_outdoor_temperature() -> None:
    outdoor = [5.0, -5.0, 0.0, 8.0, -8.0, 2.0]
    model = learn_recovery(history(6, {"a": 2.0}, outdoor), min_history=3)
    rate, seen = model.rate("a", "heat")
    assert seen == 5 and rate is not None
    for t_out in (-8.0, 0.0, 8.0):
        true_h_per_k = (1 + (20.5 - t_out) / 40) / 2.0
        # a 5-minute history and a conservative spread: within a few minutes per kelvin
        assert rate.hours_per_k(20.5 - t_out) == pytest.approx(true_h_per_k, abs=0.06)
    assert rate.hours_per_k(28.5) > rate.hours_per_k(12.5)  # colder outside: slower


def test_too_little_history_gives_the_default() -> None:
    model = learn_recovery(history(3, {"a": 2.0}, [0.0] * 3), min_history=3)
    rate, seen = model.rate("a", "heat")
    assert rate is None and seen == 2
    assert learn_recovery([]).rate("a", "heat") == (None, 0)
    assert DEFAULT_H_PER_K == 1.0


def test_powers_and_the_peak_without_recoveries() -> None:
    model = learn_recovery(history(4, {"a": 2.0, "b": 2.0}, [0.0] * 4), areas={"a": 100, "b": 50})
    assert model.power_kw["a"] == pytest.approx(2.0, abs=0.01)
    assert model.w_per_m2 == pytest.approx(30.0)  # the median of 20 and 40 W/m²
    assert model.zone_power_kw("c", 80.0) == pytest.approx(model.w_per_m2 * 0.08)  # type: ignore[operator]
    # outside recoveries the meter reads 5 kW + 2 x 0.5 kW
    assert model.quiet_peak_kw == pytest.approx(6.0)


def test_a_snapshot_is_taken_from_the_points_a_plan_read() -> None:
    from smartbuild.profiles.planner import PointState
    from smartbuild.profiles.recovery import snapshot

    t = dt.datetime(2026, 1, 15, 5, tzinfo=BERLIN)
    points = [
        PointState("m", "p", "site_active_power", None, "kW", 7.5, False),
        PointState("w", "t", "outdoor_temperature", None, "°C", -2.0, False),
        PointState("th", "t", "zone_air_temperature", "a", "°C", 17.0, False),
        PointState("co2", "t", "zone_air_temperature", "a", "°C", 99.0, False),  # first one wins
        PointState("th", "h", "heating_setpoint", "a", "°C", 20.5, True),
        PointState("th", "c", "cooling_setpoint", "a", "°C", None, True),
        PointState("th2", "h", "heating_setpoint", "b", "°C", 16.0, True),  # no temperature
    ]
    snap = snapshot(t, points, "site_active_power")
    assert (snap.t, snap.outdoor_c, snap.site_kw) == (t, -2.0, 7.5)
    assert snap.zones == {"a": ZoneReading(17.0, 20.5, None)}
