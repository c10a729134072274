"""Hub soak: a simulated day of `smartbuild hub run` against `smartbuild sim` at 500 zones.

The simulator and the hub run as child processes at the same speed (default 600x: a day in
144 s). The hub runs a profile with four transitions a day on every zone and polls every role
point (default every 15 simulated minutes; one thermostat every minute). During the day this
script applies overrides (`boost` on two zones for an hour, expiry in simulated
time) and cuts one thermostat off the network for 10 simulated minutes through a relay.

Goals (exit 1 when one is missed): RSS <= 60 MB with no growth after warm-up (the mean of the
last quarter of the day within 3 MB of the second quarter's); the transitions the hub applied are
exactly the ones the schedule has in the day, each once (journal runs counted too); every
override released within 1 simulated second of its expiry; the cut device seen down and back
without a restart (same pid). CPU per simulated hour is reported against the simulator's own,
measured in the same run. Short runs while developing: --zones 50 --hours 3.
Run: PYTHONPATH=src python benchmarks/hub_soak.py [--zones 500 --hours 24 --speed 600]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from smartbuild.hub.status import read_status  # noqa: E402
from smartbuild.sim.launch import SimProcess, free_base  # noqa: E402
from smartbuild.sim.peers.relay import Relay  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")
START = "2026-01-15 00:00"
TZ = ZoneInfo("Europe/Berlin")
RSS_GOAL_MB = 60.0
GROWTH_GOAL_MB = 3.0
RELEASE_GOAL_S = 1.0
OVERRIDES_AT = (2.0, 4.0, 9.0, 15.0, 21.0)  # simulated hours (clear of the transitions)
OUTAGE_AT, OUTAGE_S = 10.0, 600.0
OVERRIDE_S = 3600.0  # simulated: six real seconds at 600x, the override's own apply included
PROFILE = """\
profile: soak-day
applies_to: {tags: [office]}
modes:
  day: {heating_setpoint: 21 °C}
  lunch: {heating_setpoint: 19 °C}
  night: {heating_setpoint: 16 °C}
schedule:
  weekly:
    mon-sun: [{from: "06:00", to: "12:00", mode: day}, {from: "12:00", to: "13:00", mode: lunch},
              {from: "13:00", to: "19:00", mode: day}]
  default: night
"""
BOOST = """\
profile: boost
applies_to: {tags: [office]}
modes:
  boost: {heating_setpoint: 23 °C}
schedule: {default: boost}
"""


def cpu_seconds(pid: int) -> float:
    """Return user + system CPU seconds of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_mb(pid: int) -> float:
    """Return the resident set size of a process in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class RelayThread:
    """A relay in front of one device, on its own event loop in a thread."""

    def __init__(self, target: tuple[str, int]) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.relay = Relay(("127.0.0.1", port), target)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.call(self.relay.start())

    def call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    def stop(self) -> None:
        self.call(self.relay.cut())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def write_site(root: Path, sim: SimProcess, poll: str) -> tuple[Path, RelayThread, str]:
    """Write the soak site: the simulator's, one thermostat behind a relay, the hub block."""
    (root / "profiles").mkdir(parents=True, exist_ok=True)
    (root / "profiles" / "soak-day.yaml").write_text(PROFILE)
    (root / "profiles" / "boost.yaml").write_text(BOOST)
    text = Path(sim.state["site_file"]).read_text()
    found = re.search(r'(th-z0*1): \{[^}]*address: "([\d.]+):(\d+)"', text)
    assert found is not None, "no thermostat in the simulator's site"
    device = found[1]
    relay = RelayThread((found[2], int(found[3])))
    text = text.replace(f'"{found[2]}:{found[3]}"', f'"127.0.0.1:{relay.relay.listen[1]}"', 1)
    text += ("profiles: [profiles]\nhub:\n  schedules: [{profile: soak-day}]\n"
             f"  poll: {{interval: {poll}, devices: {{{device}: 1m}}}}\n")  # fmt: skip
    site = root / "site.yaml"
    site.write_text(text)
    return site, relay, device


def sim_now(home: Path) -> float:
    """Return the hub's simulated time now (from its status and the time since it was written)."""
    status = read_status(home)
    assert status is not None
    return float(status["clock"]["time"]) + (time.time() - float(status["written"])) * float(
        status["clock"]["speed"]
    )


def override(site: Path, home: Path, zones: list[str], expires: float) -> str | None:
    """Apply `boost` to zones as an override expiring at a simulated time; return its run id."""
    from smartbuild.services.session import Session

    async def go() -> str | None:
        session = Session(site, home)
        session.lease_wait_s = 5.0
        try:
            live = await session.plan("boost", zones=zones)
            result = await session.apply(live, confirm=lambda q: True, expires=expires)
            return result.run
        finally:
            await session.aclose()
            session.close()

    return asyncio.run(go())


def expected_transitions(start: dt.datetime, end: dt.datetime) -> list[tuple[str, str]]:
    """Return the transitions the soak profile has between two moments."""
    from smartbuild.hub.config import ScheduleEntry
    from smartbuild.hub.schedules import transitions_between
    from smartbuild.profiles.schedule import CompiledSchedule
    from smartbuild.profiles.schema import load_profile_text

    profile = load_profile_text(PROFILE)
    entry = ScheduleEntry(0, "soak-day", profile, Path("soak-day.yaml"),
                          CompiledSchedule(profile.schedule), [], [])  # fmt: skip
    return [(t.isoformat(), m) for t, m in transitions_between(entry, start, end)]


def main() -> int:
    """Run the soak and print its figures; return 1 when a goal is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zones", type=int, default=500)
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--speed", type=float, default=600.0)
    parser.add_argument("--poll", default="15m", help="poll interval of every role point")
    parser.add_argument("--bacnet", action="store_true",
                        help="keep the simulator's BACnet devices (the hub then loads bacpypes3)")  # fmt: skip
    args = parser.parse_args()
    speed, hours = args.speed, args.hours
    with tempfile.TemporaryDirectory(prefix="hub-soak-") as tmp:
        root = Path(tmp)
        sim = SimProcess(root / "simhome", zones=args.zones, speed=speed, start_at=START,
                         base=free_base(), site_out=root / "sim-site.yaml",
                         extra=["--no-ble", "--no-mdns", *([] if args.bacnet else ["--no-bacnet"])])  # fmt: skip
        sim.start(timeout=120)
        site, relay, cut_device = write_site(root, sim, args.poll)
        home = root / "hubhome"
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "SMARTBUILD_LOAD_PLUGINS": ""}
        log = (root / "hub.log").open("wb")
        hub = subprocess.Popen([sys.executable, "-m", "smartbuild", "--site", str(site), "--home", str(home),
                                "hub", "run", "--start", START, "--speed", f"{speed:g}"],
                               stdout=log, stderr=subprocess.STDOUT, env=env)  # fmt: skip
        failures: list[str] = []
        try:
            deadline = time.monotonic() + 120
            while (status := read_status(home)) is None or status.get("state") != "running":
                if hub.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(
                        f"the hub did not start: {(root / 'hub.log').read_text()[-1500:]}"
                    )
                time.sleep(0.1)
            t0 = sim_now(home)
            start_local = dt.datetime.fromtimestamp(t0, TZ)
            cpu0, sim_cpu0 = cpu_seconds(hub.pid), cpu_seconds(sim.proc.pid)  # type: ignore[union-attr]
            zones = sorted(z for z in re.findall(r"^  (z\d+):", site.read_text(), re.M))
            samples: list[float] = []
            overrides: dict[str, float] = {}
            pending = [h for h in OVERRIDES_AT if h < hours - 0.5]
            outage_done = hours <= OUTAGE_AT + OUTAGE_S / 3600
            next_sample = 0.0
            while (elapsed_h := (sim_now(home) - t0) / 3600) < hours:
                if elapsed_h >= next_sample:
                    samples.append(rss_mb(hub.pid))
                    next_sample += 1.0
                if pending and elapsed_h >= pending[0]:
                    pair = zones[2 * len(overrides) + 2 : 2 * len(overrides) + 4]
                    expires = sim_now(home) + OVERRIDE_S
                    run = override(site, home, pair, expires)
                    if run:
                        overrides[run] = expires
                    pending.pop(0)
                if not outage_done and elapsed_h >= OUTAGE_AT:
                    relay.call(relay.relay.cut())
                    cut_at = time.monotonic()
                    time.sleep(OUTAGE_S / speed)
                    relay.call(relay.relay.start())
                    outage_real = time.monotonic() - cut_at
                    outage_done = True
                if hub.poll() is not None:
                    raise SystemExit(f"the hub died: {(root / 'hub.log').read_text()[-1500:]}")
                time.sleep(0.05)
            end = sim_now(home)
            cpu = cpu_seconds(hub.pid) - cpu0
            sim_cpu = cpu_seconds(sim.proc.pid) - sim_cpu0  # type: ignore[union-attr]
            time.sleep(1.5)  # the last status
            status = read_status(home) or {}
        finally:
            hub.send_signal(signal.SIGTERM)
            try:
                exit_status = hub.wait(60)
            except subprocess.TimeoutExpired:
                hub.kill()
                exit_status = -9
            relay.stop()
            sim.stop()
        hours_run = (end - t0) / 3600
        print(f"hub soak: {args.zones} zones, {hours_run:.1f} simulated h at {speed:g}x, "
              f"poll {args.poll}, {'with' if args.bacnet else 'no'} BACnet devices; "
              f"{status['devices']['reads']} device reads")  # fmt: skip

        print(f"  RSS MB per simulated hour: {', '.join(f'{s:.1f}' for s in samples)}")
        peak = max(samples)
        quarter = max(1, len(samples) // 4)
        warm = samples[quarter : 2 * quarter] or samples
        growth = sum(samples[-quarter:]) / quarter - sum(warm) / len(warm)
        print(f"  RSS peak {peak:.1f} MB (goal <= {RSS_GOAL_MB:g}); growth after warm-up "
              f"{growth:+.1f} MB (goal <= {GROWTH_GOAL_MB:g})")  # fmt: skip
        if peak > RSS_GOAL_MB:
            failures.append(f"RSS {peak:.1f} MB above {RSS_GOAL_MB:g} MB")
        if growth > GROWTH_GOAL_MB:
            failures.append(f"RSS grew {growth:.1f} MB after warm-up")

        per_hour, sim_per_hour = cpu / hours_run, sim_cpu / hours_run
        print(f"  CPU {per_hour:.2f} s per simulated hour ({cpu / (hours_run * 3600 / speed):.0%} of a "
              f"core); the simulator {sim_per_hour:.2f} s: ratio {per_hour / sim_per_hour:.2f}")  # fmt: skip

        expected = expected_transitions(start_local, dt.datetime.fromtimestamp(end, TZ))
        got = [(t["at"], t["mode"]) for t in status["last_transitions"]]
        modes_ok = [m for _, m in got] == [m for _, m in expected]
        lateness = [dt.datetime.fromisoformat(a).timestamp() - dt.datetime.fromisoformat(e).timestamp()
                    for (a, _), (e, _) in zip(got, expected, strict=False)]  # fmt: skip
        from smartbuild.journal import Journal

        journal = Journal(home)
        runs = journal.runs()
        journal.close()
        journal_transitions = sum(" transition " in r["command"] for r in runs)
        print(f"  transitions: {len(expected)} expected, {status['transitions']} applied, "
              f"{journal_transitions} in the journal; modes in order: {modes_ok}; "
              f"applied {max(lateness, default=0):.1f} simulated s after the moment at most")  # fmt: skip
        if not (len(expected) == status["transitions"] == journal_transitions and modes_ok):
            failures.append("missed or doubled transitions")

        releases = {r["override"]: r for r in status["releases"]}
        lags = [releases[run]["lag_s"] for run in overrides if run in releases]
        print(f"  overrides: {len(overrides)} applied, {len(lags)} released; lag after expiry "
              f"{', '.join(f'{lag:.2f}' for lag in lags)} simulated s (goal <= {RELEASE_GOAL_S:g})")  # fmt: skip
        if len(lags) != len(overrides) or any(lag > RELEASE_GOAL_S or lag < 0 for lag in lags):
            failures.append("an override was not released within 1 s of its expiry")

        health = status["devices"]["devices"].get(cut_device, {})
        if hours > OUTAGE_AT + OUTAGE_S / 3600:
            print(f"  outage: {cut_device} cut for {OUTAGE_S / 60:.0f} simulated min ({outage_real:.2f} s); "
                  f"outages {health.get('outages')}, recovered {health.get('recovered')}, now "
                  f"{health.get('state')}; hub pid unchanged: {status['pid'] == hub.pid}")  # fmt: skip
            if not (
                health.get("outages") == health.get("recovered") == 1
                and health.get("state") == "ok"
            ):
                failures.append(f"{cut_device} was not seen down and back")
        print(f"  errors: {len(status['errors'])}; hub exit status after SIGTERM: {exit_status}")
        for error in status["errors"][-5:]:
            print(f"    {error['at']}: {error['message']}")
        if exit_status != 0:
            failures.append(f"the hub exited with {exit_status}")
    for failure in failures:
        print(f"MISSED: {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
