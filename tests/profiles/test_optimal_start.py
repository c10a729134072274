"""Optimal start and staggered recovery in the pure planner, and their profile language."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from smartbuild.errors import ConfigError
from smartbuild.profiles.planner import Plan, PointState, ZoneInfo, plan_profile
from smartbuild.profiles.recovery import RecoveryModel, ZoneRate
from smartbuild.profiles.schema import Profile, load_profile_text

BASE = """
profile: t
applies_to: {tags: [office]}
modes:
  occupied: {heating_setpoint: 20, cooling_setpoint: 26}
  unoccupied: {heating_setpoint: 16, cooling_setpoint: 30}
schedule:
  weekly: {mon-fri: [{from: "07:00", to: "19:00", mode: occupied}]}
  default: unoccupied
"""
THU = dt.date(2026, 1, 15)


def profile(extra: str) -> Profile:
    return load_profile_text(BASE + extra)


def site(temps: dict[str, float], setpoint: float = 16.0, site_kw: float = 5.0) -> tuple[
    list[ZoneInfo], list[PointState]
]:  # fmt: skip
    zones = [ZoneInfo(z, tags=("office",), area_m2=100.0) for z in temps]
    points = [PointState("meter", "p", "site_active_power", None, "kW", site_kw, False),
              PointState("weather", "t", "outdoor_temperature", None, "°C", 0.0, False)]  # fmt: skip
    for z, t in temps.items():
        points += [PointState(f"th-{z}", "sp", "heating_setpoint", z, "°C", setpoint, True, 5, 30),
                   PointState(f"th-{z}", "t", "zone_air_temperature", z, "°C", t, False)]  # fmt: skip
    return zones, points


def plan(p: Profile, hhmm: str, temps: dict[str, float], **kw: Any) -> Plan:
    zones, points = site(temps, kw.pop("setpoint", 16.0), kw.pop("site_kw", 5.0))
    at = dt.datetime.combine(THU, dt.time.fromisoformat(hhmm))
    return plan_profile(p, zones, points, tz="Europe/Berlin", at=at, **kw)


def heating(result: Plan, zone: str) -> Any:
    return next(a for a in result.actions if a.zone == zone and a.role == "heating_setpoint")


def learned(h_per_k: float, zones: tuple[str, ...], power_kw: float = 2.0) -> RecoveryModel:
    rates = {(z, "heat"): ZoneRate(h_per_k, 0.0, 0.0, 5) for z in zones}
    return RecoveryModel(rates, dict.fromkeys(zones, power_kw), None, None, 5, 3)


def test_a_zone_starts_when_its_learned_rate_says_and_the_plan_says_why() -> None:
    p = profile("optimal_start: {max_lead: 3h}\n")
    model = learned(0.5, ("a",))  # 30 min per kelvin
    # recovery aims at 20.5 °C (0.5 K past the setpoint) and ends within 0.5 K of it, at the
    # setpoint: 16.0 → 20.0 °C is 4 K x 30 min + 10 min margin = 2 h 10 min → 04:50
    before = plan(p, "04:44", {"a": 16.0}, recovery=model)
    assert heating(before, "a").status == "skip-unchanged"
    assert "start 04:50" in heating(before, "a").reason
    assert "learned 30 min/K from 5 recoveries" in heating(before, "a").reason
    at = plan(p, "04:46", {"a": 16.0}, recovery=model)  # due within 5 min: starts now
    action = heating(at, "a")
    assert action.status == "change" and action.target == 20.5
    assert action.reason.startswith("occupied early → 20.5 °C: optimal start for occupied at 07:00")
    assert "lead 2 h 10 min" in action.reason
    start = at.to_json()["recovery"][0]  # type: ignore[index]
    assert start["active"] and start["lead_min"] == 130.0 and start["direction"] == "heat"
    # once started the zone stays started, even if a later plan would compute a later start
    later = plan(p, "05:00", {"a": 19.0}, recovery=model, setpoint=20.5)
    assert heating(later, "a").status == "skip-unchanged" and later.recovery[0].active


def test_without_history_the_default_rate_is_conservative_and_capped() -> None:
    p = profile("optimal_start: {max_lead: 2h, margin: 5m}\n")
    at = plan(p, "05:00", {"a": 16.0, "b": 20.2})
    a, b = heating(at, "a"), heating(at, "b")
    # 1 K/h for 4 K is 4 h: capped at max_lead, so it starts at 05:00
    assert a.status == "change" and "default 1 K/h until 3 recoveries (0 so far)" in a.reason
    assert "lead 2 h 00 min" in a.reason
    assert b.status == "skip-unchanged" and "within 0.5 K of the targets" in b.reason
    # outside max_lead nothing starts, and cooling-only changes are no recovery
    assert not plan(p, "04:59", {"a": 16.0}).recovery


def test_a_zone_already_at_the_targets_long_before_occupancy_coasts_in_setback() -> None:
    p = profile("optimal_start: {max_lead: 6h}\n")
    # from 16 °C the default 1 K/h needs 4 h + 10 min margin: a recovery would start at 02:50
    # 01:30: warm and holding what the coming mode aims for (20.5 °C): it lets go and coasts
    early = plan(p, "01:30", {"a": 20.4}, setpoint=20.5)
    assert (heating(early, "a").status, heating(early, "a").target) == ("change", 16.0)
    # 03:30: a recovery from setback would be under way: it keeps the targets (no flip-flop)
    late = plan(p, "03:30", {"a": 20.4}, setpoint=20.5)
    assert (heating(late, "a").status, heating(late, "a").target) == ("skip-unchanged", 20.5)
    # still recovering: started stays started, whenever that is
    cold = plan(p, "01:30", {"a": 17.0}, setpoint=20.5)
    assert (heating(cold, "a").status, heating(cold, "a").target) == ("skip-unchanged", 20.5)


def test_zones_recovering_together_are_staggered_under_the_limit() -> None:
    p = profile("optimal_start: {max_lead: 4h}\nrecovery: {stagger: true, limit_kw: 9}\n")
    zones = ("a", "b", "c", "d")
    model = learned(0.25, zones, power_kw=2.0)  # 4 K x 15 min = 1 h each, 2 kW each
    result = plan(p, "03:00", dict.fromkeys(zones, 16.0), recovery=model, site_kw=5.0)
    starts = {r.zone: r.start.strftime("%H:%M") for r in result.recovery}
    # 5 kW + 2 zones x 2 kW fit under 9 kW: two zones at 05:50, two one lead (70 min) earlier
    assert sorted(starts.values()) == ["04:40", "04:40", "05:50", "05:50"]
    moved = [r for r in result.recovery if r.staggered_s > 0]
    assert len(moved) == 2 and all("staggered 1 h 10 min earlier" in r.why for r in moved)
    unstaggered = profile("optimal_start: {max_lead: 4h}\n")
    plain = plan(unstaggered, "03:00", dict.fromkeys(zones, 16.0), recovery=model)
    assert {r.start.strftime("%H:%M") for r in plain.recovery} == {"05:50"}


def test_stagger_with_no_room_still_starts_in_time_and_says_so() -> None:
    p = profile("optimal_start: {max_lead: 3h}\nrecovery: {stagger: true, limit_kw: 6}\n")
    model = learned(0.25, ("a", "b"), power_kw=2.0)
    result = plan(p, "05:50", {"a": 16.0, "b": 16.0}, recovery=model, site_kw=5.0)
    assert all(r.active for r in result.recovery)
    assert any("no room under 6 kW" in r.why for r in result.recovery)
    no_limit = profile("optimal_start: {max_lead: 3h}\nrecovery: {stagger: true}\n")
    result = plan(no_limit, "05:50", {"a": 16.0}, recovery=model)
    assert any("no power limit known yet" in w for w in result.warnings)
    # the caller's peak of constant setpoints is the limit when the profile names none
    result = plan(no_limit, "05:50", {"a": 16.0, "b": 16.0}, recovery=model, peak_kw=6.0)
    assert any("no room under 6 kW" in r.why for r in result.recovery)


def test_auto_peak_limit_sheds_above_the_given_peak() -> None:
    p = profile("energy: {peak_limit_kw: auto, shed: [{role: heating_setpoint, offset: -0.5}]}\n")
    busy = plan(p, "10:00", {"a": 20.0}, setpoint=20.0, site_kw=30.0, peak_kw=25.0)
    assert busy.shedding == "shed" and heating(busy, "a").target == 19.5
    held = plan(p, "10:00", {"a": 20.0}, setpoint=19.5, site_kw=21.0, peak_kw=25.0)
    assert held.shedding == "hold" and heating(held, "a").status == "skip-unchanged"
    calm = plan(p, "10:00", {"a": 20.0}, setpoint=19.5, site_kw=19.0, peak_kw=25.0)
    assert calm.shedding == "inactive" and heating(calm, "a").target == 20.0
    unknown = plan(p, "10:00", {"a": 20.0}, setpoint=20.0, site_kw=30.0)
    assert unknown.shedding == "inactive"


@pytest.mark.parametrize(
    ("extra", "path", "message"),
    [
        ("optimal_start: {max_lead: 3}\n", "optimal_start.max_lead", "needs a unit"),
        ("optimal_start: {max_lead: 3 hours}\n", "optimal_start.max_lead", "not a duration"),
        ("optimal_start: {max_lead: 13h}\n", "optimal_start.max_lead", "between 15 min and 12 h"),
        ("optimal_start: {modes: [ocupied]}\n", "optimal_start.modes.0", "Did you mean 'occupied'"),
        ("optimal_start: {max_led: 3h}\n", "optimal_start.max_led", "Did you mean 'max_lead'"),
        ("recovery: {stagger: true}\n", "recovery", "recovery needs optimal_start"),
        ("optimal_start: {}\nrecovery: {limit_kw: -1}\n", "recovery.limit_kw", "greater than 0"),
        ("energy: {peak_limit_kw: auto, release_below_kw: 30}\n", "energy.release_below_kw",
         "releases at 80 %"),
        ("energy: {peak_limit_kw: lots}\n", "energy.peak_limit_kw", "or 'auto'"),
    ],
)  # fmt: skip
def test_bad_optimal_start_and_recovery_blocks_are_located(
    extra: str, path: str, message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        profile(extra)
    problems = info.value.problems
    assert any(p.path == path and message in p.message for p in problems), problems


def test_optimal_start_needs_a_heating_or_cooling_mode() -> None:
    text = """
profile: t
modes: {run: {fan_speed: 60}}
schedule: {default: run}
optimal_start: {max_lead: 1h}
"""
    with pytest.raises(ConfigError, match="needs a mode that sets heating_setpoint"):
        load_profile_text(text)


def test_validate_names_file_line_and_column(run: Any, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(BASE + "optimal_start:\n  max_lead: 20h\n", encoding="utf-8")
    result = run("profile", "validate", str(bad))
    assert result.exit_code == 2
    assert f"{bad}:11:" in result.stderr and "max_lead '20h' must lie between" in result.stderr


def test_profile_plan_at_explains_optimal_start_against_a_thermostat(
    run: Any, tmp_path: Path
) -> None:
    from smartbuild.sim.peers.modbus_farm import ServerSpec, SimUnit
    from tests.rigs import farm_thread

    cold = SimUnit(
        1,
        input={0: 160, 1: 450},  # 16.0 °C after the night
        holding={10: 180, 11: 300, 12: 1},  # set back to 18 / 30 °C
        discrete={0: True},
        identity={"VendorName": "ACME", "ProductCode": "TH-200", "MajorMinorRevision": "1.4"},
    )
    with farm_thread([ServerSpec("127.0.3.9", [cold], port=0)]) as farm:
        host, port = farm.endpoints[0]
        site = tmp_path / "site.yaml"
        site.write_text(
            "site: t\ntimezone: Europe/Berlin\n"
            "zones: {f1: {building: main, floor: 1, area_m2: 50, tags: [office]}}\n"
            f'devices: {{th: {{template: acme-th200, transport: modbus-tcp, address: "{host}:{port}",'
            " unit: 1, zone: f1, timeout: 0.3, retries: 0}}\n",
            encoding="utf-8",
        )

        def plan_at(moment: str) -> dict[str, Any]:
            result = run("--site", str(site), "--json", "profile", "plan",
                         "office-en16798-cat2", "--at", moment)  # fmt: skip
            assert result.exit_code == 0, result.output
            data: dict[str, Any] = json.loads(result.stdout)
            return data

        early = plan_at("2026-12-01 03:30")
        heat = next(a for a in early["actions"] if a["role"] == "heating_setpoint")
        # 3 h 30 min before opening is beyond max_lead: the night setback holds
        assert heat["status"] == "skip-unchanged" and "optimal start" not in heat["reason"]
        assert early["recovery"] == []
        due = plan_at("2026-12-01 05:30")
        heat = next(a for a in due["actions"] if a["role"] == "heating_setpoint")
        # the occupied 20.5 °C, aimed half a kelvin past (a thermostat's band)
        assert (heat["status"], heat["current"], heat["target"]) == ("change", 18.0, 21.0)
        assert (
            "optimal start for occupied at 07:00: 16.0 °C is 5.0 K below 21.0 °C" in heat["reason"]
        )
        assert "default 1 K/h until 3 recoveries (0 so far)" in heat["reason"]
        assert due["recovery"][0]["zone"] == "f1" and due["recovery"][0]["active"]
        assert any("no power limit known yet" in w for w in due["warnings"])
        table = run("--site", str(site), "profile", "plan", "office-en16798-cat2",
                    "--at", "2026-12-01 05:30")  # fmt: skip
        assert table.exit_code == 0 and "optimal start" in table.stdout
