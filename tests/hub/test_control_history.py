"""What the hub learns between transitions: bounded memory, kept across restarts, damage said."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from smartbuild.hub.control import RecoveryHistory, history_path, needs_control
from smartbuild.profiles.loading import load_profile, resolve_profile
from smartbuild.profiles.planner import PointState
from smartbuild.profiles.recovery import learn_recovery
from tests.profiles.test_recovery import BERLIN, history


def states(snap) -> list[PointState]:  # type: ignore[no-untyped-def]
    """The points a plan would have read at one snapshot."""
    out = [PointState("meter", "p", "site_active_power", None, "kW", snap.site_kw, False),
           PointState("ahu", "t", "outdoor_temperature", None, "°C", snap.outdoor_c, False)]  # fmt: skip
    for zone, r in snap.zones.items():
        out += [PointState(f"th-{zone}", "t", "zone_air_temperature", zone, "°C", r.temperature_c, False),
                PointState(f"th-{zone}", "h", "heating_setpoint", zone, "°C", r.heating_setpoint_c, True),
                PointState(f"th-{zone}", "c", "cooling_setpoint", zone, "°C", r.cooling_setpoint_c, True)]  # fmt: skip
    return out


def test_the_hub_learns_what_the_whole_history_teaches_with_a_bounded_window(
    tmp_path: Path,
) -> None:
    snaps = history(6, {"a": 2.0, "b": 4.0}, [0.0, -5.0, 3.0, 0.0, -2.0, 1.0])
    path = history_path(tmp_path, tmp_path / "site.yaml", "office-en16798-cat2")
    learner = RecoveryHistory(path, 3, {"a": 50.0, "b": 100.0})
    for snap in snaps:
        learner.observe(snap.t, states(snap), "site_active_power")
    learner.learn(snaps[-1].t)
    # the window holds 36 h, not six days; the recoveries of every day were kept as they passed
    assert len(learner.window) == 36 * 12
    everything = learn_recovery(snaps, areas={"a": 50.0, "b": 100.0})
    assert learner.model is not None
    assert learner.model.episodes == everything.episodes == 10
    for key, rate in everything.rates.items():
        assert learner.model.rates[key].c0 == pytest.approx(rate.c0)
        assert learner.model.rates[key].c1 == pytest.approx(rate.c1)
    assert learner.model.quiet_peak_kw == pytest.approx(everything.quiet_peak_kw)
    # saved as it learned: a restarted hub starts where this one stopped, without snapshots
    assert path.stat().st_mode & 0o777 == 0o600
    again = RecoveryHistory(path, 3, {"a": 50.0, "b": 100.0})
    again.load()
    assert again.problem is None and not again.window
    assert again.model is not None and again.model.rates == learner.model.rates
    assert json.loads(path.read_text())["format"] == 1


def test_a_damaged_file_is_said_and_learning_starts_afresh(tmp_path: Path) -> None:
    path = tmp_path / "hub" / "recovery-x.json"
    path.parent.mkdir()
    path.write_text('{"format": 1, "episodes": [{"zone": 1}]')
    learner = RecoveryHistory(path, 3, {})
    learner.load()
    assert learner.problem is not None and str(path) in learner.problem
    assert learner.model is None and not learner.episodes
    learner.learn(dt.datetime(2026, 1, 5, tzinfo=BERLIN))  # and a good file replaces it
    assert json.loads(path.read_text())["episodes"] == []


def test_which_profiles_the_hub_plans_between_transitions() -> None:
    shipped = {name: load_profile(resolve_profile(name)) for name in
               ("office-en16798-cat2", "peak-shaving-ev", "hotel-room-setback")}  # fmt: skip
    assert all(needs_control(p) for p in shipped.values())  # optimal start, shedding
    plain = shipped["office-en16798-cat2"].model_copy(
        update={"optimal_start": None, "recovery": None, "energy": None}
    )
    assert not needs_control(plain)
