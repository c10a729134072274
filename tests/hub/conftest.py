"""A simulator for the hub tests, site files with a ``hub:`` block, and a hub child process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from smartbuild.hub.status import read_status
from smartbuild.sim.launch import SimProcess, free_base

DAY_NIGHT = """\
profile: day-night
title: Day and night
applies_to: {tags: [office]}
modes:
  day: {heating_setpoint: 21 °C}
  night: {heating_setpoint: 16 °C}
schedule:
  weekly:
    mon-sun: [{from: "07:00", to: "19:00", mode: day}]
  default: night
"""
BOOST = """\
profile: boost
title: Warm boost (an override)
applies_to: {tags: [office]}
modes:
  boost: {heating_setpoint: 23 °C}
schedule: {default: boost}
"""
HUB_BLOCK = """\
profiles: [profiles]
hub:
  schedules:
    - profile: day-night
  poll:
    interval: 5m
"""


@pytest.fixture(scope="package")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimProcess]:
    """One simulator (2 zones, no BLE or mDNS) for every hub test."""
    root = tmp_path_factory.mktemp("hubsim")
    process = SimProcess(root / "home", zones=2, speed=60, start_at="2026-01-15 06:00",
                         base=free_base(), site_out=root / "sim-site.yaml",
                         extra=["--no-ble", "--no-mdns", "--no-bacnet"])  # fmt: skip
    process.start()
    yield process
    assert process.stop() == {"exit_status": 0, "leftovers": []}


def make_site(directory: Path, sim: SimProcess, hub: str | None = HUB_BLOCK) -> Path:
    """Write the simulator's site with a hub block and the test profiles next to it."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "profiles").mkdir(exist_ok=True)
    (directory / "profiles" / "day-night.yaml").write_text(DAY_NIGHT)
    (directory / "profiles" / "boost.yaml").write_text(BOOST)
    text = Path(sim.state["site_file"]).read_text()
    if hub is not None:
        text += hub
    else:
        text += "profiles: [profiles]\n"
    path = directory / "site.yaml"
    path.write_text(text)
    return path


class HubProcess:
    """`smartbuild hub run` as a child process, as systemd or a user starts it."""

    def __init__(
        self, site: Path, home: Path, *args: str, env: dict[str, str] | None = None
    ) -> None:
        self.site, self.home = site, home
        self.log = home.parent / f"hub-{time.monotonic_ns()}.log"
        home.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "smartbuild", "--site", str(site), "--home", str(home),
                   "hub", "run", *args]  # fmt: skip
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})  # fmt: skip

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def status(
        self, until: Callable[[dict[str, Any]], bool], timeout: float = 20.0
    ) -> dict[str, Any]:
        """Wait (bounded) until the hub's status satisfies ``until``; return it."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            last = read_status(self.home)
            if last is not None and last.get("pid") == self.proc.pid and until(last):
                return last
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(
            f"hub status never matched; last {json.dumps(last)[:1500]}\n{self.output()[-2000:]}"
        )

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        """Signal the hub and return its exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout)
                raise AssertionError(
                    f"the hub ignored signal {sig}: {self.output()[-2000:]}"
                ) from None
        return self.proc.returncode


@pytest.fixture
def hubs() -> Iterator[Callable[..., HubProcess]]:
    """Start hub processes; every one is stopped after the test, pass or fail."""
    started: list[HubProcess] = []

    def start(site: Path, home: Path, *args: str, env: dict[str, str] | None = None) -> HubProcess:
        process = HubProcess(site, home, *args, env=env)
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop(signal.SIGKILL if process.proc.poll() is None else signal.SIGTERM)


def runs(home: Path) -> list[dict[str, Any]]:
    """Return the journal's runs, oldest first."""
    from smartbuild.journal import Journal

    journal = Journal(home)
    try:
        return list(reversed(journal.runs()))
    finally:
        journal.close()


def read_point(run: Any, site: Path, device: str, point: str) -> Any:
    """Read one point through the CLI."""
    result = run("--json", "--site", str(site), "read", device, point)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["readings"][0]["value"]
