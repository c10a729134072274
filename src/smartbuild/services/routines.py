"""Run a routine's steps through the session: every write on the one safe path, one run per routine.

A routine run is one journaled run (``routine NAME``): its write and apply steps go through
``apply_writes`` with leases, read-back and verification, each request giving the routine and step
as its reason. A ``hold`` step is an override: a run of its own with an absolute expiry (and the
routine's run as its parent) that the hub releases when it expires, restoring the value it found
where the device still holds what the hold wrote. An ``event`` step is recorded with
``Session.record`` (journal first), so observers such as the MQTT bridge see it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from smartbuild.errors import ConfigError, SmartbuildError
from smartbuild.model.events import Event

if TYPE_CHECKING:
    from smartbuild.model.device import Device
    from smartbuild.model.writes import WriteOutcome, WriteRequest
    from smartbuild.routines.loading import LoadedRoutine
    from smartbuild.routines.resolve import PointInfo
    from smartbuild.routines.schema import ConditionSpec, Routine, StepSpec, Target
    from smartbuild.services.session import Confirm, Session

EVENT_KIND = "routine-event"  # what an `event:` step records (the MQTT bridge publishes these)


@dataclass(frozen=True)
class Fire:
    """What started a routine run: a trigger (with the point that fired it) or a person."""

    trigger: str = "manual"
    zone: str | None = None
    device: str | None = None
    point: str | None = None
    value: Any = None
    unit: str | None = None

    def fields(self, routine: str, run: str | None, now: dt.datetime) -> dict[str, Any]:
        """Return the placeholders a message may use."""
        return {"routine": routine, "trigger": self.trigger, "zone": self.zone or "",
                "device": self.device or "", "point": self.point or "",
                "value": "" if self.value is None else self.value, "unit": self.unit or "",
                "time": now.strftime("%Y-%m-%d %H:%M"), "run": run or ""}  # fmt: skip


@dataclass
class StepResult:
    """What became of one step."""

    index: int
    kind: str
    status: str  # ok, failed, skipped, dry-run
    message: str = ""
    outcomes: list[WriteOutcome] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """Return JSON-ready data."""
        return {"step": self.index + 1, "kind": self.kind, "status": self.status,
                "message": self.message, "outcomes": [o.to_json() for o in self.outcomes],
                **self.data}  # fmt: skip


@dataclass
class RoutineResult:
    """A routine run: its run id, whether its conditions held, and each step."""

    routine: str
    run: str | None
    status: str  # ok, partial, failed, skipped (conditions), dry-run
    trigger: str
    conditions: list[dict[str, Any]] = field(default_factory=list)
    steps: list[StepResult] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """Return JSON-ready data."""
        return {"routine": self.routine, "run": self.run, "status": self.status,
                "trigger": self.trigger, "conditions": self.conditions,
                "steps": [s.to_json() for s in self.steps]}  # fmt: skip


def point_infos(devices: dict[str, Device]) -> list[PointInfo]:
    """Return every point of the site as routines see it."""
    from smartbuild.routines.resolve import PointInfo

    out = []
    for d in devices.values():
        for name, p in d.template.points.items():
            labels = tuple(str(v) for v in (getattr(p, "enum", None) or {}).values())
            out.append(PointInfo(d.id, name, p.role, d.spec.zone, bool(p.writable), labels))
    return out


def coerce(device: Device, point: str, value: Any) -> Any:
    """Return a routine's value as the point takes it: an enum label becomes its code."""
    spec = device.point(point)
    if isinstance(value, str) and spec.enum:
        for code, label in spec.enum.items():
            if value.lower() == str(label).lower():
                return code
        labels = ", ".join(map(str, spec.enum.values()))
        raise SmartbuildError(f"{device.id}.{point}: {value!r} is not one of {labels}")
    return value


class RoutineRunner:
    """Load, check and run a site's routines on a session, on a clock of the caller's choice."""

    def __init__(
        self,
        session: Session,
        *,
        now: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.session = session
        self.now = now  # the hub passes its (possibly simulated) clock
        self.sleep = sleep

    # ---- loading ---------------------------------------------------------------------
    def routines(self) -> list[LoadedRoutine]:
        """Return the site's routines, validated and checked against the site (ConfigError)."""
        from smartbuild.routines.loading import load_routines, routine_files
        from smartbuild.routines.resolve import check_routine

        loaded = self.session.site()
        items = load_routines(loaded.doc, routine_files(loaded.path))
        points = point_infos(self.session.devices())
        zones = list(loaded.site.zones)
        problems = []
        for item in items:
            profiles = self._profiles(item.routine)
            for path, message in check_routine(item.routine, points, zones, profiles):
                problems.append(item.problem(path, message))
        if problems:
            raise ConfigError(problems)
        return items

    def _profiles(self, routine: Routine) -> list[str]:
        """Return the profiles a routine may name: shipped, the site's, and files it names."""
        refs = [s.apply.profile for s in routine.steps if s.apply is not None]
        refs += [c.mode.profile for c in routine.conditions if c.mode is not None]
        from smartbuild.profiles.loading import resolve_profile, shipped_profiles

        found = [p.stem for p in shipped_profiles()]
        for directory in self.session.profile_dirs():
            found += [p.stem for p in sorted(directory.glob("*.y*ml"))]
        for ref in refs:
            try:
                if resolve_profile(ref, self.session.profile_dirs()).exists():
                    found.append(ref)
            except SmartbuildError:
                pass
        return found

    def local_now(self) -> dt.datetime:
        """Return the runner's now in the site's timezone."""
        from zoneinfo import ZoneInfo

        tz = ZoneInfo(self.session.site().site.timezone)
        return dt.datetime.fromtimestamp(self.now(), tz)

    # ---- conditions --------------------------------------------------------------------
    async def _values(self, target: Target, zone: str | None) -> list[float | None]:
        """Read a target's points now (the hub passes what it polled instead)."""
        from smartbuild.routines.resolve import resolve

        points = resolve(target, point_infos(self.session.devices()), zone)
        devices = self.session.devices()
        by_device: dict[str, list[str]] = {}
        for p in points:
            by_device.setdefault(p.device, []).append(p.point)
        result = await self.session.read([(devices[d], names) for d, names in by_device.items()])
        return [r.value if r.ok and isinstance(r.value, (int, float)) else None
                for r in result.readings]  # fmt: skip

    async def check(
        self,
        routine: Routine,
        fire: Fire,
        values: Callable[[Target, str | None], list[float | None]] | None = None,
    ) -> list[dict[str, Any]]:
        """Return each condition with whether it holds now (values: the hub's latest readings)."""
        from smartbuild.routines.conditions import describe

        out = []
        now = self.local_now()
        for cond in routine.conditions:
            ok, why = await self._check_one(cond, fire, values, now)
            out.append({"condition": describe(cond), "ok": ok, "why": why})
        return out

    async def _check_one(
        self, cond: ConditionSpec, fire: Fire, values: Any, now: dt.datetime
    ) -> tuple[bool, str]:
        from smartbuild.routines import conditions as c

        if cond.time is not None:
            return c.window_holds(cond.time, now)
        if cond.mode is not None:
            profile, _path = self.session.load_profile(cond.mode.profile)
            return c.mode_holds(cond.mode, profile.schedule, now)
        assert cond.point is not None
        got = values(cond.point, fire.zone) if values is not None else None
        if not got or all(v is None for v in got):
            got = await self._values(cond.point, fire.zone)
        return c.point_holds(cond.point, got)

    # ---- running -----------------------------------------------------------------------
    async def run(
        self,
        item: LoadedRoutine,
        fire: Fire | None = None,
        *,
        confirm: Confirm,
        dry_run: bool = False,
        values: Callable[[Target, str | None], list[float | None]] | None = None,
    ) -> RoutineResult:
        """Check the conditions, then run the steps as one journaled run."""
        routine, fire = item.routine, fire or Fire()
        conditions = await self.check(routine, fire, values)
        result = RoutineResult(routine.routine, None, "ok", fire.trigger, conditions)
        if not all(c["ok"] for c in conditions):
            result.status = "skipped"
            return result
        writes = [s for s in routine.steps if s.kind() in ("write", "hold", "apply")]
        if (
            writes
            and not dry_run
            and not confirm(f"run routine {routine.routine} ({len(writes)} step(s) that write)?")
        ):
            from smartbuild.errors import SafetyRefusal

            raise SafetyRefusal("nothing written: not confirmed")
        command = f"routine {routine.routine}"
        with self.session._run(command, dry_run=dry_run) as run:
            result.run = run.id
            run.emit("triggered", fire.device, fire.point, after=fire.value,
                     message=f"{fire.trigger}" + (f" in {fire.zone}" if fire.zone else ""),
                     data={"routine": routine.routine, "zone": fire.zone})  # fmt: skip
            stopped = False
            for index, step in enumerate(routine.steps):
                if stopped:
                    result.steps.append(StepResult(index, step.kind(), "skipped",
                                                   "an earlier step failed (on_error: stop)"))  # fmt: skip
                    continue
                outcome = await self._step(run, routine, index, step, fire, dry_run)
                result.steps.append(outcome)
                if outcome.status == "failed":
                    run.emit("step-failed", message=f"step {index + 1} ({step.kind()}): "
                             f"{outcome.message}", data={"routine": routine.routine})  # fmt: skip
                    stopped = routine.on_error == "stop"
            failed = [s for s in result.steps if s.status == "failed"]
            if dry_run:
                result.status = "dry-run"
            elif failed:
                done = [s for s in result.steps if s.status == "ok"]
                result.status = "partial" if done else "failed"
            run.status = result.status
        return result

    async def _step(self, run: Any, routine: Routine, index: int, step: StepSpec, fire: Fire,
                    dry_run: bool) -> StepResult:  # fmt: skip
        kind = step.kind()
        try:
            if kind == "wait":
                assert step.wait is not None
                if not dry_run:
                    await self.sleep(step.wait)
                return StepResult(index, kind, "dry-run" if dry_run else "ok", f"{step.wait:g} s")
            if kind == "event":
                return self._event(run, routine, index, step, fire, dry_run)
            if kind == "read":
                return await self._read(run, index, step, fire)
            if kind == "apply":
                return await self._apply(run, routine, index, step, dry_run)
            return await self._write(run, routine, index, step, fire, dry_run)
        except SmartbuildError as error:
            return StepResult(index, kind, "failed", error.message)

    def _event(self, run: Any, routine: Routine, index: int, step: StepSpec, fire: Fire,
               dry_run: bool) -> StepResult:  # fmt: skip
        assert step.event is not None
        text = step.event.message.format_map(fire.fields(routine.routine, run.id, self.local_now()))
        data = {"routine": routine.routine, "level": step.event.level, "zone": fire.zone,
                "trigger": fire.trigger, "at": self.now(), **step.event.data}  # fmt: skip
        if not dry_run:
            self.session.record(Event(EVENT_KIND, run.id, fire.device, fire.point,
                                      after=fire.value, message=text, data=data))  # fmt: skip
        return StepResult(index, "event", "dry-run" if dry_run else "ok", text,
                          data={"level": step.event.level})  # fmt: skip

    async def _read(self, run: Any, index: int, step: StepSpec, fire: Fire) -> StepResult:
        from smartbuild.routines.resolve import resolve

        assert step.read is not None
        devices = self.session.devices()
        points = resolve(step.read, point_infos(devices), fire.zone)
        if not points:
            if step.read.if_present:
                return StepResult(index, "read", "skipped", f"no point has {step.read.label()}")
            raise SmartbuildError(f"no point matches {step.read.label()}")
        by_device: dict[str, list[str]] = {}
        for p in points:
            by_device.setdefault(p.device, []).append(p.point)
        result = await self.session.read([(devices[d], n) for d, n in by_device.items()])
        values = {}
        for r in result.readings:
            run.emit("recorded", r.device, r.point, after=r.value if r.ok else None,
                     message=r.error, data={"unit": r.unit})  # fmt: skip
            values[f"{r.device}.{r.point}"] = r.value if r.ok else None
        failed = [r for r in result.readings if not r.ok]
        status = "failed" if failed and len(failed) == len(result.readings) else "ok"
        return StepResult(index, "read", status, f"{len(result.readings) - len(failed)} read",
                          data={"values": values})  # fmt: skip

    def _requests(self, routine: Routine, index: int, step: StepSpec,
                  fire: Fire) -> list[WriteRequest]:  # fmt: skip
        from smartbuild.model.writes import WriteRequest
        from smartbuild.routines.resolve import resolve

        spec = step.write or step.hold
        assert spec is not None
        devices = self.session.devices()
        points = resolve(spec, point_infos(devices), fire.zone)
        if not points and not spec.if_present:
            raise SmartbuildError(f"no point matches {spec.label()}")
        reason = f"routine {routine.routine}: step {index + 1} ({step.kind()}), {fire.trigger}"
        return [WriteRequest(devices[p.device], p.point,
                             coerce(devices[p.device], p.point, spec.value), reason)
                for p in points]  # fmt: skip

    async def _write(self, run: Any, routine: Routine, index: int, step: StepSpec, fire: Fire,
                     dry_run: bool) -> StepResult:  # fmt: skip
        from smartbuild.services.writes import apply_writes, bounds_problems

        spec = step.write or step.hold
        assert spec is not None
        requests = self._requests(routine, index, step, fire)
        if not requests and spec.if_present:
            return StepResult(index, step.kind(), "skipped", f"no point has {spec.label()}")
        targets = [f"{r.device.id}.{r.point}" for r in requests]
        for r in requests:
            problems = bounds_problems(r.device, r.point, r.target)
            if problems:
                raise SmartbuildError("refused: " + "; ".join(problems))
        data: dict[str, Any] = {"points": targets}
        if dry_run:
            return StepResult(index, step.kind(), "dry-run", "would write "
                              f"{requests[0].target!r} to {', '.join(targets)}", data=data)  # fmt: skip
        session = self.session
        if step.hold is not None:
            expires = self.now() + step.hold.for_
            data["expires"] = expires
            with session._run(f"routine {routine.routine} hold", expires=expires,
                              parent_run=run.id) as hold:  # fmt: skip
                outcomes = await apply_writes(hold, session.conns, requests,
                                              lease=session._lease(hold))  # fmt: skip
                hold.status = "ok" if all(o.status.ok for o in outcomes) else "partial"
            data["hold_run"] = hold.id
            run.emit("held", message=f"hold run {hold.id} until {expires:.0f}",
                     data={"hold_run": hold.id, "expires": expires, "points": targets})  # fmt: skip
        else:
            outcomes = await apply_writes(run, session.conns, requests, lease=session._lease(run))
        ok = all(o.status.ok for o in outcomes)
        message = ", ".join(f"{o.device}.{o.point} {o.status}" for o in outcomes)
        return StepResult(index, step.kind(), "ok" if ok else "failed", message, outcomes, data)

    async def _apply(self, run: Any, routine: Routine, index: int, step: StepSpec,
                     dry_run: bool) -> StepResult:  # fmt: skip
        from smartbuild.model.writes import WriteRequest
        from smartbuild.services.writes import apply_writes

        assert step.apply is not None
        at = self.local_now().isoformat()
        live = await self.session.plan(step.apply.profile, at, step.apply.zones)
        for action in live.plan.actions:
            if action.status == "blocked":
                run.emit("refused", action.device, action.point, before=action.current,
                         requested=action.target, message="; ".join(action.blocked_by))  # fmt: skip
        changes = live.plan.changes()
        data = {"profile": step.apply.profile, "changes": len(changes)}
        if dry_run or not changes:
            status = "dry-run" if dry_run else "ok"
            return StepResult(index, "apply", status, f"{len(changes)} change(s)", data=data)
        reason = f"routine {routine.routine}: step {index + 1} (apply {step.apply.profile})"
        requests = [WriteRequest(live.devices[a.device], a.point, a.target,
                                 f"{reason}: {a.reason}") for a in changes]  # fmt: skip
        outcomes = await apply_writes(run, self.session.conns, requests,
                                      lease=self.session._lease(run))  # fmt: skip
        ok = all(o.status.ok for o in outcomes)
        message = f"{sum(o.status.ok for o in outcomes)} of {len(outcomes)} written or unchanged"
        return StepResult(index, "apply", "ok" if ok else "failed", message, outcomes, data)
