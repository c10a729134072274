"""The hub in-process: faces supervised and restarted, readings fanned out, a device outage
ridden out and recovered without a restart (a real relay in front of a simulated thermostat)."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import socket
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from smartbuild.hub.face import Clock, HubContext
from smartbuild.hub.runner import Hub
from smartbuild.sim.launch import SimProcess
from smartbuild.sim.peers.relay import Relay
from tests.hub.conftest import make_site

BERLIN = ZoneInfo("Europe/Berlin")


class Recorder:
    """A face that fails on its first start, then records the thermostat readings it asked for."""

    name = "recorder"

    def __init__(self) -> None:
        self.starts = 0
        self.readings: list[Any] = []

    async def run(self, ctx: HubContext) -> None:
        self.starts += 1
        if self.starts == 1:
            raise RuntimeError("first start fails")
        ctx.status_section("recorder", lambda: {"readings": len(self.readings)})
        ctx.want("th-z02", ["room_temperature"], 30.0)
        async for reading in ctx.subscribe():
            if reading.device in ("th-z01", "th-z02"):
                self.readings.append(reading)


def free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


async def wait_for(predicate: Any, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


async def test_faces_readings_and_an_outage_recovered(tmp_path: Path, sim: SimProcess) -> None:
    site = make_site(
        tmp_path,
        sim,
        hub="profiles: [profiles]\nhub:\n  schedules: [{profile: day-night}]\n  poll: {interval: 1m}\n",
    )
    text = site.read_text()
    target = re.search(r'th-z01: \{[^}]*address: "([\d.]+):(\d+)"', text)
    assert target is not None
    relay = Relay(("127.0.0.1", free_port("127.0.0.1")), (target[1], int(target[2])))
    await relay.start()
    site.write_text(text.replace(f'"{target[1]}:{target[2]}"', f'"127.0.0.1:{relay.listen[1]}"'))
    face = Recorder()
    clock = Clock(dt.datetime(2026, 1, 15, 12, 0, tzinfo=BERLIN), 60.0, tz=BERLIN)
    hub = Hub(site, tmp_path / "hubhome", clock=clock, faces=[face], warn=lambda m: None)
    task = asyncio.ensure_future(hub.run(signals=False))
    try:
        await wait_for(
            lambda: hub.state == "running" and face.starts == 2 and len(face.readings) >= 2
        )
        status = hub.status()
        assert status["faces"]["recorder"] == {"state": "running", "restarts": 1,
                                               "last_error": "RuntimeError: first start fails"}  # fmt: skip
        assert status["sections"]["recorder"]["readings"] >= 1
        assert any("face 'recorder' failed" in e["message"] for e in status["errors"])
        assert hub.poller.intervals()["th-z02"]["room_temperature"] == 30.0

        await relay.cut()  # the thermostat loses its network
        health = hub.poller.health["th-z01"]
        await wait_for(lambda: health.state == "down")
        assert "th-z01" in hub.status()["devices"]["down"]
        await asyncio.sleep(1.0)  # a minute of simulated time down
        await relay.start()
        await wait_for(
            lambda: health.state == "ok", timeout=15.0
        )  # backoff caps at 5 min (5 s here)
        assert (health.outages, health.recovered) == (1, 1)
        # the device was told the present slot again when it came back
        await wait_for(lambda: any("th-z01 answers again" in r["command"] for r in hub.runs))
        assert hub.scheduler.transition_count == 0
    finally:
        hub.stop()
        await task
        await relay.cut()
    assert hub.state == "stopped"
