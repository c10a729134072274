"""The profile as the simulated building's controller: plan every step, learn from its readings.

Each step the pure planner plans from the devices' current point values and the changes are
written through the same role binding the simulator serves. When the profile has optimal
start, the controller also keeps what it read (zone temperatures and setpoints, outdoor
temperature, site power) as the history the recovery learner works from, exactly as a live
site's `watch` data would be: the learner never sees the physics' parameters.
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from smartbuild.profiles.recovery import RecoveryModel, Snapshot, learn_recovery, snapshot

if TYPE_CHECKING:
    from smartbuild.profiles.planner import PointState
    from smartbuild.profiles.schema import Profile
    from smartbuild.sim.building.site import SimBuilding

HISTORY_DAYS = 14
SNAPSHOT_S = 120.0  # history resolution: recoveries last an hour or more
RELEARN_S = 6 * 3600.0


class ProfileController:
    """Plan the profile each step on a simulated building, learning recoveries as it goes."""

    def __init__(
        self,
        profile: Profile,
        tz: dt.tzinfo,
        building: Callable[[], SimBuilding],
        *,
        peak_kw: Callable[[dt.date], float | None] | None = None,
    ) -> None:
        self.profile, self.tz, self.building = profile, tz, building
        self.peak_kw = peak_kw or (lambda _day: None)
        self.needed = set(profile.read_roles()) | {"outdoor_temperature",
                                                   "outdoor_running_mean_temperature"}  # fmt: skip
        self.meter_role = profile.energy.meter_role if profile.energy else "site_active_power"
        self.learning = profile.optimal_start is not None
        if self.learning:
            self.needed.update(("zone_air_temperature", "heating_setpoint", "cooling_setpoint"))
        self.history: deque[Snapshot] = deque(maxlen=int(HISTORY_DAYS * 86400 / SNAPSHOT_S))
        self.model: RecoveryModel | None = None
        self._learned_at: float | None = None
        self._snap_at: float | None = None
        self.plans = self.writes = 0
        self.starts: list[tuple[dt.datetime, str, str]] = []  # (time, zone, why) of each start

    def __call__(self, now: dt.datetime, _physics: Any) -> None:
        """Plan at `now` and write the changes to the simulated devices."""
        from smartbuild.profiles.planner import plan_profile

        b = self.building()
        states = b.point_states(self.needed)
        if self.learning:
            self._learn(now, states, b)
        plan = plan_profile(self.profile, b.zone_infos(), states, tz=self.tz, at=now,
                            recovery=self.model, peak_kw=self.peak_kw(now.date()))  # fmt: skip
        self.plans += 1
        for action in plan.changes():
            refused = b.write(b.device(action.device), {action.point: action.target})
            self.writes += 0 if refused else 1
        for start in plan.recovery:
            if (
                start.active
                and start.direction
                and not any(
                    s[1] == start.zone and (now - s[0]).total_seconds() < 6 * 3600
                    for s in self.starts
                )
            ):
                self.starts.append((now, start.zone, start.why))

    def _learn(self, now: dt.datetime, states: list[PointState], b: SimBuilding) -> None:
        ts = now.timestamp()
        if self._snap_at is None or ts - self._snap_at >= SNAPSHOT_S - 1e-6:
            self.history.append(snapshot(now, states, self.meter_role))
            self._snap_at = ts
        if self._learned_at is None or ts - self._learned_at >= RELEARN_S:
            spec = self.profile.optimal_start
            assert spec is not None
            areas = {z.id: z.area_m2 for z in b.zones}
            self.model = learn_recovery(list(self.history), areas=areas,
                                        min_history=spec.min_history)  # fmt: skip
            self._learned_at = ts
