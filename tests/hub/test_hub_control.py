"""The hub plans between transitions: optimal start reaches the band by occupancy, on its own."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from smartbuild.sim.launch import SimProcess, free_base
from tests.hub.conftest import DAY_NIGHT, read_point, runs

# the hub tests' day-night profile, with optimal start
WARM = DAY_NIGHT.replace("profile: day-night", "profile: warm") + "optimal_start: {max_lead: 3h}\n"


def test_optimal_start_runs_in_the_hub_and_the_zones_are_warm_at_seven(
    tmp_path: Path, hubs: Any, run: Any
) -> None:
    # the building and the hub share the simulated night: the hub sets it back, lets it cool,
    # starts each zone when its lead says so, and the zones are in the band at 07:00
    sim = SimProcess(tmp_path / "simhome", zones=2, speed=1200, start_at="2026-01-15 03:00",
                     base=free_base(), site_out=tmp_path / "sim-site.yaml",
                     extra=["--no-ble", "--no-mdns", "--no-bacnet"])  # fmt: skip
    sim.start()
    try:
        (tmp_path / "profiles").mkdir()
        (tmp_path / "profiles" / "warm.yaml").write_text(WARM)
        site = tmp_path / "site.yaml"
        site.write_text(Path(sim.state["site_file"]).read_text()
                        + "profiles: [profiles]\nhub:\n  schedules:\n    - profile: warm\n")  # fmt: skip
        home = tmp_path / "hubhome"
        hub = hubs(site, home, "--start", "2026-01-15 03:00", "--speed", "1200")

        def started(status: dict[str, Any]) -> bool:
            control = status.get("control") or [{}]
            return set(control[0].get("starts", {})) == {"z01", "z02"}

        status = hub.status(started, timeout=60)
        (control,) = status["control"]
        assert control["profile"] == "warm" and control["plans"] > 10
        starts = {dt.datetime.fromisoformat(t) for t in control["starts"].values()}
        # the default 1 K/h, capped by max_lead: no zone starts before 04:00 or after 07:00
        assert all(dt.time(4, 0) <= t.time() < dt.time(7, 0) for t in starts), starts
        assert read_point(run, site, "th-z01", "heating_setpoint") == 21.5  # aimed 0.5 K past
        hub.status(lambda s: s["clock"]["now"] >= "2026-01-15T07:10", timeout=60)
        for zone in ("z01", "z02"):
            assert read_point(run, site, f"th-{zone}", "room_temperature") >= 20.5
        shown = run("--home", str(home), "hub", "status")
        assert shown.exit_code == 0, shown.output
        assert "control of warm: " in shown.stdout and "shedding inactive" in shown.stdout
        assert "optimal starts: z01 0" in shown.stdout  # a start before 07:00
        assert ": optimal start z0" in shown.stdout  # the run it made, with its reason
        assert hub.stop() == 0
        commands = [r["command"] for r in runs(home)]
        assert commands[0] == "hub schedule warm: start: slot night (default)"
        assert any(c.startswith("hub control warm: optimal start z01") for c in commands), commands
        assert "hub schedule warm: transition night -> day (mon-sun 07:00-19:00)" in commands
        assert (home / "hub").is_dir()  # what it learned is kept for the next start
        assert "Traceback" not in hub.output()
    finally:
        sim.stop()
