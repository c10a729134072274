"""The routine engine: the hub face that runs routines on their triggers.

It asks the hub's poller for the points its triggers and conditions watch (``ctx.want``), feeds
every reading to the trigger state machines with the hub clock's time, wakes for time triggers
(the next one after now: nothing missed while the hub was down is replayed), fires hub-start
triggers once, and runs a triggered routine through ``RoutineRunner`` — every write on the safe
path. A routine still running is not started again; ``cooldown`` spaces runs. ``hub status`` gets
a ``routines`` section: each routine's triggers, next time, last run and errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from smartbuild.hub.face import HubContext
    from smartbuild.model.device import Reading
    from smartbuild.routines.loading import LoadedRoutine
    from smartbuild.routines.resolve import PointInfo
    from smartbuild.routines.schema import Target
    from smartbuild.services.routines import Fire, RoutineResult, RoutineRunner

POLL_S = 60.0  # simulated seconds between reads of a watched point (at most)
TICK_REAL_S = 0.25  # real seconds between checks of pending `for:` durations and time triggers
MAX_ERRORS = 10


@dataclass
class _Watch:
    trigger: int
    label: str
    point: PointInfo
    machine: Any  # PointWatch or QuietWatch
    unit: str | None = None


@dataclass
class _State:
    item: LoadedRoutine
    watches: list[_Watch] = field(default_factory=list)
    times: dict[int, dt.datetime] = field(default_factory=dict)  # trigger index → next fire
    running: asyncio.Task[Any] | None = None
    last_start: float | None = None
    last: dict[str, Any] | None = None
    runs: int = 0
    skipped_busy: int = 0
    errors: list[str] = field(default_factory=list)


class RoutineEngine:
    """Runs the site's enabled routines (or those named) on their triggers, inside the hub."""

    name = "routines"

    def __init__(self, names: Sequence[str] | None = None, poll_s: float = POLL_S) -> None:
        self.names = None if names is None else set(names)
        self.poll_s = poll_s
        self.states: dict[str, _State] = {}
        self.results: list[RoutineResult] = []  # every finished run, newest last
        self._ctx: HubContext | None = None
        self._runner: RoutineRunner | None = None
        self._latest: dict[tuple[str, str], float] = {}

    # ---- setting up ------------------------------------------------------------------
    def _build(self, ctx: HubContext) -> None:
        from zoneinfo import ZoneInfo

        from smartbuild.routines.resolve import resolve
        from smartbuild.routines.triggers import PointWatch, QuietWatch, next_time
        from smartbuild.services.routines import RoutineRunner, point_infos

        session, clock = ctx.session, ctx.clock
        runner = RoutineRunner(session, now=clock.time, sleep=clock.sleep)
        self._runner = runner
        devices = session.devices()
        infos = point_infos(devices)
        tz = ZoneInfo(session.site().site.timezone)
        wanted: dict[str, set[str]] = {}
        for item in runner.routines():
            r = item.routine
            if not r.enabled or (self.names is not None and r.routine not in self.names):
                continue
            state = _State(item)
            for i, t in enumerate(r.triggers):
                if t.time is not None:
                    state.times[i] = next_time(t.time, clock.now(), tz)
                spec: Any = t.point or t.no_quiet
                if spec is None:
                    continue
                kind = PointWatch if t.point is not None else QuietWatch
                for p in resolve(spec, infos):
                    unit = devices[p.device].point(p.point).unit
                    state.watches.append(_Watch(i, t.name or f"trigger {i + 1}", p, kind(spec),
                                                unit))  # fmt: skip
                    wanted.setdefault(p.device, set()).add(p.point)
            for target in r.points_needed():
                for p in resolve(target, infos):
                    wanted.setdefault(p.device, set()).add(p.point)
            self.states[r.routine] = state
        for device, points in wanted.items():
            ctx.want(device, sorted(points), self.poll_s)
        self._tz = tz

    # ---- running ---------------------------------------------------------------------
    async def run(self, ctx: HubContext) -> None:
        """Watch, fire and run routines until cancelled."""
        from smartbuild.services.routines import Fire

        self._ctx = ctx
        self._build(ctx)
        ctx.status_section(self.name, self.status)
        for state in self.states.values():
            for t in state.item.routine.triggers:
                if t.hub_start:
                    self._fire(state, Fire(t.name or "hub start"))
        reader = asyncio.ensure_future(self._read(ctx))
        try:
            while True:
                now = ctx.clock.time()
                self._tick(now)
                times = [w.timestamp() for s in self.states.values() for w in s.times.values()]
                due = ctx.clock.real_seconds(min(times) - now) if times else TICK_REAL_S
                await asyncio.sleep(min(TICK_REAL_S, due))  # wake on time for a time trigger
        finally:
            reader.cancel()
            running = [s.running for s in self.states.values() if s.running is not None]
            for task in running:
                task.cancel()
            with contextlib.suppress(BaseException):
                await asyncio.gather(reader, *running, return_exceptions=True)

    async def _read(self, ctx: HubContext) -> None:
        async for reading in ctx.subscribe():
            self.feed(reading, ctx.clock.time())

    def feed(self, reading: Reading, t: float) -> None:
        """Take one reading (at clock time t) into every watch of its point."""
        if not reading.ok or not isinstance(reading.value, (int, float)):
            return
        value = float(reading.value)
        self._latest[(reading.device, reading.point)] = value
        for state in self.states.values():
            for w in state.watches:
                same = (w.point.device, w.point.point) == (reading.device, reading.point)
                if same and w.machine.feed(value, t):
                    self._fire(state, self._fire_of(w, value))

    def _fire_of(self, w: _Watch, value: float) -> Fire:
        from smartbuild.services.routines import Fire

        return Fire(w.label, w.point.zone, w.point.device, w.point.point, value, w.unit)

    def _tick(self, t: float) -> None:
        from smartbuild.routines.triggers import next_time
        from smartbuild.services.routines import Fire

        for state in self.states.values():
            for w in state.watches:
                if w.machine.tick(t):
                    self._fire(state, self._fire_of(w, w.machine.last))
            for i, when in list(state.times.items()):
                if when.timestamp() <= t:
                    spec = state.item.routine.triggers[i]
                    assert spec.time is not None
                    now = dt.datetime.fromtimestamp(t, self._tz)
                    state.times[i] = next_time(spec.time, now, self._tz)  # never replayed
                    self._fire(state, Fire(spec.name or f"at {spec.time.at}"))

    def _fire(self, state: _State, fire: Fire) -> None:
        assert self._ctx is not None
        now = self._ctx.clock.time()
        r = state.item.routine
        if state.running is not None and not state.running.done():
            state.skipped_busy += 1
            return
        if state.last_start is not None and now - state.last_start < r.cooldown:
            return
        state.last_start = now
        state.running = asyncio.ensure_future(self._run(state, fire))

    def values(self, target: Target, zone: str | None) -> list[float | None]:
        """Return the latest polled values of a target's points (None where none came yet)."""
        from smartbuild.routines.resolve import resolve
        from smartbuild.services.routines import point_infos

        assert self._ctx is not None
        infos = point_infos(self._ctx.session.devices())
        return [self._latest.get((p.device, p.point)) for p in resolve(target, infos, zone)]

    async def _run(self, state: _State, fire: Fire) -> None:
        from smartbuild.errors import SmartbuildError

        assert self._runner is not None
        try:
            result = await self._runner.run(state.item, fire, confirm=lambda question: True,
                                            values=self.values)  # fmt: skip
        except SmartbuildError as error:
            self._error(state, f"{fire.trigger}: {error.message}")
            return
        except Exception as error:  # a routine must never stop the engine
            self._error(state, f"{fire.trigger}: {type(error).__name__}: {error}")
            return
        state.runs += result.status != "skipped"
        state.last = {"run": result.run, "status": result.status, "trigger": fire.trigger,
                      "zone": fire.zone, "at": self._ctx.clock.time() if self._ctx else None}  # fmt: skip
        self.results.append(result)
        del self.results[:-100]
        for step in result.steps:
            if step.status == "failed":
                self._error(state, f"run {result.run} step {step.index + 1}: {step.message}")

    def _error(self, state: _State, message: str) -> None:
        state.errors.append(message)
        del state.errors[:-MAX_ERRORS]

    def status(self) -> dict[str, Any]:
        """Return the routines section of `hub status`."""
        out = {}
        for name, s in self.states.items():
            out[name] = {
                "triggers": [
                    {"trigger": w.label, "point": f"{w.point.device}.{w.point.point}",
                     **w.machine.snapshot()} for w in s.watches
                ],
                "next": {str(i): when.isoformat() for i, when in s.times.items()},
                "running": s.running is not None and not s.running.done(),
                "runs": s.runs,
                "skipped_busy": s.skipped_busy,
                "last": s.last,
                "errors": list(s.errors),
            }  # fmt: skip
        return {"routines": out}
