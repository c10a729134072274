"""The routine language: located errors (file:line:col), site routines, the shipped examples."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from smartbuild.errors import ConfigError
from smartbuild.routines.loading import load_routine_file, load_routines
from tests.conftest import EXAMPLES

ROUTINES = sorted((EXAMPLES / "routines").glob("*.yaml"))


def problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_routine_file(path)
    return [str(p) for p in info.value.problems]


def test_errors_name_file_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "routine: bad\n"
        "triggers:\n"
        "  - point: {role: zone_co3, above: 1200, for: 5 minutes}\n"
        "  - time: {at: 7:00, days: mon-fry}\n"
        "  - {}\n"
        "steps:\n"
        "  - hold: {role: ventilation_mode, value: boost}\n"
        '  - event: {message: "CO2 in {zoen}"}\n'
        "  - wait: 5m\n"
        "    write: {role: fan_speed, value: 80}\n"
        "on_eror: stop\n"
    )
    found = problems(path)
    text = "\n".join(found)
    assert (
        f"{path}:3:19: triggers[0].point.role: unknown role 'zone_co3'. Did you mean 'zone_co2'?"
        in text
    )
    assert "bad.yaml:3:" in text and "'5 minutes' is not a number with a unit" in text
    assert "bad.yaml:4:" in text and "unknown day 'fry'" in text
    assert "bad.yaml:5:" in text and "a trigger takes exactly one of: time, point, no_quiet" in text
    assert "bad.yaml:7:" in text and "missing required key 'for'" in text
    assert "bad.yaml:8:" in text and "unknown placeholder {zoen}. Did you mean 'zone'?" in text
    assert (
        "bad.yaml:9:" in text
        and "a step takes exactly one of" in text
        and "(found write, wait)" in text
    )
    assert "bad.yaml:11:1: on_eror: unknown key 'on_eror'. Did you mean 'on_error'?" in text


def test_a_quiet_trigger_needs_a_window_longer_than_its_stretch(tmp_path: Path) -> None:
    path = tmp_path / "leak.yaml"
    path.write_text(
        "routine: leak\ntriggers:\n  - no_quiet: {role: water_flow, for: 2h, within: 1h}\n"
        "steps:\n  - event: {message: leak}\n"
    )
    (found,) = problems(path)
    assert (
        "leak.yaml:3:" in found and "'within' (3600 s) must be longer than 'for' (7200 s)" in found
    )


def test_broken_yaml_is_located(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("routine: x\nsteps:\n  - event: {message: [oops}\n")
    (found,) = problems(path)
    assert found.startswith(f"{path}:3:")


@pytest.mark.parametrize("path", ROUTINES, ids=[p.stem for p in ROUTINES])
def test_shipped_examples_validate(path: Path) -> None:
    assert load_routine_file(path).routine.routine == path.stem


def test_the_examples_cover_the_issue() -> None:
    assert {p.stem for p in ROUTINES} >= {
        "co2-boost", "frost-protection", "peak-shaving", "preheat", "water-leak",
    }  # fmt: skip


def water_site(tmp_path: Path) -> Path:
    """Write the site file of a simulated building with water devices (no servers needed)."""
    from smartbuild.sim.building.site import SimBuilding
    from smartbuild.sim.building.water import WaterModel

    hosts = [f"127.0.9.{i}" for i in range(1, 20)]
    building = SimBuilding.create(2, hosts=hosts, water=WaterModel(), warmup_s=0)
    path = tmp_path / "site.yaml"
    path.write_text(building.site_yaml())
    return path


def test_examples_check_against_a_site_with_water(tmp_path: Path, run) -> None:
    site = water_site(tmp_path)
    shutil.copytree(EXAMPLES / "routines", tmp_path / "routines")
    result = run("--site", str(site), "--json", "routine", "validate")
    assert result.exit_code == 0, result.output
    assert sorted(json.loads(result.output)["routines"]) == sorted(p.stem for p in ROUTINES)
    listed = run("--site", str(site), "--json", "routine", "list")
    assert listed.exit_code == 0, listed.output
    leak = next(r for r in json.loads(listed.output)["routines"] if r["routine"] == "water-leak")
    assert leak["triggers"][0].startswith("role water_flow: no 3600 s")


def test_site_routines_are_checked_against_the_site(tmp_path: Path, run) -> None:
    site = water_site(tmp_path)
    text = site.read_text() + (
        "routines:\n"
        "  - routine: valve\n"
        "    steps:\n"
        "      - write: {point: water-valve.overide, value: closed}\n"
        "      - write: {role: water_flow, value: 0}\n"
        "      - apply: {profile: office-en16798-cat3}\n"
        "      - read: {role: battery_state_of_charge}\n"
    )
    site.write_text(text)
    lines = text.splitlines()
    result = run("--site", str(site), "routine", "validate")
    assert result.exit_code == 2
    row = lines.index("      - write: {point: water-valve.overide, value: closed}") + 1
    assert f"site.yaml:{row}:" in result.output
    assert "device 'water-valve' has no point 'overide'. Did you mean 'override'?" in result.output
    assert "water-meter.flow is read-only" in result.output
    assert (
        "unknown profile 'office-en16798-cat3'. Did you mean 'office-en16798-cat2'?"
        in result.output
    )
    assert "no point of the site has role 'battery_state_of_charge'" in result.output


def test_two_routines_of_one_name_are_refused(tmp_path: Path) -> None:
    from smartbuild.config.yamlload import load_document

    site = water_site(tmp_path)
    site.write_text(site.read_text() + "routines:\n  - {routine: a, steps: [{wait: 1s}]}\n")
    folder = tmp_path / "routines"
    folder.mkdir()
    (folder / "a.yaml").write_text("routine: a\nsteps: [{wait: 1s}]\n")
    with pytest.raises(ConfigError) as info:
        load_routines(load_document(site), [folder / "a.yaml"])
    (problem,) = info.value.problems
    assert "a.yaml:1:" in str(problem) and "a second routine named 'a'" in str(problem)
