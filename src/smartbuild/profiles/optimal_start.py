"""Optimal start and staggered recovery at plan time (pure, no I/O).

Before a mode that heats higher or cools lower than the current one (the next schedule change
within `max_lead`), each zone gets a lead: the kelvins it must recover times the hours per
kelvin its own history shows at today's outdoor temperature (or the conservative default),
plus a margin. A zone switches its heating and cooling setpoints (only those: ventilation and
the rest wait for the schedule, as in ASHRAE Guideline 36's warm-up) once its start has come.

With `recovery: {stagger: true}` the starts are packed under a site power limit: zones with the
longest leads first, each as late as it can start without the site's power (now, minus zones
recovering already, plus the recoveries placed so far, plus 80 % of their power to hold their
setpoints once recovered) going over the limit at any moment. A
zone that finds no room still starts in time: comfort wins, and the plan says so.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from smartbuild.profiles.recovery import DEFAULT_H_PER_K, REACHED_K, RecoveryModel
from smartbuild.profiles.schedule import CompiledSchedule, ModeDecision, site_time

if TYPE_CHECKING:
    from smartbuild.profiles.comfort import ComfortBand
    from smartbuild.profiles.planner import PointState, ZoneInfo
    from smartbuild.profiles.recovery_spec import OptimalStart
    from smartbuild.profiles.schema import Profile

RECOVERY_ROLES = ("heating_setpoint", "cooling_setpoint")
DEFAULT_RECOVERY_W_M2 = 30.0  # electric: 80 W/m² of heat at a COP of 2.7, on the high side
DEFAULT_RECOVERY_KW = 3.0  # a zone of unknown area
_SAME = 0.05
# A start due within this is made now: plans come every few minutes, and a replan may shuffle
# zones of equal lead between batches, so a batch that waits for its exact minute may never go.
START_WINDOW_S = 300.0
# Of its recovery power, what a recovered zone draws to hold its setpoint (its mass still cold).
HOLD_SHARE = 0.8
# A zone that reached the coming targets holds them at least this close to occupancy (and
# whenever a recovery from setback would have begun by now); earlier it coasts in setback.
HOLD_REACHED_S = 3600.0
BIN_S = 300.0  # staggering plans the site's power ahead in 5-minute bins
MAX_LEAD_BINS = 12 * 3600 / BIN_S


def hm(seconds: float) -> str:
    """Return a duration as "1 h 05 min" or "25 min"."""
    minutes = round(seconds / 60.0)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


@dataclass(frozen=True)
class ZoneStart:
    """When and why one zone starts recovering for the next comfort mode."""

    zone: str
    mode: str
    occupied_at: dt.datetime
    start: dt.datetime
    lead_s: float
    direction: str | None  # "heat" | "cool" | None (nothing to recover)
    delta_k: float
    active: bool
    why: str
    targets: dict[str, float]
    staggered_s: float = 0.0

    def to_json(self) -> dict[str, object]:
        """Return the decision as JSON-ready data."""
        return {
            "zone": self.zone, "mode": self.mode, "occupied_at": self.occupied_at.isoformat(),
            "start": self.start.isoformat(), "lead_min": round(self.lead_s / 60.0, 1),
            "direction": self.direction, "delta_k": round(self.delta_k, 2), "active": self.active,
            "staggered_min": round(self.staggered_s / 60.0, 1), "why": self.why,
        }  # fmt: skip


def next_change(
    schedule: CompiledSchedule, local: dt.datetime, horizon_s: float
) -> tuple[dt.datetime, ModeDecision] | None:
    """Return the first moment within the horizon at which the mode changes, and the new mode."""
    tz = local.tzinfo
    assert tz is not None
    now = local.astimezone(dt.timezone.utc)
    end = now + dt.timedelta(seconds=horizon_s)
    current = schedule.mode_at(local).mode
    candidates: set[dt.datetime] = set()
    day = local.date()
    while day <= end.astimezone(tz).date():
        for minute in schedule.change_minutes(day.weekday()):
            wall = dt.datetime.combine(day, dt.time()) + dt.timedelta(minutes=minute)
            candidates.add(site_time(wall, tz).astimezone(dt.timezone.utc))
        day += dt.timedelta(days=1)
    for moment in sorted(c for c in candidates if now < c <= end):
        decision = schedule.mode_at(moment.astimezone(tz))
        if decision.mode != current:
            return moment.astimezone(tz), decision
    return None


def _targets(profile: Profile, mode: str, band: ComfortBand | None) -> dict[str, float]:
    out = {}
    for role in RECOVERY_ROLES:
        target = profile.modes[mode].get(role)
        value = target.resolve(band) if target is not None else None
        if value is not None:
            out[role] = value
    return out


def _is_recovery(now: dict[str, float], then: dict[str, float]) -> bool:
    heat, cool = RECOVERY_ROLES
    warmer = heat in then and then[heat] > now.get(heat, -1e9) + _SAME
    cooler = cool in then and then[cool] < now.get(cool, 1e9) - _SAME
    return warmer or cooler


def plan_starts(
    profile: Profile,
    schedule: CompiledSchedule,
    local: dt.datetime,
    band: ComfortBand | None,
    zones: Sequence[ZoneInfo],
    points: Sequence[PointState],
    readings: Mapping[str, float],
    *,
    model: RecoveryModel | None,
    peak_kw: float | None,
    warnings: list[str],
) -> dict[str, ZoneStart]:
    """Return each selected zone's optimal start for the next comfort mode (empty when none)."""
    spec = profile.optimal_start
    if spec is None:
        return {}
    change = next_change(schedule, local, spec.max_lead)
    if change is None:
        return {}
    occupied_at, upcoming = change
    current = schedule.mode_at(local).mode
    if spec.modes is not None and upcoming.mode not in spec.modes:
        return {}
    targets = _targets(profile, upcoming.mode, band)
    setback = _targets(profile, current, band)
    if not _is_recovery(setback, targets):
        return {}
    # recovery aims REACHED_K past the mode's setpoint: a thermostat's proportional band stops
    # giving full output that far before its setpoint, so the zone is *at* the target in time
    targets = {
        r: v + (REACHED_K if r == RECOVERY_ROLES[0] else -REACHED_K) for r, v in targets.items()
    }
    model = model or RecoveryModel(min_history=spec.min_history)
    temps: dict[str, float] = {}
    held: dict[str, dict[str, float]] = {}
    for p in points:
        if p.zone is None or p.current is None:
            continue
        if p.role == "zone_air_temperature":
            temps.setdefault(p.zone, p.current)
        elif p.role in RECOVERY_ROLES:
            held.setdefault(p.zone, {})[p.role] = p.current
    outdoor = readings.get("outdoor_temperature")
    ahead = (occupied_at - local).total_seconds()
    starts: dict[str, ZoneStart] = {}
    leads: dict[str, tuple[float, float, str | None, float, str]] = {}
    for zone in zones:
        leads[zone.id] = _lead(zone.id, temps.get(zone.id), targets, outdoor, model, spec)
    # a zone holding the coming targets has started, and stays started (no flip-flop) while it
    # recovers, or once a recovery from the setback setpoint would have had to begin; one that
    # holds them long before that (a warm zone at a setpoint that happens to be the target)
    # lets go and coasts in setback until its lead comes
    heat = RECOVERY_ROLES[0]
    base = setback.get(heat) if heat in targets else setback.get(RECOVERY_ROLES[1])
    started = set()
    for z in zones:
        if not any(abs(held.get(z.id, {}).get(r, 1e9) - v) < _SAME for r, v in targets.items()):
            continue
        full = _lead(z.id, base, targets, outdoor, model, spec)[0] if base is not None else 0.0
        if leads[z.id][2] is not None or ahead <= max(full, HOLD_REACHED_S):
            started.add(z.id)
    offsets = {z: max(ahead - lead, 0.0) for z, (lead, *_rest) in leads.items()}
    stagger_note: dict[str, str] = {}
    if profile.recovery is not None and profile.recovery.stagger:
        limit = power_limit(profile, peak_kw, model)
        site_kw = readings.get(profile.energy.meter_role if profile.energy else "site_active_power")
        if limit is None:
            warnings.append("recovery.stagger: no power limit known yet (no peak_limit_kw, "
                            "no history): zones start unstaggered")  # fmt: skip
        elif site_kw is None:
            warnings.append("recovery.stagger: no site power reading: zones start unstaggered")
        else:
            offsets, stagger_note = _stagger(zones, leads, started, offsets, ahead, site_kw,
                                             limit, model)  # fmt: skip
    for zone in zones:
        lead, delta, direction, _remaining, how = leads[zone.id]
        if direction is None and zone.id not in started:
            why = f"no recovery needed for {upcoming.mode} at {occupied_at:%H:%M}: {how}"
            starts[zone.id] = ZoneStart(zone.id, upcoming.mode, occupied_at, occupied_at, 0.0,
                                        None, 0.0, False, why, targets)  # fmt: skip
            continue
        start = local + dt.timedelta(seconds=offsets[zone.id])
        nominal = occupied_at - dt.timedelta(seconds=lead)
        staggered = max((nominal - start).total_seconds(), 0.0)
        active = zone.id in started or (start - local).total_seconds() <= START_WINDOW_S
        why = (f"optimal start for {upcoming.mode} at {occupied_at:%H:%M}: {how} → lead "
               f"{hm(lead)} (incl. {hm(spec.margin)} margin), start {start:%H:%M}")  # fmt: skip
        if zone.id in stagger_note:
            why += f"; {stagger_note[zone.id]}"
        starts[zone.id] = ZoneStart(zone.id, upcoming.mode, occupied_at, start, lead, direction,
                                    delta, active, why, targets, staggered)  # fmt: skip
    return starts


def _lead(
    zone: str,
    temp: float | None,
    targets: Mapping[str, float],
    outdoor: float | None,
    model: RecoveryModel,
    spec: OptimalStart,
) -> tuple[float, float, str | None, float, str]:
    """Return (lead s, kelvins, direction, recovery s without margin, explanation) of a zone."""
    max_lead, margin = spec.max_lead, spec.margin
    heat, cool = RECOVERY_ROLES
    if temp is None:
        direction = "heat" if heat in targets else "cool"
        return max_lead, 0.0, direction, max_lead, "no zone temperature reading: max_lead ahead"
    if heat in targets and targets[heat] - temp > REACHED_K:
        direction, delta, sp = "heat", targets[heat] - temp, targets[heat]
        text = f"{temp:.1f} °C is {delta:.1f} K below {sp:.1f} °C"
    elif cool in targets and temp - targets[cool] > REACHED_K:
        direction, delta, sp = "cool", temp - targets[cool], targets[cool]
        text = f"{temp:.1f} °C is {delta:.1f} K above {sp:.1f} °C"
    else:
        near = f"{temp:.1f} °C is within {REACHED_K:g} K of the targets"
        return 0.0, 0.0, None, 0.0, near
    drive = 0.0 if outdoor is None else (sp - outdoor if direction == "heat" else outdoor - sp)
    rate, seen = model.rate(zone, direction)
    if rate is not None:
        h_per_k = rate.hours_per_k(drive)
        how = f"learned {60 * h_per_k:.0f} min/K from {seen} recoveries"
    else:
        h_per_k = DEFAULT_H_PER_K
        how = f"default {1 / h_per_k:g} K/h until {model.min_history} recoveries ({seen} so far)"
    if outdoor is not None:
        text += f" at {outdoor:.1f} °C outdoor"
    recover = (delta - REACHED_K) * h_per_k * 3600.0  # to within REACHED_K of the setpoint
    return min(recover + margin, max_lead), delta, direction, recover, f"{text}, {how}"


def recovery_kw(model: RecoveryModel | None, zone: ZoneInfo) -> float:
    """Return the power a zone draws recovering: learned, else 30 W/m², else 3 kW."""
    kw = model.zone_power_kw(zone.id, zone.area_m2) if model is not None else None
    if kw is not None:
        return kw
    return DEFAULT_RECOVERY_W_M2 * zone.area_m2 / 1000.0 if zone.area_m2 else DEFAULT_RECOVERY_KW


def power_limit(
    profile: Profile, peak_kw: float | None, model: RecoveryModel | None
) -> float | None:
    """Return the site power limit in kW: the profile's, else the peak without setbacks."""
    if profile.recovery is not None and profile.recovery.limit_kw is not None:
        return profile.recovery.limit_kw
    limit = profile.energy.peak_limit_kw if profile.energy is not None else None
    if isinstance(limit, float):
        return limit
    if peak_kw is not None:
        return peak_kw
    return model.quiet_peak_kw if model is not None else None


def _stagger(
    zones: Sequence[ZoneInfo],
    leads: Mapping[str, tuple[float, float, str | None, float, str]],
    started: set[str],
    offsets: dict[str, float],
    ahead: float,
    site_kw: float,
    limit: float,
    model: RecoveryModel,
) -> tuple[dict[str, float], dict[str, str]]:
    """Return start offsets (s from now) packed under the limit, and notes for moved zones."""
    power = {z.id: recovery_kw(model, z) for z in zones}
    # the site's power ahead, in bins of BIN_S from now: recoveries, then holding
    bins = max(math.ceil(ahead / BIN_S), 1)
    load = [0.0] * (bins + math.ceil(MAX_LEAD_BINS))
    base = site_kw

    def place(first: int, length: int, kw: float) -> None:
        for k in range(first, min(first + length, len(load))):
            load[k] += kw
        for k in range(first + length, bins):
            load[k] += HOLD_SHARE * kw

    for z in zones:
        _lead_s, delta, direction, remaining, _how = leads[z.id]
        if z.id in started and direction is not None and delta > REACHED_K:
            place(0, math.ceil(remaining / BIN_S), power[z.id])
            base -= power[z.id]
    room = limit - base
    notes: dict[str, str] = {}
    out = dict(offsets)
    pending = [z.id for z in zones if z.id not in started and leads[z.id][2] is not None]
    pending.sort(key=lambda z: (-round(leads[z][0] / 600.0), z))  # stable: 10-min classes
    for zone in pending:
        lead, kw = leads[zone][0], power[zone]
        length = max(math.ceil(lead / BIN_S), 1)
        latest = max(math.floor((ahead - lead) / BIN_S), 0)
        # as late as possible: the latest bin whose window stays under the limit; a start that
        # slid into the past is "now"
        chosen = next(
            (k for k in range(latest, -1, -1) if max(load[k : k + length]) + kw <= room + 1e-9),
            None,
        )
        if chosen is None:
            offset = max(ahead - lead, 0.0)
            notes[zone] = f"no room under {limit:g} kW before then: starts in time regardless"
        elif chosen == latest:
            offset = max(ahead - lead, 0.0)  # where it would start anyway
        else:
            offset = chosen * BIN_S
            notes[zone] = (f"staggered {hm(ahead - lead - offset)} earlier to keep the site "
                           f"under {limit:g} kW")  # fmt: skip
        out[zone] = offset
        place(math.floor(offset / BIN_S), length, kw)
    return out, notes
