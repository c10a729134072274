"""The routine engine in a small hub of the test's own, against `smartbuild sim` on simulated time.

The harness is a real HubContext: one Session on the simulator's site, a Clock that follows the
simulator's simulated time, and a poller that reads what the engine wants at the interval it asks
and hands every reading to subscribers. The water leak routine must catch an injected leak (no
hour of zero flow in 24 h) and a burst, close the valve and emit its alarm to observers.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import shutil
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from smartbuild.hub.face import Clock
from smartbuild.hub.routines import RoutineEngine
from smartbuild.model.device import Reading
from smartbuild.model.events import Event
from smartbuild.services.session import Session
from smartbuild.sim.launch import SimProcess, free_base
from tests.conftest import EXAMPLES


class Harness:
    """A HubContext: the session, the clock, a poller with subscribers, status sections."""

    def __init__(self, session: Session, clock: Clock) -> None:
        self.session = session
        self.clock = clock
        self.wanted: dict[str, set[str]] = {}
        self.interval = 3600.0
        self.sections: dict[str, Callable[[], dict[str, Any]]] = {}
        self.queues: list[asyncio.Queue[Reading]] = []
        self.polls = 0

    def subscribe(self) -> AsyncIterator[Reading]:
        queue: asyncio.Queue[Reading] = asyncio.Queue(maxsize=10_000)
        self.queues.append(queue)

        async def readings() -> AsyncIterator[Reading]:
            while True:
                yield await queue.get()

        return readings()

    def want(self, device: str, points: Sequence[str], interval_s: float) -> None:
        self.wanted.setdefault(device, set()).update(points)
        self.interval = min(self.interval, interval_s)

    def status_section(self, name: str, provider: Callable[[], dict[str, Any]]) -> None:
        self.sections[name] = provider

    async def poll(self) -> None:
        while True:
            devices = self.session.devices()
            wanted = [(devices[d], sorted(p)) for d, p in self.wanted.items()]
            for reading in (await self.session.read(wanted)).readings:
                for queue in self.queues:
                    queue.put_nowait(reading)
            self.polls += 1
            await self.clock.sleep(self.interval)


def start_sim(root: Path, *extra: str, speed: float) -> SimProcess:
    process = SimProcess(root / "simhome", zones=1, speed=speed, base=free_base(),
                         start_at="2026-01-12 09:00", site_out=root / "site.yaml",
                         extra=["--no-ble", "--no-mdns", "--tick", "0.1", *extra])  # fmt: skip
    process.start()
    (root / "routines").mkdir()
    shutil.copy(EXAMPLES / "routines" / "water-leak.yaml", root / "routines")
    return process


def sim_clock(state: dict[str, Any], speed: float) -> Clock:
    """Return a clock that shows the simulator's simulated time (it started a moment ago)."""
    started = dt.datetime.fromisoformat(state["sim_time"])
    elapsed = (time.time() - state["started"]) * speed
    return Clock(start=started + dt.timedelta(seconds=elapsed), speed=speed, tz=started.tzinfo)


async def run_engine(
    sim: SimProcess, home: Path, speed: float, until: Callable[[RoutineEngine], bool], limit: float
) -> tuple[RoutineEngine, Harness, list[Event]]:
    session = Session(sim.site_out, home)
    events: list[Event] = []
    session.observers.append(events.append)  # what the MQTT bridge would see
    harness = Harness(session, sim_clock(sim.state, speed))
    engine = RoutineEngine(poll_s=300)
    task = asyncio.ensure_future(engine.run(harness))
    poller = None
    try:
        deadline = time.monotonic() + limit  # bounded in real time
        while time.monotonic() < deadline and not until(engine):
            if poller is None and harness.wanted:
                poller = asyncio.ensure_future(harness.poll())
            assert not task.done(), task.exception()
            await asyncio.sleep(0.05)
    finally:
        task.cancel()
        if poller is not None:
            poller.cancel()
        await asyncio.gather(task, *(p for p in [poller] if p), return_exceptions=True)
        await session.aclose()
        session.close()
    return engine, harness, events


@pytest.fixture
def leak_sim(tmp_path: Path) -> Iterator[SimProcess]:
    process = start_sim(tmp_path, "--leak", "15", speed=3600)
    try:
        yield process
    finally:
        assert process.stop()["leftovers"] == []


async def test_a_leak_is_caught_after_24_hours_without_a_quiet_hour(
    leak_sim: SimProcess, tmp_path: Path
) -> None:
    engine, harness, events = await run_engine(
        leak_sim, tmp_path / "home", 3600, lambda e: bool(e.results), limit=60
    )
    assert engine.results, harness.sections["routines"]()
    (result,) = engine.results
    assert result.trigger == "leak" and result.status == "ok"
    # it fired once the meter had been watched for 24 h: no earlier, and not much later
    state = harness.sections["routines"]()["routines"]["water-leak"]
    watch = next(t for t in state["triggers"] if t["trigger"] == "leak")
    assert watch["state"] == "active" and watch["last_quiet"] is None
    (alarm,) = [e for e in events if e.kind == "routine-event"]
    assert alarm.message is not None and alarm.message.startswith("Water leak at water-meter (")
    assert alarm.data is not None and alarm.data["level"] == "alarm"
    written = [e for e in events if e.kind == "written"]
    assert [(e.device, e.point, e.requested) for e in written] == [("water-valve", "override", 2)]
    assert harness.wanted["water-meter"] == {"flow"}  # what the triggers watch
    fired_at = engine.states["water-leak"].last["at"]  # type: ignore[index]
    watched_from = dt.datetime(2026, 1, 12, 9, 0, tzinfo=ZoneInfo("Europe/Berlin")).timestamp()
    assert 24 * 3600 <= fired_at - watched_from <= 27 * 3600


@pytest.fixture
def burst_sim(tmp_path: Path) -> Iterator[SimProcess]:
    process = start_sim(tmp_path, "--burst", "2.5", speed=600)
    try:
        yield process
    finally:
        assert process.stop()["leftovers"] == []


async def test_a_burst_is_caught_after_30_minutes_and_the_valve_shut(
    burst_sim: SimProcess, tmp_path: Path
) -> None:
    engine, harness, events = await run_engine(
        burst_sim, tmp_path / "home", 600, lambda e: bool(e.results), limit=30
    )
    assert engine.results, harness.sections["routines"]()
    (result,) = engine.results
    assert result.trigger == "burst" and result.status == "ok"
    alarm = next(e for e in events if e.kind == "routine-event")
    assert alarm.message is not None and "Water burst at water-meter" in alarm.message
    # the valve is shut: the meter reads no flow any more
    session = Session(burst_sim.site_out, tmp_path / "home")
    try:
        devices = session.devices()

        async def read() -> Any:
            await asyncio.sleep(0.3)  # a simulator tick applies the write
            try:
                return await session.read([(devices["water-meter"], ["flow"]),
                                           (devices["water-valve"], ["override"])])  # fmt: skip
            finally:
                await session.aclose()

        flow, valve = (await read()).readings
        assert valve.value == 2 and flow.value == 0
    finally:
        session.close()


async def test_time_and_hub_start_triggers_fire_once_and_never_replay(tmp_path: Path) -> None:
    """A site without reachable devices: event-only routines on a fast simulated clock."""
    from tests.routines.test_schema import water_site

    site = water_site(tmp_path)
    folder = tmp_path / "routines"
    folder.mkdir()
    (folder / "morning.yaml").write_text(
        'routine: morning\ntriggers:\n  - time: {at: "05:30", days: mon-fri}\n'
        '  - time: {at: "04:00"}\n'
        'steps:\n  - event: {message: "{trigger} at {time}"}\n'
    )
    (folder / "start.yaml").write_text(
        "routine: start\ntriggers:\n  - hub_start: true\nsteps:\n  - event: {message: started}\n"
    )
    session = Session(site, tmp_path / "home")
    events: list[Event] = []
    session.observers.append(events.append)
    berlin = ZoneInfo("Europe/Berlin")
    # Monday 05:00: 04:00 has passed (never replayed), 05:30 comes in 30 simulated minutes
    clock = Clock(dt.datetime(2026, 1, 12, 5, 0, tzinfo=berlin), speed=3600, tz=berlin)
    harness = Harness(session, clock)
    engine = RoutineEngine()
    task = asyncio.ensure_future(engine.run(harness))
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and clock.now().hour < 7:
            await asyncio.sleep(0.05)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        session.close()
    messages = sorted(e.message or "" for e in events if e.kind == "routine-event")
    assert len(messages) == 2 and messages[1] == "started"
    assert messages[0].startswith("at 05:30 at 2026-01-12 05:3")  # on time, not a tick late
    status = harness.sections["routines"]()["routines"]
    assert status["morning"]["next"] == {"0": "2026-01-13T05:30:00+01:00",
                                         "1": "2026-01-13T04:00:00+01:00"}  # fmt: skip
    assert harness.wanted == {}  # nothing to poll: no point triggers
