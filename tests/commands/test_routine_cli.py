"""`smartbuild routine run` against the simulated building (a real `smartbuild sim` process)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from smartbuild.sim.launch import SimProcess, free_base
from tests.conftest import EXAMPLES


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimProcess]:
    """A simulated building with water devices; the example routines sit beside its site file."""
    root = tmp_path_factory.mktemp("routine-sim")
    process = SimProcess(root / "simhome", zones=2, speed=60, base=free_base(),
                         site_out=root / "site.yaml",
                         extra=["--water", "--no-ble", "--no-mdns"])  # fmt: skip
    process.start()
    shutil.copytree(EXAMPLES / "routines", root / "routines")
    try:
        yield process
    finally:
        report = process.stop()
        assert report["leftovers"] == [], report


def cli(run: Any, sim: SimProcess, *args: str) -> Any:
    return run("--site", str(sim.site_out), *args)


def read_value(run: Any, sim: SimProcess, device: str, point: str) -> Any:
    result = cli(run, sim, "--json", "read", device, point)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)["readings"][0]["value"]


def test_a_hold_writes_through_the_safe_path_and_is_released(run: Any, sim: SimProcess) -> None:
    before = read_value(run, sim, "ahu", "ventilation_mode")
    result = cli(run, sim, "--json", "routine", "run", "co2-boost", "--force", "--yes")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["status"] == "ok" and data["trigger"] == "manual"
    hold, event = data["steps"]
    assert hold["kind"] == "hold" and hold["status"] == "ok"
    (outcome,) = hold["outcomes"]
    assert (outcome["device"], outcome["point"], outcome["status"]) == (
        "ahu", "ventilation_mode", "written",
    )  # fmt: skip
    assert outcome["requested"] == 2  # the label "boost" became the device's code
    # run by hand, no trigger point fills {value}, {unit} and {zone}
    assert event["message"] == "CO2   in : ventilation boost for 30 min"
    assert read_value(run, sim, "ahu", "ventilation_mode") == 2

    # the hold is an override with an absolute expiry under the routine's run
    import os

    from smartbuild.services.rollback import expired_overrides
    from smartbuild.services.session import Session

    session = Session(sim.site_out, Path(os.environ["SMARTBUILD_HOME"]))
    try:
        (override,) = session.overrides()
        assert override["id"] == hold["hold_run"] and override["parent_run"] == data["run"]
        assert 1790 <= override["remaining_s"] <= 1800
        assert [r["id"] for r in expired_overrides(session.journal, hold["expires"] + 1)] == [
            hold["hold_run"]
        ]
        from smartbuild.aio import run_sync

        async def release() -> Any:
            try:
                return await session.release(hold["hold_run"])
            finally:
                await session.aclose()

        released = run_sync(release())
        assert [o.status.value for o in released.outcomes] == ["written"]
    finally:
        session.close()
    assert read_value(run, sim, "ahu", "ventilation_mode") == before
    log = cli(run, sim, "--json", "log", "--run", data["run"])
    assert log.exit_code == 0, log.output
    assert "routine-event" in log.output and "triggered" in log.output


def test_the_leak_routine_closes_the_valve_and_raises_an_alarm(run: Any, sim: SimProcess) -> None:
    result = cli(run, sim, "--json", "routine", "run", "water-leak", "--yes")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    write, read, event = data["steps"]
    assert write["outcomes"][0]["device"] == "water-valve" and write["status"] == "ok"
    assert list(read["values"]) == ["water-meter.volume"]
    assert event["level"] == "alarm"
    assert read_value(run, sim, "water-valve", "override") == 2  # closed
    opened = cli(run, sim, "--json", "write", "water-valve", "override", "open", "--yes")
    assert opened.exit_code == 0, opened.output


def test_dry_run_writes_nothing(run: Any, sim: SimProcess) -> None:
    before = read_value(run, sim, "water-valve", "override")
    result = cli(run, sim, "--json", "routine", "run", "water-leak", "--dry-run")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["status"] == "dry-run"
    assert data["steps"][0]["message"] == "would write 2 to water-valve.override"
    assert read_value(run, sim, "water-valve", "override") == before


def test_conditions_that_do_not_hold_skip_the_run(
    run: Any, sim: SimProcess, tmp_path: Path
) -> None:
    routines = Path(sim.site_out).parent / "routines"
    (routines / "never.yaml").write_text(
        "routine: never\nconditions:\n  - point: {role: zone_co2, above: 100000}\n"
        "steps:\n  - write: {role: valve, value: closed}\n"
    )
    try:
        result = cli(run, sim, "routine", "run", "never", "--yes")
        assert result.exit_code == 0, result.output
        assert "does not hold" in result.output and "skipped" in result.output
    finally:
        (routines / "never.yaml").unlink()


def test_without_yes_and_without_a_terminal_nothing_is_written(run: Any, sim: SimProcess) -> None:
    result = cli(run, sim, "routine", "run", "water-leak")
    assert result.exit_code == 5, result.output
    assert "refusing to write without confirmation" in result.output


def test_an_unknown_routine_is_a_usage_error(run: Any, sim: SimProcess) -> None:
    result = cli(run, sim, "routine", "run", "water-leek")
    assert result.exit_code == 2
    assert "no routine named 'water-leek'. Did you mean 'water-leak'?" in result.output


def test_a_failed_step_stops_the_routine(run: Any, sim: SimProcess) -> None:
    routines = Path(sim.site_out).parent / "routines"
    (routines / "refused.yaml").write_text(
        "routine: refused\nsteps:\n  - write: {point: th-z01.heating_setpoint, value: 45}\n"
        "  - event: {message: never}\n"
    )
    try:
        result = cli(run, sim, "--json", "routine", "run", "refused", "--yes")
        assert result.exit_code == 4, result.output
        data = json.loads(result.output)
        assert data["status"] == "failed"
        assert (
            data["steps"][0]["status"] == "failed"
            and "above the maximum" in data["steps"][0]["message"]
        )
        assert data["steps"][1]["status"] == "skipped"
    finally:
        (routines / "refused.yaml").unlink()
