"""Between a schedule's transitions: optimal start, staggered recovery, shedding and pre-heat.

The scheduler applies a slot at its transitions. Some targets move *within* a slot: a zone's
optimal start before occupancy, peak shedding while the site is over its limit, pre-heating
ahead of an expensive tariff window. For a profile that has any of these, the hub plans again
every ``CONTROL_S`` simulated seconds and applies only the targets that moved since its last
plan, through the same write path, journaled as ``hub control PROFILE: …``. A point someone set
by hand keeps its value until its target moves (or the next transition), as with the scheduler;
a mode change is the scheduler's to apply.

Every plan's readings (zone temperatures and setpoints, outdoor temperature, site power) feed
the recovery learner (``smartbuild.profiles.recovery``): the hub keeps the last
``WINDOW_H`` hours of snapshots and, from them, the recoveries it has seen and each day's peak
outside recoveries; those (a few kilobytes) persist in ``$SMARTBUILD_HOME/hub/`` so a restarted
hub starts with what it learned. Its memory does not grow with the weeks it runs.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
from collections import deque
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from smartbuild.errors import SmartbuildError

if TYPE_CHECKING:
    from smartbuild.hub.config import ScheduleEntry
    from smartbuild.hub.runner import Hub
    from smartbuild.profiles.planner import Plan, PointState
    from smartbuild.profiles.recovery import Episode, RecoveryModel, Snapshot
    from smartbuild.profiles.schema import Profile

CONTROL_S = 120.0  # simulated seconds between plans (optimal start starts within 5 minutes)
SNAPSHOT_S = 300.0  # history resolution: recoveries last an hour or more
WINDOW_H = 36.0  # snapshots kept: a recovery (<= 12 h) after a setback (>= 4 h), seen twice
RELEARN_S = 6 * 3600.0
KEEP_EPISODES = 20  # per zone and direction (the fit uses the latest 10)
PEAK_DAYS = 14  # the quiet peak is the highest of this many days
FORMAT = 1


def needs_control(profile: Profile) -> bool:
    """Return True when a profile's targets move within a slot (so the hub plans it often)."""
    energy = profile.energy
    moving = energy is not None and (bool(energy.shed) or energy.preheat is not None)
    return profile.optimal_start is not None or profile.recovery is not None or moving


class RecoveryHistory:
    """What the hub learned about a profile's zones: recent snapshots, episodes, quiet peaks."""

    def __init__(self, path: Path, min_history: int, areas: dict[str, float]) -> None:
        self.path, self.min_history, self.areas = path, min_history, areas
        self.window: deque[Snapshot] = deque(maxlen=int(WINDOW_H * 3600 / SNAPSHOT_S))
        self.episodes: dict[tuple[str, str, str], Episode] = {}
        self.peaks: dict[str, float] = {}  # ISO day -> kW
        self.model: RecoveryModel | None = None
        self._snap_at: float | None = None
        self._learned_at: float | None = None
        self.problem: str | None = None

    # ---- persistence ------------------------------------------------------------------------
    def load(self) -> None:
        """Read what an earlier run learned; a missing or damaged file starts afresh (said)."""
        from smartbuild.profiles.recovery import Episode

        try:
            data = json.loads(self.path.read_text("utf-8"))
            if data.get("format") != FORMAT:
                raise ValueError(f"format {data.get('format')!r}")
            for e in data["episodes"]:
                ep = Episode(str(e["zone"]), str(e["direction"]),
                             dt.datetime.fromisoformat(e["start"]), float(e["hours"]),
                             float(e["delta_k"]), float(e["drive_k"]),
                             None if e["power_kw"] is None else float(e["power_kw"]))  # fmt: skip
                self.episodes[(ep.zone, ep.direction, ep.start.isoformat())] = ep
            self.peaks = {str(d): float(v) for d, v in data["peaks"].items()}
        except FileNotFoundError:
            return
        except (OSError, ValueError, KeyError, TypeError) as error:
            self.episodes, self.peaks = {}, {}
            self.problem = f"{self.path}: unreadable ({error}); learning afresh"
            return
        self._fit()

    def save(self) -> None:
        """Write what was learned (atomically, mode 0600); a failure is kept for the status."""
        data = {
            "format": FORMAT,
            "episodes": [{**asdict(e), "start": e.start.isoformat()} for e in self._ordered()],
            "peaks": self.peaks,
        }
        tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(data, handle)
            os.replace(tmp, self.path)
        except OSError as error:
            with contextlib.suppress(OSError):
                tmp.unlink()
            self.problem = f"cannot save what the hub learned to {self.path}: {error}"

    # ---- learning ---------------------------------------------------------------------------
    def observe(self, now: dt.datetime, states: list[PointState], meter_role: str) -> None:
        """Add a plan's readings (at most every SNAPSHOT_S); learn again every RELEARN_S."""
        from smartbuild.profiles.recovery import snapshot

        ts = now.timestamp()
        if self._snap_at is None or ts - self._snap_at >= SNAPSHOT_S - 1e-6:
            self.window.append(snapshot(now, states, meter_role))
            self._snap_at = ts
        if self._learned_at is None or ts - self._learned_at >= RELEARN_S:
            self.learn(now)

    def learn(self, now: dt.datetime) -> None:
        """Take the window's recoveries and quiet peaks into what is kept, fit, save."""
        from smartbuild.profiles.recovery import find_episodes, quiet_peaks_by_day

        self._learned_at = now.timestamp()
        history = list(self.window)
        for e in find_episodes(history):
            self.episodes[(e.zone, e.direction, e.start.isoformat())] = e
        kept: dict[tuple[str, str], list[Episode]] = {}
        for e in self._ordered():
            kept.setdefault((e.zone, e.direction), []).append(e)
        self.episodes = {(e.zone, e.direction, e.start.isoformat()): e
                         for group in kept.values() for e in group[-KEEP_EPISODES:]}  # fmt: skip
        for day, kw in quiet_peaks_by_day(history).items():
            self.peaks[day.isoformat()] = max(self.peaks.get(day.isoformat(), kw), kw)
        oldest = (now.date() - dt.timedelta(days=PEAK_DAYS)).isoformat()
        self.peaks = {d: v for d, v in self.peaks.items() if d > oldest}
        self._fit()
        self.save()

    def _ordered(self) -> list[Episode]:
        return sorted(self.episodes.values(), key=lambda e: e.start)

    def _fit(self) -> None:
        from smartbuild.profiles.recovery import model_from

        peak = max(self.peaks.values()) if self.peaks else None
        self.model = model_from(self._ordered(), peak, areas=self.areas,
                                min_history=self.min_history)  # fmt: skip

    def to_json(self) -> dict[str, Any]:
        """Return what ``hub status`` shows of the learning."""
        model = self.model
        learned = sorted({z for (z, _d), r in (model.rates if model else {}).items()
                          if r.episodes >= self.min_history})  # fmt: skip
        return {
            "snapshots": len(self.window), "recoveries": len(self.episodes),
            "zones_learned": learned[:50], "zones_learned_count": len(learned),
            "quiet_peak_kw": None if model is None or model.quiet_peak_kw is None
            else round(model.quiet_peak_kw, 3),
            "file": str(self.path), "problem": self.problem,
        }  # fmt: skip


def history_path(home: Path, site_path: Path, profile: str) -> Path:
    """Return where the hub keeps what it learned about a profile's zones on a site."""
    site = hashlib.sha256(str(site_path.resolve()).encode("utf-8", "surrogatepass")).hexdigest()
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in profile)
    return home / "hub" / f"recovery-{site[:16]}-{safe}.json"


class ProfileControl:
    """Plan one schedule entry every CONTROL_S and apply the targets that moved within its slot."""

    def __init__(self, hub: Hub, entry: ScheduleEntry, history: RecoveryHistory) -> None:
        self.hub, self.entry, self.history = hub, entry, history
        self.last: dict[tuple[str, str], float | None] | None = None
        self.mode: str | None = None
        self.plans = 0
        self.applied: list[dict[str, Any]] = []  # the last runs it made (bounded)
        self.shedding = "inactive"
        self.starts: dict[str, str] = {}  # zone -> when its latest optimal start was applied

    async def run(self) -> None:
        """Plan, apply what moved, sleep; until cancelled (what was learned is saved then)."""
        clock = self.hub.clock
        due = clock.time()
        try:
            while True:
                await self.step()
                # every CONTROL_S on the clock, however long a plan takes (at 600x a plan of
                # 0.1 s is a simulated minute); behind by a whole round, the next one waits a full
                # CONTROL_S from now (no back-to-back plans when the clock outruns them)
                due += CONTROL_S
                if due <= clock.time():
                    due = clock.time() + CONTROL_S
                await clock.sleep_until(due)
        finally:
            self.history.save()

    async def step(self) -> None:
        """Plan the entry now; apply the targets that moved since the last plan."""
        hub, entry = self.hub, self.entry
        name = entry.profile.profile
        async with hub.write_lock:
            if hub.stopping:
                return
            now = hub.clock.now()
            session = hub.session
            try:
                live = await session.plan(str(entry.path), at=now.isoformat(),
                                          zones=entry.zone_filter, recovery=self.history.model)  # fmt: skip
            except SmartbuildError as error:
                hub.error(f"hub control {name}: {error.message}")
                return
            self.plans += 1
            plan = live.plan
            energy = entry.profile.energy
            meter_role = energy.meter_role if energy else "site_active_power"
            self.history.observe(now, live.states, meter_role)
            self.shedding = plan.shedding
            targets = {(a.device, a.point): a.target for a in plan.actions}
            mode = next(iter(plan.modes.values()), None)  # one schedule: one mode for all
            previous, self.last = self.last, targets
            changed_mode, self.mode = self.mode is not None and mode != self.mode, mode
            if previous is None or changed_mode:
                return  # the first plan and a transition are the scheduler's to apply
            held = hub.held_points(now.timestamp())
            moved = [a for a in plan.actions
                     if a.target is not None and previous.get((a.device, a.point)) != a.target
                     and (a.device, a.point) not in held]  # fmt: skip
            if not any(a.status in ("change", "unreadable") for a in moved):
                return
            zones = {a.zone for a in moved}
            why = _why(plan, zones)
            command = f"hub control {name}: {why}"
            live.plan = replace(plan, actions=tuple(moved))
            try:
                result = await session.apply(live, confirm=lambda question: True, command=command)
            except SmartbuildError as error:
                hub.error(f"{command}: {error.message}")
                self.last = previous  # try again at the next plan
                return
        for start in plan.recovery:
            if start.active and start.direction and start.zone in zones:
                self.starts[start.zone] = now.isoformat(timespec="seconds")
        bad = [o for o in result.outcomes if not o.status.ok]
        hub.note_run(result.run, command, len(result.outcomes), len(bad))
        self.applied.append({"at": now.isoformat(timespec="seconds"), "run": result.run,
                             "why": why, "writes": len(result.outcomes), "failed": len(bad)})  # fmt: skip
        del self.applied[:-10]
        for outcome in bad[:5]:
            hub.error(f"{command}: {outcome.device}.{outcome.point} {outcome.status.value}")

    def to_json(self) -> dict[str, Any]:
        """Return what ``hub status`` shows of this entry's control."""
        return {
            "profile": self.entry.profile.profile, "every_s": CONTROL_S, "plans": self.plans,
            "shedding": self.shedding, "starts": dict(sorted(self.starts.items())[:50]),
            "runs": self.applied[-5:], "learning": self.history.to_json(),
        }  # fmt: skip


def _why(plan: Plan, zones: set[str]) -> str:
    """Return a short reason for a control run: optimal start, shedding, or targets moved."""
    parts = []
    started = sorted(s.zone for s in plan.recovery if s.active and s.direction and s.zone in zones)
    if started:
        more = f" +{len(started) - 3}" if len(started) > 3 else ""
        parts.append(f"optimal start {', '.join(started[:3])}{more}")
    if plan.shedding != "inactive":
        parts.append(f"peak shedding ({plan.shedding})")
    return "; ".join(parts) or "targets moved within the slot (shedding released, pre-heat)"
