"""Plan a profile against a site's zones and point values: pure, no I/O, linear in points.

Everything that depends only on the moment (mode, comfort band, price, pre-heat, peak
shedding) is computed once per plan; each point then costs one dictionary lookup and a few
comparisons, so planning 10x the zones costs about 10x the time.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from smartbuild.model.roles import ROLES, normalize_unit
from smartbuild.profiles.comfort import ComfortBand, ComfortUnavailable, band_at
from smartbuild.profiles.energy import PriceAt, ShedDecision, preheat_at, price_at, shed_at
from smartbuild.profiles.optimal_start import (
    RECOVERY_ROLES,
    ZoneStart,
    plan_starts,
    power_limit,
    recovery_kw,
)
from smartbuild.profiles.recovery import RecoveryModel
from smartbuild.profiles.schedule import CompiledSchedule, ModeDecision, site_time
from smartbuild.profiles.schema import AppliesTo, Profile

# "unreadable": a change whose current value could not be read; applying still tries it (the
# write path refuses to send to a device it cannot read, so the outcome says what happened)
Status = Literal["change", "unreadable", "skip-unchanged", "skip-deadband", "blocked"]
_SAME = 1e-6  # readings pass through register scaling; smaller differences are noise


@dataclass(frozen=True, slots=True)
class ZoneInfo:
    """A zone of the site, as profiles select it."""

    id: str
    building: str | None = None
    floor: int | str | None = None
    tags: tuple[str, ...] = ()
    area_m2: float | None = None


@dataclass(frozen=True, slots=True)
class PointState:
    """A device point with its role, bounds and current value (None when unknown)."""

    device: str
    point: str
    role: str
    zone: str | None  # None for site-level points (meter, weather)
    unit: str | None
    current: float | None
    writable: bool
    min: float | None = None
    max: float | None = None
    step: float | None = None
    serves: tuple[str, ...] = ()  # a shared device's zones (zone None): an air-handling unit


@dataclass(frozen=True, slots=True)
class PlannedAction:
    """What the plan would do to one point, and why."""

    zone: str
    device: str
    point: str
    role: str
    unit: str
    current: float | None
    target: float | None
    reason: str
    status: Status
    blocked_by: tuple[str, ...] = ()
    serves: tuple[str, ...] = ()  # the zones of a shared device; `zone` is then a label

    def to_json(self) -> dict[str, object]:
        """Return the action as JSON-ready data."""
        return {
            "zone": self.zone,
            "serves": list(self.serves),
            "device": self.device,
            "point": self.point,
            "role": self.role,
            "unit": self.unit,
            "current": self.current,
            "target": self.target,
            "reason": self.reason,
            "status": self.status,
            "blocked_by": list(self.blocked_by),
        }


@dataclass(frozen=True)
class Plan:
    """The outcome of planning a profile at a moment."""

    profile: str
    at: dt.datetime  # site-local
    modes: dict[str, str]  # zone id -> mode
    actions: tuple[PlannedAction, ...]
    warnings: tuple[str, ...]
    mode_why: str = ""
    comfort: ComfortBand | None = None
    price: PriceAt | None = None
    shedding: str = "inactive"  # "inactive" | "shed" | "hold"
    counts: dict[str, int] = field(default_factory=dict)
    recovery: tuple[ZoneStart, ...] = ()  # optimal start decisions before a comfort mode

    def changes(self) -> list[PlannedAction]:
        """Return the actions that would write (also those whose current value is unknown)."""
        return [a for a in self.actions if a.status in ("change", "unreadable")]

    def to_json(self) -> dict[str, object]:
        """Return the plan as JSON-ready data."""
        return {
            "profile": self.profile,
            "at": self.at.isoformat(),
            "mode_why": self.mode_why,
            "modes": dict(self.modes),
            "comfort": self.comfort.to_json() if self.comfort else None,
            "price": self.price.price if self.price else None,
            "currency": self.price.currency if self.price else None,
            "shedding": self.shedding,
            "counts": dict(self.counts),
            "recovery": [r.to_json() for r in self.recovery],
            "actions": [a.to_json() for a in self.actions],
            "warnings": list(self.warnings),
        }


Veto = Callable[[PlannedAction], Sequence[str]]


@dataclass(frozen=True, slots=True)
class _RoleTarget:
    value: float | None
    reason: str
    problem: str | None = None  # why there is no value


def _matches(pattern: str, zone_id: str) -> bool:
    return zone_id == pattern or fnmatch.fnmatchcase(zone_id, pattern)


def select_zones(
    applies_to: AppliesTo,
    zones: Sequence[ZoneInfo],
    zone_filter: Sequence[str] | None = None,
    warnings: list[str] | None = None,
) -> list[ZoneInfo]:
    """Return the zones a profile applies to (every given key must match), in site order."""
    warnings = warnings if warnings is not None else []
    pattern_lists = [("applies_to.zones", applies_to.zones), ("zone filter", zone_filter)]
    tags = set(applies_to.tags) if applies_to.tags is not None else None
    buildings = set(applies_to.buildings) if applies_to.buildings is not None else None
    floors = {str(f) for f in applies_to.floors} if applies_to.floors is not None else None
    used: set[tuple[str, str]] = set()
    selected = []
    for zone in zones:
        ok = True
        for label, patterns in pattern_lists:
            if patterns is None:
                continue
            hits = [p for p in patterns if _matches(p, zone.id)]
            used.update((label, p) for p in hits)
            ok = ok and bool(hits)
        if tags is not None and not tags.intersection(zone.tags):
            ok = False
        if buildings is not None and zone.building not in buildings:
            ok = False
        if floors is not None and str(zone.floor) not in floors:
            ok = False
        if ok:
            selected.append(zone)
    for label, patterns in pattern_lists:
        for pattern in patterns or ():
            if (label, pattern) not in used:
                warnings.append(f"{label}: '{pattern}' matches no zone")
    if not selected:
        warnings.append("no zone selected: the profile's applies_to and zone filter match nothing")
    return selected


def _fmt(value: float, role: str) -> str:
    unit = ROLES[role].unit
    if unit == "bool":
        return "on" if value else "off"
    if unit == "enum":
        return f"code {value:g}"
    if unit == "°C":
        return f"{value:.1f} °C"
    return f"{value:g} {unit}"


def _readings(points: Sequence[PointState]) -> dict[str, float]:
    """Return one current value per role, preferring site-level points (zone None)."""
    site: dict[str, float] = {}
    zoned: dict[str, float] = {}
    for point in points:
        if point.current is not None:
            (site if point.zone is None else zoned).setdefault(point.role, point.current)
    return {**zoned, **site}


def _role_targets(
    profile: Profile,
    decision: ModeDecision,
    *,
    band: ComfortBand | None,
    band_problem: str | None,
    local: dt.datetime,
    shed: ShedDecision,
) -> tuple[dict[str, _RoleTarget], dict[str, _RoleTarget]]:
    """Return the target per role now, and the shed targets to hold (hysteresis band)."""
    preheat = preheat_at(profile.energy, local) if profile.energy else None
    normal: dict[str, _RoleTarget] = {}
    for role, target in profile.modes[decision.mode].items():
        head = f"{decision.mode} ({decision.why}) → "
        value = target.resolve(band)
        if value is None:
            problem = band_problem or f"'{target.text}' has no value"
            normal[role] = _RoleTarget(None, f"{head}{target.text}: {problem}", problem)
            continue
        if target.ref is not None and band is not None:
            head += f"{target.text} {band.source} = {_fmt(value, role)}"
        else:
            head += _fmt(value, role)
        if preheat is not None and role in preheat.spec.roles:
            value = round(value + preheat.spec.offset, 6)
            head += f"; {preheat.why()} = {_fmt(value, role)}"
        normal[role] = _RoleTarget(value, head)
    shed_targets: dict[str, _RoleTarget] = {}
    for index, step in enumerate(shed.steps, start=1):
        base = shed_targets.get(step.role) or normal.get(step.role)
        if base is None or base.value is None:
            continue
        if step.to is not None:
            value = step.to.resolve(band)
            if value is None:
                continue
            how = f"to {step.to.text}"
        else:
            value = round(base.value + (step.offset or 0.0), 6)
            how = f"offset {step.offset:+g}"
        how = f"step {index}/{len(shed.steps)} {how} = {_fmt(value, step.role)}"
        shed_targets[step.role] = _RoleTarget(value, f"{base.reason}; {shed.why} → {how}")
    if shed.state == "shed":
        return {**normal, **shed_targets}, {}
    return normal, shed_targets


def _with_start(goals: dict[str, _RoleTarget], start: ZoneStart) -> dict[str, _RoleTarget]:
    """Return a zone's goals with its optimal start: the coming targets once it has begun."""
    out = dict(goals)
    for role in RECOVERY_ROLES:
        if start.active and role in start.targets:
            value = start.targets[role]
            out[role] = _RoleTarget(value, f"{start.mode} early → {_fmt(value, role)}: {start.why}")
        elif role in out and out[role].value is not None:
            out[role] = replace(out[role], reason=f"{out[role].reason}; {start.why}")
    return out


def _action(
    zone: str,
    point: PointState,
    goal: _RoleTarget,
    deadband: float,
    vetoes: Veto | None,
) -> PlannedAction:
    role = ROLES[point.role]
    target, reason = goal.value, goal.reason
    current = point.current
    if target is None:
        blocked_by = (goal.problem or "no target",)
        return PlannedAction(
            zone=zone,
            device=point.device,
            point=point.point,
            role=point.role,
            unit=role.unit,
            current=current,
            target=None,
            reason=reason,
            status="blocked",
            blocked_by=blocked_by,
        )
    if point.step:
        stepped = round(round(target / point.step) * point.step, 6)
        if abs(stepped - target) > _SAME:
            reason += f" (rounded to step {point.step:g}: {stepped:g})"
        target = stepped
    status: Status = "change" if current is not None else "unreadable"
    blocked: list[str] = []
    if current is not None and abs(current - target) < _SAME:
        status = "skip-unchanged"
    elif current is not None and abs(current - target) < deadband:
        status = "skip-deadband"
    else:
        if not point.writable:
            blocked.append("point is not writable")
        if point.min is not None and target < point.min:
            blocked.append(f"target {target:g} below the point's minimum {point.min:g}")
        if point.max is not None and target > point.max:
            blocked.append(f"target {target:g} above the point's maximum {point.max:g}")
        unit = normalize_unit(point.unit)
        if unit and role.unit not in ("bool", "enum") and unit != role.unit:
            blocked.append(f"point unit '{point.unit}' is not {role.unit}")
    action = PlannedAction(
        zone=zone,
        device=point.device,
        point=point.point,
        role=point.role,
        unit=role.unit,
        current=current,
        target=target,
        reason=reason,
        status="blocked" if blocked else status,
        blocked_by=tuple(blocked),
    )
    if vetoes is not None and status in ("change", "unreadable"):
        vetoed = list(vetoes(action))
        if vetoed:
            action = replace(action, status="blocked", blocked_by=(*blocked, *vetoed))
    return action


def _keep_shed(point: PointState, goal: _RoleTarget, hold: dict[str, _RoleTarget]) -> _RoleTarget:
    """Return the shed value a point already holds while shedding is held, else the goal."""
    held = hold.get(point.role)
    if (
        held is not None
        and held.value is not None
        and point.current is not None
        and abs(point.current - held.value) < _SAME
    ):
        return held  # keep the shed value until the meter drops below release
    return goal


def _served_label(served: Sequence[str]) -> str:
    """Return how a plan row names a shared device's zones: "z01, z02" or "z01 +7"."""
    return ", ".join(served) if len(served) <= 2 else f"{served[0]} +{len(served) - 1}"


def _shared_points(
    points: Sequence[PointState],
    by_zone: dict[str, list[PointState]],
    roles: set[str],
    warnings: list[str],
) -> tuple[list[tuple[PointState, tuple[str, ...]]], dict[str, set[str]]]:
    """Return the shared devices' points to plan, and the roles they cover per zone.

    A device that serves several zones (an air-handling unit) is planned only when the profile
    selects every zone it serves: a profile for some of them must not switch the others' air.
    """
    shared: list[tuple[PointState, tuple[str, ...]]] = []
    covered: dict[str, set[str]] = {}
    left_out: dict[str, list[str]] = {}
    for point in points:
        if point.zone is not None or not point.serves or point.role not in roles:
            continue
        for zone in point.serves:  # its zones have the role, planned or left alone
            covered.setdefault(zone, set()).add(point.role)
        others = [z for z in point.serves if z not in by_zone]
        if others:
            left_out.setdefault(point.device, others)
            continue
        shared.append((point, point.serves))
    for device, others in left_out.items():
        more = f" +{len(others) - 3}" if len(others) > 3 else ""
        warnings.append(f"{device} also serves {', '.join(others[:3])}{more}, which this plan "
                        "does not select: left as it is")  # fmt: skip
    return shared, covered


def _shared_goal(
    point: PointState,
    served: Sequence[str],
    goals: dict[str, _RoleTarget],
    starts: dict[str, ZoneStart],
) -> _RoleTarget | None:
    """Return a shared point's goal: the mode's, or the coming mode's once a zone recovers."""
    for zone in served:
        start = starts.get(zone)
        if start is not None and start.active and point.role in start.targets:
            return _with_start(goals, start).get(point.role)
    return goals.get(point.role)


def _held_until_safe(
    profile: Profile,
    decision: ModeDecision,
    band: ComfortBand | None,
    local: dt.datetime,
    shed: ShedDecision,
    zones: Sequence[ZoneInfo],
    points: Sequence[PointState],
    readings: dict[str, float],
    auto_limit: float | None,
    model: RecoveryModel | None,
) -> ShedDecision:
    """Keep shed setpoints while releasing them would take the site over the limit again.

    A zone whose heating was eased off is below its setpoint: released, it heats at full power.
    Releasing as soon as the meter drops below the release level swings the site between shed
    and over the limit every plan; so shedding holds while the meter plus the recovery power of
    the zones held (learned, else the conservative default per m²) is over the limit.
    """
    energy = profile.energy
    assert energy is not None
    meter = readings.get(energy.meter_role)
    limit = auto_limit if energy.peak_limit_kw == "auto" else energy.peak_limit_kw
    if meter is None or not isinstance(limit, float):
        return shed
    normal, held = _role_targets(profile, decision, band=band, band_problem=None, local=local,
                                 shed=ShedDecision("hold", energy.shed, ""))  # fmt: skip
    thermal = {r: t.value for r, t in held.items() if r in RECOVERY_ROLES and t.value is not None}
    if not thermal:
        return shed
    at_shed: set[str] = set()
    for p in points:
        target = thermal.get(p.role)
        usual = normal.get(p.role)
        if (
            p.zone is not None
            and target is not None
            and p.current is not None
            and abs(p.current - target) < _SAME
            and (usual is None or usual.value is None or abs(usual.value - target) >= _SAME)
        ):
            at_shed.add(p.zone)
    if not at_shed:
        return shed
    back = sum(recovery_kw(model, zone) for zone in zones if zone.id in at_shed)
    if meter + back <= limit:
        return shed
    why = (f"peak shedding held: releasing {len(at_shed)} zone(s) would add about {back:.1f} kW "
           f"to {energy.meter_role} {meter:g} kW, over the limit {limit:g} kW")  # fmt: skip
    return ShedDecision("hold", energy.shed, why)


def plan_profile(
    profile: Profile,
    zones: Sequence[ZoneInfo],
    points: Iterable[PointState],
    *,
    tz: dt.tzinfo | str,
    at: dt.datetime,
    zone_filter: Sequence[str] | None = None,
    vetoes: Veto | None = None,
    recovery: RecoveryModel | None = None,
    peak_kw: float | None = None,
) -> Plan:
    """Return what applying the profile at `at` would change (naive `at` is site-local).

    `recovery` is what the site's history says about zone recoveries (see
    `profiles.recovery.learn_recovery`; None: the conservative defaults) and `peak_kw` the
    peak without recoveries that staggering keeps under when the profile sets no limit.
    """
    if isinstance(tz, str):
        import zoneinfo

        tz = zoneinfo.ZoneInfo(tz)
    local = site_time(at, tz)
    points = list(points)
    warnings: list[str] = []
    selected = select_zones(profile.applies_to, zones, zone_filter, warnings)
    readings = _readings(points)
    schedule = CompiledSchedule(profile.schedule)
    decision = schedule.mode_at(local)

    band: ComfortBand | None = None
    band_problem: str | None = None
    if profile.comfort is not None:
        try:
            band = band_at(profile.comfort, local.date(), readings)
        except ComfortUnavailable as exc:
            band_problem = f"comfort band unavailable: {exc.message}"
            warnings.append(band_problem)
    energy = profile.energy
    price = price_at(energy.tariff, local) if energy and energy.tariff else None
    limit = power_limit(profile, peak_kw, recovery) if energy else None
    shed = shed_at(energy, readings.get(energy.meter_role) if energy else None, limit)
    if energy and energy.shed and energy.meter_role not in readings:
        warnings.append(f"peak shedding inactive: no current value for {energy.meter_role}")
    if shed.state == "inactive" and energy and energy.shed:
        shed = _held_until_safe(
            profile, decision, band, local, shed, selected, points, readings, limit, recovery
        )
    goals, hold = _role_targets(
        profile, decision, band=band, band_problem=band_problem, local=local, shed=shed
    )

    starts = plan_starts(profile, schedule, local, band, selected, points, readings,
                         model=recovery, peak_kw=peak_kw, warnings=warnings)  # fmt: skip
    roles = {*goals, *RECOVERY_ROLES}
    deadbands = {role: profile.deadband.get(role, ROLES[role].deadband) for role in roles}
    by_zone: dict[str, list[PointState]] = {zone.id: [] for zone in selected}
    for point in points:
        if point.zone is not None and point.zone in by_zone:
            by_zone[point.zone].append(point)
    shared, shared_roles = _shared_points(points, by_zone, set(goals) | set(RECOVERY_ROLES),
                                          warnings)  # fmt: skip
    profile_roles = profile.roles()
    actions: list[PlannedAction] = []
    for zone in selected:
        present: set[str] = set()
        start = starts.get(zone.id)
        zone_goals = goals if start is None else _with_start(goals, start)
        for point in by_zone[zone.id]:
            present.add(point.role)
            goal = zone_goals.get(point.role)
            if goal is None:
                continue
            goal = _keep_shed(point, goal, hold)
            actions.append(_action(zone.id, point, goal, deadbands[point.role], vetoes))
        present.update(shared_roles.get(zone.id, ()))
        missing = profile_roles - present
        if missing:
            warnings.append(f"zone '{zone.id}': no point for {', '.join(sorted(missing))}")
    for point, served in shared:
        goal = _shared_goal(point, served, goals, starts)
        if goal is None:
            continue
        goal = _keep_shed(point, goal, hold)
        action = _action(_served_label(served), point, goal, deadbands[point.role], vetoes)
        actions.append(replace(action, serves=served))
    counts: dict[str, int] = {}
    for action in actions:
        counts[action.status] = counts.get(action.status, 0) + 1
    return Plan(
        profile=profile.profile,
        at=local,
        modes={zone.id: decision.mode for zone in selected},
        actions=tuple(actions),
        warnings=tuple(warnings),
        mode_why=f"{decision.mode} ({decision.why})",
        comfort=band,
        price=price,
        shedding=shed.state,
        counts=counts,
        recovery=tuple(starts.values()),
    )
