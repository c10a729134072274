"""Profiles end to end through the CLI against real Modbus device servers on loopback."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from smartbuild.sim.peers.modbus_farm import ServerSpec, SimUnit, loopback_hosts
from tests.rigs import farm_thread

OCCUPIED = "2026-12-01 08:00"  # a Tuesday: the office profile's occupied mode
PROFILE = "office-en16798-cat2"
ZONES = ["f1-a", "f1-b", "f2-a"]


def thermostat(unit: int = 1) -> SimUnit:
    """An acme-th200 as the template maps it: 21.5 °C room, 20.5/26 °C setpoints (the office profile heats to 20.5), heat mode."""
    return SimUnit(
        unit,
        input={0: 215, 1: 450},
        holding={10: 205, 11: 260, 12: 1},
        discrete={0: True},
        identity={"VendorName": "ACME", "ProductCode": "TH-200", "MajorMinorRevision": "1.4"},
    )


@pytest.fixture
def site(tmp_path: Path):
    hosts = loopback_hosts(len(ZONES), "127.0.3.1")
    with farm_thread([ServerSpec(h, [thermostat()], port=0) for h in hosts]) as farm:
        lines = ["site: profile-test", "timezone: Europe/Berlin", "zones:"]
        lines += [
            f"  {z}: {{building: main, floor: 1, area_m2: 50, tags: [office]}}" for z in ZONES
        ]
        lines.append("devices:")
        for zone, (host, port) in zip(ZONES, farm.endpoints, strict=True):
            lines.append(
                f"  th-{zone}: {{template: acme-th200, transport: modbus-tcp, "
                f'address: "{host}:{port}", unit: 1, zone: {zone}, timeout: 0.3, retries: 0}}'
            )
        path = tmp_path / "site.yaml"
        path.write_text("\n".join(lines) + "\n")
        farm.site_path = path  # type: ignore[attr-defined]
        yield farm


def apply_json(run, site, *extra: str):
    """Run `profile apply` of the office profile at an occupied moment, with JSON output."""
    return run(
        "--site",
        str(site.site_path),
        "--json",
        "profile",
        "apply",
        PROFILE,
        "--at",
        OCCUPIED,
        *extra,
    )


def cooling(farm, index: int) -> int:
    host, port = farm.endpoints[index]
    return farm.get(host, port, 1, "holding", 11)[0]


def writes(farm) -> int:
    return sum(farm.stats(f"{h}:{p}").writes() for h, p in farm.endpoints)


def test_plan_reads_and_writes_nothing(run, site):
    result = run(
        "--site", str(site.site_path), "--json", "profile", "plan", PROFILE, "--at", OCCUPIED
    )
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    changes = [a for a in plan["actions"] if a["status"] == "change"]
    assert {(a["point"], a["current"], a["target"]) for a in changes} == {
        ("cooling_setpoint", 26.0, 23.5)
    }
    assert len(changes) == 3
    assert plan["modes"] == dict.fromkeys(ZONES, "occupied")
    assert any("no point for co2_setpoint" in w for w in plan["warnings"])
    assert writes(site) == 0


def test_apply_refuses_without_a_terminal(run, site):
    result = run("--site", str(site.site_path), "profile", "apply", PROFILE, "--at", OCCUPIED)
    assert result.exit_code == 5
    assert "--yes" in result.stderr
    assert writes(site) == 0


def test_apply_writes_verifies_journals_and_is_idempotent(run, site):
    args = [
        "--site",
        str(site.site_path),
        "--json",
        "profile",
        "apply",
        PROFILE,
        "--at",
        OCCUPIED,
        "--yes",
    ]
    result = run(*args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["summary"] == {
        "written": 3,
        "unchanged": 0,
        "refused": 0,
        "rejected": 0,
        "unknown": 0,
        "reverted": 0,
        "conflict": 0,
        "overridden": 0,
        "skipped": 3,
        "blocked": 0,
    }
    assert [cooling(site, i) for i in range(3)] == [235, 235, 235]
    assert writes(site) == 3
    log = json.loads(run("--json", "log", "--run", data["run"]).stdout)
    kinds = [e["kind"] for e in log["entries"]]
    assert kinds.count("intent") == 3 and kinds.count("written") == 3
    written = next(e for e in log["entries"] if e["kind"] == "written")
    assert (written["before"], written["requested"], written["after"], written["verified"]) == (
        26.0,
        23.5,
        23.5,
        True,
    )
    assert written["plugin"] == "smartbuild.transports.modbus"
    assert log["run"]["profile_sha256"] and log["run"]["status"] == "ok"
    again = json.loads(run(*args).stdout)
    assert again["summary"]["written"] == 0
    assert writes(site) == 3  # nothing more reached the devices


def test_dry_run_writes_nothing_but_journals(run, site):
    result = apply_json(run, site, "--dry-run")
    assert result.exit_code == 0, result.output
    run_id = json.loads(result.stdout)["run"]
    assert writes(site) == 0
    assert json.loads(run("--json", "log", "--run", run_id).stdout)["run"]["dry_run"] is True


def test_a_device_failing_mid_apply_gives_exit_4(run, site):
    host, port = site.endpoints[1]
    site.call(lambda f: f.set_behaviour(host, port, 1, "silent"))
    result = apply_json(run, site, "--yes")
    assert result.exit_code == 4, result.output
    data = json.loads(result.stdout)
    statuses = {o["device"]: o["status"] for o in data["outcomes"]}
    # nothing is sent to a device whose current value cannot be read
    assert statuses == {"th-f1-a": "written", "th-f1-b": "refused", "th-f2-a": "written"}
    assert data["plan"]["read_errors"], "the silent device's read errors are reported"
    assert cooling(site, 0) == 235 and cooling(site, 2) == 235


def test_rollback_restores_and_reports_conflicts(run, site):
    apply = json.loads(apply_json(run, site, "--yes", "--for", "2h").stdout)
    overrides = json.loads(run("--json", "overrides").stdout)["overrides"]
    assert [o["id"] for o in overrides] == [apply["run"]]
    host, port = site.endpoints[0]
    site.set(host, port, 1, "holding", 11, [250])  # someone changed f1-a by hand since
    result = run("--site", str(site.site_path), "--json", "rollback", apply["run"], "--yes")
    assert result.exit_code == 5, result.output
    statuses = {o["device"]: o["status"] for o in json.loads(result.stdout)["outcomes"]}
    assert statuses == {"th-f1-a": "conflict", "th-f1-b": "written", "th-f2-a": "written"}
    assert [cooling(site, i) for i in range(3)] == [250, 260, 260]
    result = run(
        "--site", str(site.site_path), "--json", "rollback", apply["run"], "--yes", "--force"
    )
    assert result.exit_code == 0, result.output
    assert [cooling(site, i) for i in range(3)] == [260, 260, 260]
    assert json.loads(run("--json", "overrides").stdout)["overrides"] == []


def test_invalid_profile_is_located_and_writes_nothing(run, site, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        textwrap.dedent(
            """\
            profile: bad
            schedule: {weekly: {mon-fri: [{from: "07:00", to: "19:00", mode: occupied}]}, default: occupied}
            modes:
              occupied: {heatng_setpoint: 21}
            """
        )
    )
    result = run("--site", str(site.site_path), "profile", "apply", str(bad), "--yes")
    assert result.exit_code == 2
    assert f"{bad}:4:" in result.stderr and "heatng_setpoint" in result.stderr
    assert "heating_setpoint" in result.stderr  # did you mean
    assert writes(site) == 0
    assert json.loads(run("--json", "log").stdout)["runs"] == []


def test_validate_and_list_shipped_profiles(run):
    result = run("--json", "profile", "list")
    assert result.exit_code == 0, result.output
    names = {p["name"] for p in json.loads(result.stdout)["profiles"]}
    assert {
        "office-en16798-cat2",
        "home-eco-night",
        "school-holidays",
        "peak-shaving-ev",
        "hotel-room-setback",
    } <= names
    result = run("profile", "validate", *sorted(names))
    assert result.exit_code == 0, result.output
    result = run("profile", "plan", "ofice-en16798-cat2")
    assert result.exit_code == 2 and "Did you mean 'office-en16798-cat2'" in result.stderr


def test_check_action_hook_vetoes_writes(run, site, monkeypatch):
    monkeypatch.setenv("SMARTBUILD_PLUGIN_MODULES", "tests.plugins.policy")
    result = apply_json(run, site, "--yes")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["summary"]["blocked"] == 3 and data["summary"]["written"] == 0
    blocked = [a for a in data["plan"]["actions"] if a["status"] == "blocked"]
    assert blocked[0]["blocked_by"] == ["site policy: no cooling below 25 °C in profile-test"]
    assert writes(site) == 0
    log = json.loads(run("--json", "log", "--run", data["run"]).stdout)
    assert [e["kind"] for e in log["entries"]] == ["refused"] * 3  # nothing sent


def test_overrides_need_a_positive_duration(run, site):
    result = run(
        "--site",
        str(site.site_path),
        "profile",
        "apply",
        PROFILE,
        "--at",
        OCCUPIED,
        "--yes",
        "--for",
        "0s",
    )
    assert result.exit_code == 2 and "longer than 0 s" in result.stderr
    assert writes(site) == 0


def test_profile_values_with_units_are_converted_and_implausible_ones_refused(run, site, tmp_path):
    profile = tmp_path / "fahrenheit.yaml"
    profile.write_text(
        textwrap.dedent(
            """\
            profile: fahrenheit
            applies_to: {tags: [office]}
            modes:
              occupied: {heating_setpoint: 70 °F, cooling_setpoint: "299.15 K"}
            schedule: {default: occupied}
            """
        )
    )
    at = ("--site", str(site.site_path), "--json", "profile", "plan", str(profile))
    result = run(*at, "--at", OCCUPIED)
    assert result.exit_code == 0, result.output
    targets = {(a["device"], a["point"]): a["target"] for a in json.loads(result.stdout)["actions"]}
    assert targets[("th-f1-a", "heating_setpoint")] == pytest.approx(21.1, abs=0.06)
    assert targets[("th-f1-a", "cooling_setpoint")] == pytest.approx(26.0)
    for bad, message in [
        ("160", "heating_setpoint 160 °C is outside the plausible range 5..30 °C"),
        ("'21,5'", "'21,5' uses a decimal comma: write '21.5'"),
        ("21 kW", "unit 'kW' cannot be converted to °C"),
    ]:
        profile.write_text(profile.read_text().replace("70 °F", bad, 1))
        result = run(*at, "--at", OCCUPIED)
        assert result.exit_code == 2, result.output
        assert f"{profile}:4:32: modes.occupied.heating_setpoint: {message}" in result.stderr
        profile.write_text(profile.read_text().replace(bad, "70 °F", 1))
    assert writes(site) == 0
