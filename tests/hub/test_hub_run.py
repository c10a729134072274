"""`smartbuild hub run` as a real process against the simulator: transitions, kill -9 and restart,
SIGHUP with a broken file, override releases, sd_notify, `hub status --json`."""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from smartbuild.sim.launch import SimProcess
from tests.hub.conftest import make_site, read_point, runs


def hub_runs(home: Path) -> list[str]:
    """Return the commands of the hub's schedule runs, oldest first."""
    return [r["command"] for r in runs(home) if r["command"].startswith("hub schedule")]


def test_transition_then_kill9_and_restart_applies_the_present_slot_once(
    tmp_path: Path, sim: SimProcess, hubs: Any, run: Any
) -> None:
    site = make_site(tmp_path, sim)
    home = tmp_path / "hubhome"
    first = hubs(site, home, "--start", "2026-01-15 06:59", "--speed", "60")
    status = first.status(lambda s: s["transitions"] >= 1 and len(s["runs"]) >= 2)
    assert status["schedules"][0]["mode"] == "day"
    assert status["next_transition"].startswith("2026-01-15T19:00:00+01:00")
    assert read_point(run, site, "th-z01", "heating_setpoint") == 21
    assert hub_runs(home) == [
        "hub schedule day-night: start: slot night (default)",
        "hub schedule day-night: transition night -> day (mon-sun 07:00-19:00)",
    ]
    entries = [
        json.loads(line)
        for line in run(
            "--site", str(site), "--home", str(home), "log", "--jsonl"
        ).stdout.splitlines()
    ]
    written = [e for e in entries if e["kind"] == "written" and e["requested"] == 21]
    assert {e["device"] for e in written} == {"th-z01", "th-z02"}
    assert first.stop(signal.SIGKILL) == -signal.SIGKILL

    # back at 20:30: the 19:00 transition happened while the hub was dead; only the present
    # slot (night) is applied, once, and nothing is replayed
    second = hubs(site, home, "--start", "2026-01-15 20:30", "--speed", "60")
    status = second.status(lambda s: s["state"] == "running" and s["runs"])
    time.sleep(1.0)  # a minute of simulated time: nothing more may happen
    status = second.status(lambda s: True)
    assert status["transitions"] == 0
    assert hub_runs(home)[2:] == ["hub schedule day-night: start: slot night (default)"]
    assert read_point(run, site, "th-z01", "heating_setpoint") == 16
    assert second.stop() == 0
    assert "Traceback" not in second.output()


def test_sighup_with_a_broken_file_keeps_the_running_configuration(
    tmp_path: Path, sim: SimProcess, hubs: Any, run: Any
) -> None:
    site = make_site(tmp_path, sim)
    home = tmp_path / "hubhome"
    hub = hubs(site, home)
    hub.status(lambda s: s["state"] == "running")
    good = site.read_text()
    site.write_text(good.replace("profile: day-night", "profile: day-nite"))
    os.kill(hub.proc.pid, signal.SIGHUP)
    status = hub.status(lambda s: s["reload"]["seq"] == 1)
    assert status["reload"]["ok"] is False
    line = good.splitlines().index("    - profile: day-night") + 1
    assert f"site.yaml:{line}:" in status["reload"]["error"]
    assert "day-nite" in status["reload"]["error"]
    assert status["state"] == "running"
    assert [s["profile"] for s in status["schedules"]] == ["day-night"]

    # `hub reload` says the same, with exit 2, and the hub keeps running
    result = run("--site", str(site), "--home", str(home), "hub", "reload")
    assert result.exit_code == 2, result.output
    assert f"site.yaml:{line}:" in result.output and "previous configuration" in result.output

    site.write_text(good.replace("interval: 5m", "interval: 10m"))
    result = run("--site", str(site), "--home", str(home), "hub", "reload")
    assert result.exit_code == 0, result.output
    status = hub.status(lambda s: s["reload"]["ok"] is True)
    assert status["config"]["schedules"][0]["profile"] == "day-night"
    assert hub.stop() == 0


def test_sd_notify_ready_watchdog_stopping(tmp_path: Path, sim: SimProcess, hubs: Any) -> None:
    site = make_site(tmp_path, sim)
    path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        sock.settimeout(10.0)
        hub = hubs(site, tmp_path / "hubhome",
                   env={"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "400000"})  # fmt: skip
        messages: list[str] = []

        def pings_after_ready() -> int:
            ready = [i for i, m in enumerate(messages) if m.startswith("READY=1")]
            return sum(m == "WATCHDOG=1" for m in messages[ready[0] :]) if ready else 0

        while pings_after_ready() < 3:  # pings from the loop, before READY too (start-up)
            messages.append(sock.recv(4096).decode())
        ready = next(m for m in messages if m.startswith("READY=1"))
        assert f"MAINPID={hub.proc.pid}" in ready and "STATUS=running 1 schedule(s)" in ready
        hub.proc.send_signal(signal.SIGTERM)
        while "STOPPING=1" not in messages[-1]:
            messages.append(sock.recv(4096).decode())
        assert hub.stop() == 0
    status = json.loads((tmp_path / "hubhome" / "hub-status.json").read_text())
    assert status["state"] == "stopped"


def test_override_released_at_expiry_and_conflicts_reported(
    tmp_path: Path, sim: SimProcess, hubs: Any, run: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = make_site(tmp_path, sim)
    home = tmp_path / "hubhome"
    monkeypatch.setenv("SMARTBUILD_HOME", str(home))
    hub = hubs(site, home)  # wall-clock time: `profile apply --for` expiries are wall-clock too
    status = hub.status(lambda s: s["state"] == "running" and s["runs"])
    slot_value = read_point(run, site, "th-z01", "heating_setpoint")
    result = run("--site", str(site), "profile", "apply", "boost", "--for", "3s", "--yes")
    assert result.exit_code == 0, result.output
    status = hub.status(lambda s: len(s["overrides"]) == 1)
    assert status["overrides"][0]["points"] == 2
    # someone changes one of the overridden points by hand: it must be left alone on release
    result = run("--site", str(site), "write", "th-z02", "heating_setpoint", "19", "--yes")
    assert result.exit_code == 0, result.output
    status = hub.status(lambda s: len(s["releases"]) == 1, timeout=15)
    release = status["releases"][0]
    assert release["restored"] == 1
    assert release["conflicts"] == ["th-z02.heating_setpoint"]
    assert 0 <= release["lag_s"] < 1.5
    assert any("conflicts" in e["message"] for e in status["errors"])
    assert status["overrides"] == []
    assert read_point(run, site, "th-z01", "heating_setpoint") == slot_value
    assert read_point(run, site, "th-z02", "heating_setpoint") == 19
    time.sleep(0.5)  # the schedule re-applies only what the release restored
    assert read_point(run, site, "th-z02", "heating_setpoint") == 19
    commands = [r["command"] for r in runs(home)]
    assert f"release {release['override']}" in commands
    assert hub.stop() == 0


def test_a_restarted_hub_releases_what_expired_while_it_was_down(
    tmp_path: Path, sim: SimProcess, hubs: Any, run: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = make_site(tmp_path, sim, hub=None)  # no hub block: no schedules, still releases
    home = tmp_path / "hubhome"
    monkeypatch.setenv("SMARTBUILD_HOME", str(home))
    result = run("--site", str(site), "write", "th-z01", "heating_setpoint", "18", "--yes")
    assert result.exit_code == 0, result.output
    result = run(
        "--site",
        str(site),
        "--json",
        "profile",
        "apply",
        "boost",
        "--zone",
        "z01",
        "--for",
        "1s",
        "--yes",
    )
    assert result.exit_code == 0, result.output
    time.sleep(1.2)
    hub = hubs(site, home)
    status = hub.status(lambda s: len(s["releases"]) == 1)
    assert status["schedules"] == [] and status["releases"][0]["restored"] == 1
    assert status["releases"][0]["lag_s"] >= 0.2
    assert read_point(run, site, "th-z01", "heating_setpoint") == 18
    assert hub.stop() == 0


def test_hub_status_json_and_check(tmp_path: Path, sim: SimProcess, hubs: Any, run: Any) -> None:
    site = make_site(tmp_path, sim)
    home = tmp_path / "hubhome"
    result = run("--site", str(site), "--home", str(home), "hub", "status")
    assert result.exit_code == 1 and "no hub has run" in result.output
    result = run("--site", str(site), "hub", "check")
    assert result.exit_code == 0, result.output
    assert "schedule day-night on 2 zone(s)" in result.output
    hub = hubs(site, home, "--start", "2026-01-15 06:00", "--speed", "10")
    hub.status(lambda s: s["devices"]["counts"].get("ok", 0) >= 9)
    result = run("--site", str(site), "--home", str(home), "--json", "hub", "status")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["running"] is True and data["clock"]["simulated"] is True
    assert data["schedules"][0]["next_at"].startswith("2026-01-15T07:00:00+01:00")
    assert data["schedules"][0]["next_mode"] == "day"
    assert data["devices"]["counts"] == {"ok": 9}
    result = run("--site", str(site), "--home", str(home), "hub", "status")
    assert result.exit_code == 0, result.output
    assert "next day at 2026-01-15T07:00:00+01:00" in result.output
    assert hub.stop() == 0
    result = run("--site", str(site), "--home", str(home), "hub", "status")
    assert result.exit_code == 3 and "not running" in result.output
