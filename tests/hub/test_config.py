"""The site's ``hub:`` block: validated with file:line:col like the rest of the site."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from smartbuild.hub.permissions import can_open, permission_problems
from smartbuild.sim.launch import SimProcess
from tests.hub.conftest import make_site


def line_of(path: Path, text: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


@pytest.mark.parametrize(
    ("block", "needle", "message"),
    [
        (
            "hub:\n  schedules:\n    - {profile: day-nite}\n",
            "day-nite",
            "Did you mean 'day-night'?",
        ),
        (
            "hub:\n  schedules:\n    - {profile: day-night, zones: [z9*]}\n",
            "z9*",
            "no zone matches 'z9*'",
        ),
        ("hub:\n  poll: {interval: 5 minutes}\n", "5 minutes", "write a number and a unit"),
        ("hub:\n  poll: {devices: {th-z99: 30s}}\n", "th-z99", "unknown device 'th-z99'"),
        ("hub:\n  routines: [frost, frost]\n", "frost, frost", "routine 'frost' is listed twice"),
        ("hub:\n  schedule: []\n", "schedule:", "schedule"),
        (
            "hub:\n  schedules:\n    - {profile: day-night}\n    - {profile: boost, zones: [z01]}\n",
            "profile: boost",
            "zone 'z01' gets heating_setpoint from schedules 0 and 1",
        ),
    ],
)
def test_hub_check_names_file_line_and_column(
    tmp_path: Path, sim: SimProcess, run: Any, block: str, needle: str, message: str
) -> None:
    site = make_site(tmp_path, sim, hub="profiles: [profiles]\n" + block)
    result = run("--site", str(site), "hub", "check")
    assert result.exit_code == 2, result.output
    assert f"site.yaml:{line_of(site, needle)}:" in result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_a_broken_profile_is_reported_in_its_own_file(
    tmp_path: Path, sim: SimProcess, run: Any
) -> None:
    site = make_site(tmp_path, sim)
    profile = tmp_path / "profiles" / "day-night.yaml"
    profile.write_text(
        profile.read_text().replace(
            "night: {heating_setpoint: 16 °C}", "night: {heatng_setpoint: 16}"
        )
    )
    result = run("--site", str(site), "hub", "check")
    assert result.exit_code == 2, result.output
    assert f"day-night.yaml:{line_of(profile, 'heatng_setpoint')}:" in result.output
    assert "heatng_setpoint" in result.output


def test_a_site_without_hub_block_checks_and_polls(
    tmp_path: Path, sim: SimProcess, run: Any
) -> None:
    site = make_site(tmp_path, sim, hub=None)
    result = run("--site", str(site), "--json", "hub", "check")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["hub_block"] is False and data["schedules"] == []
    assert data["devices_polled"] == 9 and data["permissions"] == []


def test_a_serial_port_of_another_group_names_the_group(tmp_path: Path) -> None:
    port = tmp_path / "ttyUSB0"
    port.write_text("")
    os.chmod(port, 0o660)
    gid = port.stat().st_gid
    ok, group = can_open(port, 4242, [])
    assert (ok, group) is not None and ok is False
    import grp

    assert group == grp.getgrgid(gid).gr_name
    assert can_open(port, 4242, [gid]) == (True, None)
    os.chmod(port, 0o600)
    assert can_open(port, 4242, [gid]) == (False, None)


def test_permission_problems_for_a_site(tmp_path: Path, run: Any) -> None:
    from smartbuild.services.session import Session

    port = tmp_path / "ttyUSB0"
    port.write_text("")
    os.chmod(port, 0o660)
    site = tmp_path / "site.yaml"
    site.write_text(
        "site: rtu\nzones: {z01: {}}\ndevices:\n"
        f"  meter: {{template: eastron-sdm630, transport: modbus-rtu, address: {port}, unit: 1}}\n"
        f"  gone: {{template: eastron-sdm630, transport: modbus-rtu, address: {tmp_path}/ttyUSB9, unit: 2}}\n"
    )
    session = Session(site, tmp_path / "home")
    try:
        devices = session.devices().values()
    finally:
        session.close()
    problems = permission_problems(devices, uid=4242, groups=[], environ={})
    import grp

    group = grp.getgrgid(port.stat().st_gid).gr_name
    assert problems == [
        f"meter: no permission to open {port}: add the hub's user to the group {group!r} "
        "(SupplementaryGroups= in the systemd unit), then restart the hub",
        f"gone: serial port {tmp_path}/ttyUSB9 does not exist (is the adapter plugged in?)",
    ]
    assert permission_problems(devices, uid=0, groups=[], environ={})[1:] == []


def test_the_documented_hub_block_validates(tmp_path: Path, sim: SimProcess, run: Any) -> None:
    from tests.conftest import REPO

    text = (REPO / "docs" / "hub.md").read_text()
    block = text.split("```yaml\n", 1)[1].split("```", 1)[0]
    assert block.startswith("hub:\n")
    (tmp_path / "routines").mkdir()  # the routine the block names, as shipped
    frost = REPO / "examples" / "routines" / "frost-protection.yaml"
    (tmp_path / "routines" / "frost-protection.yaml").write_text(frost.read_text())
    site = make_site(tmp_path, sim, hub="profiles: [profiles]\n" + block)
    result = run("--site", str(site), "--json", "hub", "check")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["schedules"][0]["profile"] == "office-en16798-cat2"
    assert data["routines"] == ["frost-protection"]
