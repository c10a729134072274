"""Learn how fast each zone recovers from setback, from its own readings (pure, no I/O).

The input is a history of snapshots (zone temperatures and setpoints, outdoor temperature,
site power), as `watch` records them or a simulation produces them. A *recovery* starts when
a zone's heating setpoint steps up (or its cooling setpoint down) by at least 1 K after a
setback of at least 4 hours, while the zone is at least 1 K away from it, and ends when the zone comes within 0.5 K of the new setpoint.
Per zone and direction the learner fits the hours needed per kelvin (of the gap less those
0.5 K) against the drive
(setpoint minus outdoor temperature when heating, outdoor minus setpoint when cooling):

    hours per K = c0 + c1 · drive          (least squares over the latest recoveries)

which is what a first-order zone gives when the losses grow with the drive. It also learns the
power a recovery draws (the site meter's step when a zone starts, shared equally among zones
starting together) and the highest 15-minute site power outside recoveries: the peak the site
has without them, which staggering keeps under when the profile names no limit.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from smartbuild.profiles.planner import PointState

DEFAULT_H_PER_K = 1.0  # 1 K/h: slow for a heat pump with ~1.5x design capacity, so it starts early
MIN_H_PER_K = 0.05  # never trust a model that says 20 K/h
STEP_K = 1.0  # a setpoint step and a gap of at least this start a recovery
# A recovery ends this close to its setpoint: where a thermostat's proportional band (about 1 K)
# stops giving full output; optimal start therefore aims this far past the coming setpoint.
REACHED_K = 0.5
MAX_RECOVERY_H = 12.0
SPREAD_SHARE = 0.5  # of the residual spread added to a lead: early rather than late
LATEST = 10  # recoveries per zone and direction the fit uses: the latest, as seasons change
MIN_SETBACK_H = 4.0  # shorter setbacks leave the building mass warm and would teach short leads
PEAK_WINDOW_S = 900.0


@dataclass(frozen=True, slots=True)
class ZoneReading:
    """One zone at one moment: air temperature and the setpoints in force."""

    temperature_c: float | None
    heating_setpoint_c: float | None = None
    cooling_setpoint_c: float | None = None


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What the learner needs from one moment of a site's readings."""

    t: dt.datetime
    outdoor_c: float | None
    site_kw: float | None
    zones: Mapping[str, ZoneReading]


@dataclass(frozen=True, slots=True)
class Episode:
    """One observed recovery of a zone."""

    zone: str
    direction: str  # "heat" | "cool"
    start: dt.datetime
    hours: float
    delta_k: float
    drive_k: float
    power_kw: float | None


@dataclass(frozen=True)
class ZoneRate:
    """Hours a zone needs per kelvin of recovery, as a function of the drive."""

    c0: float
    c1: float
    spread: float  # residual standard deviation, added so a start errs on the early side
    episodes: int

    def hours_per_k(self, drive_k: float) -> float:
        """Return the conservative hours per kelvin at a drive (K)."""
        return max(self.c0 + self.c1 * drive_k + SPREAD_SHARE * self.spread, MIN_H_PER_K)


@dataclass(frozen=True)
class RecoveryModel:
    """What the history says about recoveries: per-zone rates, powers and the quiet peak."""

    rates: dict[tuple[str, str], ZoneRate] = field(default_factory=dict)
    power_kw: dict[str, float] = field(default_factory=dict)
    w_per_m2: float | None = None
    quiet_peak_kw: float | None = None
    episodes: int = 0
    min_history: int = 3

    def rate(self, zone: str, direction: str) -> tuple[ZoneRate | None, int]:
        """Return the zone's learned rate (None while it has too few recoveries) and its count."""
        rate = self.rates.get((zone, direction))
        if rate is None:
            return None, 0
        return (rate if rate.episodes >= self.min_history else None), rate.episodes

    def zone_power_kw(self, zone: str, area_m2: float | None) -> float | None:
        """Return the power a recovery of the zone draws: the site's median per m², else its own."""
        # one zone's meter steps are noisy (other loads switch too); all zones' median is not
        if self.w_per_m2 is not None and area_m2:
            return self.w_per_m2 * area_m2 / 1000.0
        return self.power_kw.get(zone)


def _drive(direction: str, setpoint: float, outdoor: float | None) -> float:
    if outdoor is None:
        return 0.0
    return setpoint - outdoor if direction == "heat" else outdoor - setpoint


def _setpoint(reading: ZoneReading, direction: str) -> float | None:
    return reading.heating_setpoint_c if direction == "heat" else reading.cooling_setpoint_c


def snapshot(now: dt.datetime, states: list[PointState], meter_role: str) -> Snapshot:
    """Return the learner's view of one moment from the points a plan read (live or simulated)."""
    temps: dict[str, float] = {}
    heat: dict[str, float] = {}
    cool: dict[str, float] = {}
    outdoor = site = None
    for p in states:
        if p.current is None:
            continue
        if p.zone is None:
            if p.role == "outdoor_temperature" and outdoor is None:
                outdoor = p.current
            elif p.role == meter_role and site is None:
                site = p.current
        elif p.role == "zone_air_temperature":
            temps.setdefault(p.zone, p.current)
        elif p.role == "heating_setpoint":
            heat.setdefault(p.zone, p.current)
        elif p.role == "cooling_setpoint":
            cool.setdefault(p.zone, p.current)
    zones = {z: ZoneReading(t, heat.get(z), cool.get(z)) for z, t in temps.items()}
    return Snapshot(now, outdoor, site, zones)


def find_episodes(history: Sequence[Snapshot]) -> list[Episode]:
    """Return the recoveries a history shows, oldest first."""
    episodes: list[Episode] = []
    snaps = sorted(history, key=lambda s: s.t)
    zones = sorted({z for s in snaps for z in s.zones})
    for zone in zones:
        for direction, sign in (("heat", 1.0), ("cool", -1.0)):
            start: int | None = None
            previous: float | None = None
            since = snaps[0].t if snaps else dt.datetime.min  # when the setpoint last changed
            for i, snap in enumerate(snaps):
                reading = snap.zones.get(zone)
                sp = _setpoint(reading, direction) if reading else None
                temp = reading.temperature_c if reading else None
                if sp is None or temp is None:
                    start, previous, since = None, sp, snap.t
                    continue
                if start is not None:
                    first = snaps[start]
                    first_sp = _setpoint(first.zones[zone], direction)
                    hours = (snap.t - first.t).total_seconds() / 3600.0
                    if first_sp is None or abs(sp - first_sp) > 1e-6 or hours > MAX_RECOVERY_H:
                        start = None  # the setpoint moved again or it never got there
                    elif sign * (sp - temp) <= REACHED_K:
                        t0 = first.zones[zone].temperature_c
                        t0 = temp if t0 is None else t0
                        delta = sign * (first_sp - t0) - REACHED_K
                        power = _power_step(snaps, start)
                        drive = _drive(direction, first_sp, first.outdoor_c)
                        episodes.append(
                            Episode(zone, direction, first.t, hours, delta, drive, power)
                        )
                        start = None
                if (
                    start is None
                    and previous is not None
                    and sign * (sp - previous) >= STEP_K
                    and sign * (sp - temp) >= STEP_K
                    and snap.t - since >= dt.timedelta(hours=MIN_SETBACK_H)
                ):
                    start = i
                if previous is None or abs(sp - previous) > 1e-6:
                    since = snap.t
                previous = sp
    episodes.sort(key=lambda e: e.start)
    return episodes


def _power_step(snaps: Sequence[Snapshot], i: int) -> float | None:
    """Return the zone's share of the site meter's step as its recovery began."""
    if i == 0 or i + 1 >= len(snaps):
        return None
    before, after = snaps[i - 1].site_kw, snaps[i + 1].site_kw
    if before is None or after is None:
        return None
    # zones whose heating setpoint stepped up at the same moment share the step
    together = 0
    for z, r in snaps[i].zones.items():
        prev = snaps[i - 1].zones.get(z)
        if prev and r.heating_setpoint_c is not None and prev.heating_setpoint_c is not None:
            together += r.heating_setpoint_c - prev.heating_setpoint_c >= STEP_K
    return max(after - before, 0.0) / max(together, 1)


def _fit(episodes: Sequence[Episode]) -> ZoneRate:
    ys = [e.hours / e.delta_k for e in episodes]
    xs = [e.drive_k for e in episodes]
    n = len(ys)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    c1 = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx if sxx > 1.0 else 0.0
    c1 = max(c1, 0.0)  # a zone never recovers faster because it is colder outside
    c0 = my - c1 * mx
    resid = [y - (c0 + c1 * x) for x, y in zip(xs, ys, strict=True)]
    spread = math.sqrt(sum(r * r for r in resid) / max(n - 1, 1)) if n > 1 else 0.0
    return ZoneRate(c0, c1, spread, n)


def learn_recovery(
    history: Sequence[Snapshot],
    *,
    areas: Mapping[str, float] | None = None,
    min_history: int = 3,
) -> RecoveryModel:
    """Return the recovery model a history of snapshots supports (empty history: defaults)."""
    return model_from(find_episodes(history), _quiet_peak(history), areas=areas,
                      min_history=min_history)  # fmt: skip


def model_from(
    found: Sequence[Episode],
    quiet_peak_kw: float | None,
    *,
    areas: Mapping[str, float] | None = None,
    min_history: int = 3,
) -> RecoveryModel:
    """Return the recovery model of episodes (oldest first) and the peak outside recoveries.

    A long-running hub keeps the episodes and daily quiet peaks of weeks, not every snapshot.
    """
    episodes = [e for e in found if e.delta_k > 0.2 and e.hours > 0]
    groups: dict[tuple[str, str], list[Episode]] = {}
    for e in episodes:
        groups.setdefault((e.zone, e.direction), []).append(e)
    rates = {key: _fit(group[-LATEST:]) for key, group in groups.items()}
    powers: dict[str, list[float]] = {}
    for e in episodes:
        if e.power_kw is not None and e.direction == "heat":
            powers.setdefault(e.zone, []).append(e.power_kw)
    power_kw = {z: _median(v) for z, v in powers.items()}
    w_per_m2 = None
    if areas:
        per_m2 = [1000.0 * p / areas[z] for z, p in power_kw.items() if areas.get(z)]
        w_per_m2 = _median(per_m2) if per_m2 else None
    return RecoveryModel(rates, power_kw, w_per_m2, quiet_peak_kw,
                         len(episodes), min_history)  # fmt: skip


def _median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def _recovering(s: Snapshot) -> bool:
    for r in s.zones.values():
        if r.temperature_c is None:
            continue
        if r.heating_setpoint_c is not None and r.heating_setpoint_c - r.temperature_c > REACHED_K:
            return True
        if r.cooling_setpoint_c is not None and r.temperature_c - r.cooling_setpoint_c > REACHED_K:
            return True
    return False


def _quiet_peak(history: Sequence[Snapshot]) -> float | None:
    """Return the highest 15-minute mean site power in windows where no zone recovers."""
    peaks = quiet_peaks_by_day(history)
    return max(peaks.values()) if peaks else None


def quiet_peaks_by_day(history: Sequence[Snapshot]) -> dict[dt.date, float]:
    """Return each day's highest 15-minute mean site power in windows where no zone recovers."""
    busy: set[int] = set()
    sums: dict[int, list[float]] = {}
    for s in history:
        k = math.floor(s.t.timestamp() / PEAK_WINDOW_S)
        if _recovering(s):
            busy.add(k)
        elif s.site_kw is not None:
            sums.setdefault(k, []).append(s.site_kw)
    days: dict[dt.date, float] = {}
    tz = history[0].t.tzinfo if history else None
    for k, v in sums.items():
        if k not in busy and len(v) >= 2:
            day = dt.datetime.fromtimestamp(k * PEAK_WINDOW_S, tz).date()
            days[day] = max(days.get(day, -math.inf), sum(v) / len(v))
    return days
