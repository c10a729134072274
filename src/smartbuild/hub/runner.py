"""The hub: one Session, one clock, schedules, override releases, polling and faces in one loop.

Every write goes through the session's one write path under a journaled run whose command says
why: ``hub schedule PROFILE: transition …``, ``…: start: slot …`` or ``release RUN`` (an override
that expired). One write runs at a time; SIGTERM lets the one in flight finish, then stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import signal
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from smartbuild.errors import ConfigError, SmartbuildError
from smartbuild.hub.control import ProfileControl, RecoveryHistory, history_path, needs_control
from smartbuild.hub.face import Clock, Face
from smartbuild.hub.faces import FaceState, supervise
from smartbuild.hub.notify import Notifier
from smartbuild.hub.poller import Poller
from smartbuild.hub.schedules import Scheduler, Slot
from smartbuild.hub.status import write_status

if TYPE_CHECKING:
    from smartbuild.hub.config import HubConfig, ScheduleEntry
    from smartbuild.model.device import Reading
    from smartbuild.services.session import Session

OVERRIDE_SCAN_S = 2.0  # real seconds between looks at the journal for new overrides
OVERRIDE_SCAN_SIM_S = 30.0  # and simulated ones: at 600x a new override is seen within 30 s
STATUS_EVERY_S = 1.0  # real seconds between status file updates
STOP_WAIT_S = 30.0  # how long SIGTERM waits for the write in flight
RELEASE_RETRY_SIM_S = 30.0  # simulated seconds before a failed release is tried again
SPIN_S = 0.02  # real seconds before an expiry when the release loop stops sleeping


def due_at_s(overrides: list[dict[str, Any]]) -> list[float]:
    """Return the expiry times of overrides."""
    return [float(o["expires"]) for o in overrides]


class Hub:
    """The long-lived face: build it, then ``await hub.run()`` until ``hub.stop()`` or SIGTERM."""

    def __init__(
        self,
        site_path: str | os.PathLike[str],
        home: str | os.PathLike[str],
        *,
        clock: Clock | None = None,
        faces: Sequence[Face] = (),
        face_factory: Callable[[Session, HubConfig], Sequence[Face]] | None = None,
        notifier: Notifier | None = None,
        warn: Callable[[str], None] | None = None,
    ) -> None:
        self.site_path = Path(site_path)
        self.home = Path(home)
        self.clock = clock or Clock()
        self.faces = list(faces)  # run whatever the configuration (installed plugins' faces)
        self.face_factory = face_factory  # faces a configuration asks for (the MQTT bridge)
        self.notifier = notifier or Notifier()
        self._warn = warn or (lambda message: None)
        self._session: Session | None = None
        self.config: HubConfig | None = None
        self.poller = Poller(self.clock, self.warn, self._recovered)
        self.scheduler = Scheduler(self.clock, self._apply_slot)
        self.write_lock = asyncio.Lock()
        self.state = "starting"
        self.errors: list[dict[str, Any]] = []
        self.runs: list[dict[str, Any]] = []  # the hub's last runs (bounded)
        self.releases: list[dict[str, Any]] = []
        self.reload_info: dict[str, Any] = {"seq": 0, "ok": None, "error": None, "problems": []}
        self.face_states: dict[str, FaceState] = {}
        self.sections: dict[str, Callable[[], dict[str, Any]]] = {}
        self.overrides_view: list[dict[str, Any]] = []
        self._stop = asyncio.Event()
        self._override_wake = asyncio.Event()
        self._tasks: list[asyncio.Task[Any]] = []
        self._face_tasks: list[asyncio.Task[Any]] = []
        self._released: set[str] = set()
        self.controls: list[ProfileControl] = []  # profiles whose targets move within a slot
        self._control_tasks: list[asyncio.Task[Any]] = []
        self._histories: dict[str, RecoveryHistory] = {}
        self._retry_at: dict[str, float] = {}  # failed releases, tried again from then
        self.started = time.time()

    # ---- HubContext ---------------------------------------------------------------------------
    @property
    def session(self) -> Session:
        """Return the session of the configuration in force."""
        assert self._session is not None, "the hub has not loaded its configuration yet"
        return self._session

    def subscribe(self) -> AsyncIterator[Reading]:
        """Yield every reading the poller takes from now on."""
        return self.poller.subscribe()

    def want(self, device: str, points: Sequence[str], interval_s: float) -> None:
        """Ask the poller to read these points at least every ``interval_s`` simulated seconds."""
        self.poller.want(device, list(points), interval_s)

    def status_section(self, name: str, provider: Callable[[], dict[str, Any]]) -> None:
        """Add a section to ``hub status``."""
        self.sections[name] = provider

    # ---- reporting ------------------------------------------------------------------------------
    def warn(self, message: str) -> None:
        """Tell the operator (stderr / the journal of systemd)."""
        self._warn(message)

    def error(self, message: str) -> None:
        """Record an error for ``hub status`` and tell the operator."""
        self.errors.append(
            {"at": self.clock.now().isoformat(timespec="seconds"), "message": message}
        )
        del self.errors[:-20]
        self.warn(message)

    # ---- configuration --------------------------------------------------------------------------
    def _load(self) -> tuple[Session, HubConfig]:
        from smartbuild.hub.config import load_hub_config
        from smartbuild.services.session import Session

        session = Session(self.site_path, self.home, warn=self.warn)
        try:
            return session, load_hub_config(session)
        except BaseException:
            session.close()
            raise

    def _install(self, session: Session, config: HubConfig, reason: str) -> None:
        self._session, self.config = session, config
        self.poller.configure(session, config.polls)
        self.scheduler.configure(config.schedules, reason)
        self._start_controls(session, config)

    def _start_controls(self, session: Session, config: HubConfig) -> None:
        """(Re)start the control of every schedule whose targets move within a slot."""
        for task in self._control_tasks:
            task.cancel()
        self._control_tasks.clear()
        self.controls = []
        zones = session.site().site.zones
        areas = {z: spec.area_m2 for z, spec in zones.items() if spec.area_m2}
        for entry in config.schedules:
            if not needs_control(entry.profile):
                continue
            path = history_path(self.home, self.site_path, entry.profile.profile)
            spec = entry.profile.optimal_start
            history = self._histories.get(str(path))
            if history is None:
                history = RecoveryHistory(path, spec.min_history if spec else 3, areas)
                history.load()
                if history.problem:
                    self.error(history.problem)
                self._histories[str(path)] = history
            history.areas = areas
            control = ProfileControl(self, entry, history)
            self.controls.append(control)
            name = f"control of {entry.profile.profile}"
            self._control_tasks.append(asyncio.ensure_future(self._guard(name, control.run)))

    @property
    def stopping(self) -> bool:
        """Return True once the hub was asked to stop (no new write starts then)."""
        return self._stop.is_set()

    async def reload(self) -> bool:
        """Validate the files again and switch to them at once; keep the old ones when invalid."""
        info = self.reload_info
        try:
            session, config = self._load()
        except SmartbuildError as error:
            problems = error.lines() if isinstance(error, ConfigError) else [error.message]
            info.update(seq=info["seq"] + 1, ok=False, error=problems[0], problems=problems,
                        at=self.clock.now().isoformat(timespec="seconds"))  # fmt: skip
            self.error(f"reload refused, the running configuration stays: {problems[0]}")
            return False
        await self._stop_faces()  # they hold the old session: started again on the new one
        async with self.write_lock:  # never switch under a write
            old = self._session
            self._install(session, config, "reload")
        self._start_faces(session, config)
        if old is not None:
            await old.aclose()
            old.close()
        info.update(seq=info["seq"] + 1, ok=True, error=None, problems=[],
                    at=self.clock.now().isoformat(timespec="seconds"))  # fmt: skip
        self.warn("configuration reloaded")
        return True

    def config_faces(self, session: Session, config: HubConfig) -> list[Face]:
        """Return the faces a configuration runs: the given ones, the factory's, its routines.

        Routines start last: what they do at hub start reaches the observers the others attached.
        """
        faces = list(self.faces)
        if self.face_factory is not None:
            faces += self.face_factory(session, config)
        if config.routines:
            from smartbuild.hub.routines import RoutineEngine

            faces.append(RoutineEngine(config.routines))
        return faces

    def _start_faces(self, session: Session, config: HubConfig) -> None:
        for face in self.config_faces(session, config):
            name = getattr(face, "name", type(face).__name__)
            state = self.face_states[name] = FaceState(name)
            self._face_tasks.append(asyncio.ensure_future(supervise(face, self, state, self.error)))

    async def _stop_faces(self) -> None:
        for task in self._face_tasks:
            task.cancel()
        await asyncio.gather(*self._face_tasks, return_exceptions=True)
        self._face_tasks.clear()
        self.face_states.clear()
        self.sections.clear()

    def _recovered(self, device: str) -> None:
        """A device answers again: what it missed while down is applied (the present slot only)."""
        if self.config is not None and self.config.schedules:
            self.scheduler.request(f"{device} answers again")

    # ---- writes ----------------------------------------------------------------------------------
    def held_points(self, now: float) -> set[tuple[str, str]]:
        """Return the points an override holds: schedules leave them alone until it is released."""
        return {
            (c["device"], c["point"]) for o in self.session.overrides(now) for c in o["changes"]
        }

    async def _apply_slot(
        self,
        entry: ScheduleEntry,
        slot: Slot,
        now: dt.datetime,
        reason: str,
        only: set[tuple[str, str]] | None,
    ) -> None:
        if self._stop.is_set():
            return
        command = f"hub schedule {entry.profile.profile}: {reason}"
        async with self.write_lock:
            session = self.session
            try:
                # the control's learned recoveries: a slot applied within a lead starts the
                # zones as the control would, not with the default rate
                learned = next((c.history.model for c in self.controls if c.entry is entry), None)
                live = await session.plan(str(entry.path), at=now.isoformat(),
                                          zones=entry.zone_filter, recovery=learned)  # fmt: skip
                held = self.held_points(now.timestamp())
                if held or only is not None:
                    kept = tuple(a for a in live.plan.actions
                                 if (a.device, a.point) not in held
                                 and (only is None or (a.device, a.point) in only))  # fmt: skip
                    live.plan = replace(live.plan, actions=kept)
                result = await session.apply(live, confirm=lambda question: True, command=command)
            except SmartbuildError as error:
                self.error(f"{command}: {error.message}")
                return
            except Exception as error:  # a bug in one schedule must not stop the others
                self.error(f"{command}: {type(error).__name__}: {error}")
                return
        bad = [o for o in result.outcomes if not o.status.ok]
        self.note_run(result.run, command, len(result.outcomes), len(bad))
        for outcome in bad[:5]:
            self.error(f"{command}: {outcome.device}.{outcome.point} {outcome.status.value}"
                       + (f": {outcome.message}" if getattr(outcome, "message", None) else ""))  # fmt: skip
        for problem in live.read_errors[:5]:
            self.error(f"{command}: could not read {problem}")

    def note_run(self, run: str | None, command: str, writes: int, failed: int) -> None:
        self.runs.append({"run": run, "command": command, "writes": writes, "failed": failed,
                          "at": self.clock.now().isoformat(timespec="seconds")})  # fmt: skip
        del self.runs[:-20]

    async def _release(self, run: dict[str, Any]) -> None:
        started_sim = self.clock.time()
        async with self.write_lock:
            if self._stop.is_set():
                return
            self._released.add(run["id"])
            try:
                result = await self.session.release(run["id"])
            except SmartbuildError as error:
                self._released.discard(run["id"])
                self._retry_at[run["id"]] = self.clock.time() + RELEASE_RETRY_SIM_S
                self.error(f"release of override {run['id']} failed, tried again in "
                           f"{RELEASE_RETRY_SIM_S:g} s: {error.message}")  # fmt: skip
                return
        conflicts = [
            f"{o.device}.{o.point}" for o in result.outcomes if o.status.value == "conflict"
        ]
        record = {"override": run["id"], "run": result.run, "expires": run["expires"],
                  "released_at": started_sim, "lag_s": round(started_sim - run["expires"], 3),
                  "restored": sum(1 for o in result.outcomes if o.status.ok), "conflicts": conflicts}  # fmt: skip
        self.releases.append(record)
        del self.releases[:-20]
        self.note_run(result.run, f"release {run['id']}", len(result.outcomes), len(conflicts))
        if conflicts:
            self.error(f"override {run['id']} released with conflicts (left as they are): "
                       f"{', '.join(conflicts[:5])}")  # fmt: skip
        # what the release restored gets the present slot (the schedule may have moved on);
        # a conflicting point keeps what someone set by hand
        restored = {(o.device, o.point) for o in result.outcomes if o.status.ok}
        if restored:
            self.scheduler.request(f"after release of {run['id']}", restored)

    async def _release_loop(self) -> None:
        from smartbuild.services.rollback import expired_overrides

        due_at: dict[str, dict[str, Any]] = {}  # the overrides seen in force, by id
        while True:
            now = self.clock.time()
            # those known to expire now go first, before the journal is scanned again
            for run in sorted(due_at.values(), key=lambda r: r["expires"]):
                if run["expires"] <= now and self._may_release(run):
                    await self._release(run)
            journal = self.session.journal
            # a release that ended (restored, or left conflicts) is done; one that failed (a
            # lease held elsewhere, a crash) is tried again
            done = {r["parent_run"] for r in journal.runs()
                    if r.get("kind") == "release" and r["status"] in ("ok", "partial")}  # fmt: skip
            for run in expired_overrides(journal, self.clock.time()):
                if run["id"] not in done and self._may_release(run):
                    await self._release(run)
            now = self.clock.time()
            active = self.session.overrides(now)
            due_at = {o["id"]: o for o in active}
            self.overrides_view = [
                {"run": o["id"], "command": o["command"], "expires": o["expires"],
                 "remaining_s": round(o["expires"] - now), "points": len(o["changes"])}
                for o in active
            ]  # fmt: skip
            wait = min(OVERRIDE_SCAN_S, self.clock.real_seconds(OVERRIDE_SCAN_SIM_S))
            if active:
                wait = min(wait, self.clock.real_seconds(min(due_at_s(active)) - now))
            self._override_wake.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._override_wake.wait(), max(0.0, wait - SPIN_S))
            if active:
                await self._spin_until(min(due_at_s(active)))

    def _may_release(self, run: dict[str, Any]) -> bool:
        """Return True when an expired override is due for a release attempt now."""
        if run["id"] in self._released or run.get("status") == "running":
            return False  # released already, or the override is still being written
        return self._retry_at.get(run["id"], 0.0) <= self.clock.time()

    async def _spin_until(self, moment: float) -> None:
        """Yield to the loop until ``moment`` (clock time) when it is a few milliseconds away."""
        # a timer fires late by the loop's latency; at 600x a millisecond is 0.6 simulated
        # seconds, so the last stretch before an expiry is spent yielding instead of sleeping
        if self.clock.real_seconds(moment - self.clock.time()) > SPIN_S:
            return
        while self.clock.time() < moment:
            await asyncio.sleep(0)

    # ---- status ------------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """Return what ``hub status`` shows, JSON-ready."""
        sections = {}
        for name, provider in self.sections.items():
            try:
                sections[name] = provider()
            except Exception as error:
                sections[name] = {"error": f"{type(error).__name__}: {error}"}
        config = self.config
        nxt = self.scheduler.next_transition()
        return {
            "state": self.state, "pid": os.getpid(), "started": self.started, "written": time.time(),
            "clock": {"now": self.clock.now().isoformat(timespec="seconds"), "time": self.clock.time(),
                      "speed": self.clock.speed, "simulated": self.clock.simulated},
            "config": config.summary() if config else None,
            "reload": self.reload_info,
            "schedules": [
                {"profile": e.profile.profile, "zones": e.zones[:20], "zone_count": len(e.zones),
                 **(self.scheduler.slots[e.index].to_json() if e.index in self.scheduler.slots else {}),
                 "applied": self.scheduler.applied.get(e.index)}
                for e in (config.schedules if config else [])
            ],
            "next_transition": nxt.isoformat() if nxt else None,
            "transitions": self.scheduler.transition_count,
            "last_transitions": self.scheduler.transitions[-10:],
            "overrides": self.overrides_view,
            "releases": self.releases[-10:],
            "runs": self.runs[-10:],
            "control": [c.to_json() for c in self.controls],
            "devices": self.poller.summary(),
            "faces": {n: s.to_json() for n, s in self.face_states.items()},
            "sections": sections,
            "errors": self.errors[-20:],
            "notify": self.notifier.errors[-5:],
        }  # fmt: skip

    def write_status(self) -> None:
        """Replace the status file (errors writing it are reported, never fatal)."""
        try:
            write_status(self.home, self.status())
        except OSError as error:
            self.warn(f"cannot write the hub status: {error}")

    async def _status_loop(self) -> None:
        while True:
            self.write_status()
            await asyncio.sleep(STATUS_EVERY_S)

    async def _watchdog_loop(self, period: float) -> None:
        while True:  # from inside the loop: a blocked loop stops the pings
            self.notifier.ping()
            await asyncio.sleep(period)

    async def _guard(self, name: str, loop: Callable[[], Any]) -> None:
        """Run one of the hub's own loops; a failure is reported and the loop restarted."""
        backoff = 1.0
        while True:
            try:
                await loop()
                return
            except asyncio.CancelledError:
                raise
            except Exception as error:
                self.error(f"the hub's {name} failed ({type(error).__name__}: {error}); "
                           f"restarting it in {backoff:g} s")  # fmt: skip
                await asyncio.sleep(backoff)
                backoff = min(60.0, backoff * 2)

    # ---- life cycle ---------------------------------------------------------------------------------
    def stop(self) -> None:
        """Ask the hub to stop (the write in flight finishes first)."""
        self._stop.set()

    def request_reload(self) -> None:
        """Reload on the loop (what SIGHUP does)."""
        self._tasks.append(asyncio.ensure_future(self.reload()))

    async def start(self) -> None:
        """Load and validate everything, open the transports, start every task; raise ConfigError."""
        from smartbuild.hub.permissions import permission_problems

        session, config = self._load()
        self._install(session, config, "start")
        for problem in permission_problems(session.devices().values()):
            self.error(problem)
        session.conns  # noqa: B018  (transports up before READY)
        self.clock.restart()
        spawn = asyncio.ensure_future
        self._tasks += [
            spawn(self._guard("scheduler", self.scheduler.run)),
            spawn(self._guard("override releases", self._release_loop)),
            spawn(self._guard("status", self._status_loop)),
        ]
        if self.notifier.watchdog_s:
            self._tasks.append(spawn(self._watchdog_loop(self.notifier.watchdog_s / 2)))
        self._start_faces(session, config)
        with contextlib.suppress(asyncio.TimeoutError):  # a dead device must not hold READY back
            await asyncio.wait_for(self.poller.first_round.wait(), 10.0)
        self.state = "running"
        self.write_status()
        self.notifier.ready(f"running {len(config.schedules)} schedule(s), "
                            f"polling {len(self.poller.health)} device(s)")  # fmt: skip

    async def run(self, *, signals: bool = True) -> None:
        """Start, then run until stopped (SIGTERM/SIGINT), reloading on SIGHUP."""
        loop = asyncio.get_running_loop()
        if signals:
            loop.add_signal_handler(signal.SIGTERM, self.stop)
            loop.add_signal_handler(signal.SIGINT, self.stop)
            loop.add_signal_handler(signal.SIGHUP, self.request_reload)
        try:
            await self.start()
            await self._stop.wait()
        finally:
            await self.shutdown()
            if signals:
                for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                    loop.remove_signal_handler(sig)

    async def shutdown(self) -> None:
        """Finish the write in flight, stop every task, release leases and transports."""
        self._stop.set()
        self.state = "stopping"
        self.notifier.stopping()
        await self._stop_faces()
        held = False
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.write_lock.acquire(), STOP_WAIT_S)
            held = True
        for task in (*self._tasks, *self._control_tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, *self._control_tasks, return_exceptions=True)
        await self.poller.stop()
        if self._session is not None:
            journal = self._session.journal
            for run_id in {r["run"] for r in self.runs} | {self._session.last_run}:
                if run_id:
                    journal.release_leases(run_id)
            await self._session.aclose()
        self.state = "stopped"
        self.write_status()
        if self._session is not None:
            self._session.close()
        if held:
            self.write_lock.release()
