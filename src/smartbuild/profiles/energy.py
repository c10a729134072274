"""Tariff prices, pre-heating before expensive periods, and peak shedding (all pure).

Shedding policy: while the meter reads above peak_limit_kw, *every* shed step applies, in
the order written. A plan is computed from the present readings only, so it cannot know how
much each step will save; applying all steps at once is the simple, predictable choice. With
release_below_kw, steps already in place are held until the meter drops below that value,
so shedding does not switch off and on again around the limit.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from smartbuild.profiles.energy_spec import EnergySpec, Preheat, ShedStep, Tariff
from smartbuild.profiles.schedule import site_time
from smartbuild.profiles.timespec import parse_days, parse_hhmm

AUTO_RELEASE = 0.8  # with peak_limit_kw: auto, shed steps hold until the meter is below 80 %


@dataclass(frozen=True)
class PriceAt:
    """The energy price at a moment and which tariff entry gave it."""

    price: float
    why: str  # "default" or "zone 1 mon-fri 16:00-21:00"
    currency: str | None = None

    def text(self) -> str:
        """Return the price with its currency, e.g. "0.42 EUR"."""
        return f"{self.price:g} {self.currency}" if self.currency else f"{self.price:g}"


@dataclass(frozen=True)
class _Zone:
    index: int
    days: frozenset[int]
    start: int
    end: int
    price: float
    label: str


def _zones(tariff: Tariff) -> list[_Zone]:
    return [
        _Zone(
            index,
            parse_days(zone.days),
            parse_hhmm(zone.start),
            parse_hhmm(zone.end, allow_24=True),
            zone.price,
            f"zone {index} {zone.days} {zone.start}-{zone.end}",
        )
        for index, zone in enumerate(tariff.zones)
    ]


def _price(tariff: Tariff, zones: list[_Zone], local: dt.datetime) -> PriceAt:
    minute = local.hour * 60 + local.minute
    weekday = local.weekday()
    # Where zones overlap the last matching one wins (evcc's convention).
    for zone in reversed(zones):
        if weekday in zone.days and zone.start <= minute < zone.end:
            return PriceAt(zone.price, zone.label, tariff.currency)
    return PriceAt(tariff.default, "default", tariff.currency)


def price_at(tariff: Tariff, local: dt.datetime) -> PriceAt:
    """Return the price at a site-local datetime."""
    return _price(tariff, _zones(tariff), local)


@dataclass(frozen=True)
class PreheatDecision:
    """Pre-heating is due: the price rises above the threshold at `rise`."""

    rise: dt.datetime
    price: PriceAt
    minutes_ahead: int
    spec: Preheat

    def why(self) -> str:
        """Return the reason text for plan actions."""
        return (
            f"preheat {self.spec.offset:+g}: price {self.price.text()} > "
            f"{self.spec.before_price_above:g} from {self.rise:%H:%M} (in {self.minutes_ahead} min)"
        )


def preheat_at(energy: EnergySpec, local: dt.datetime) -> PreheatDecision | None:
    """Return the pre-heat decision when a price above the threshold starts within minutes."""
    spec, tariff = energy.preheat, energy.tariff
    if spec is None or tariff is None:
        return None
    zones = _zones(tariff)
    if _price(tariff, zones, local).price > spec.before_price_above:
        return None  # already expensive: pre-heating is for the time before
    tz = local.tzinfo
    if tz is None:
        raise ValueError("preheat_at needs an aware site-local datetime")
    # Compare instants in UTC: same-tzinfo datetimes compare by wall clock, which is
    # wrong across a DST change.
    now = local.astimezone(dt.timezone.utc)
    horizon = now + dt.timedelta(minutes=spec.minutes)
    # Prices only change at zone starts, zone ends and midnight: check those instants.
    candidates: set[dt.datetime] = set()
    day = local.date()
    while day <= horizon.astimezone(tz).date():
        for minute in {0, *(z.start for z in zones), *(z.end for z in zones)}:
            wall = dt.datetime.combine(day, dt.time()) + dt.timedelta(minutes=minute)
            candidates.add(site_time(wall, tz).astimezone(dt.timezone.utc))
        day += dt.timedelta(days=1)
    for moment in sorted(c for c in candidates if now < c <= horizon):
        price = _price(tariff, zones, moment.astimezone(tz))
        if price.price > spec.before_price_above:
            ahead = round((moment - now).total_seconds() / 60)
            return PreheatDecision(moment.astimezone(tz), price, ahead, spec)
    return None


@dataclass(frozen=True)
class ShedDecision:
    """Whether peak shedding applies now: "inactive", "shed" (over the limit) or "hold"."""

    state: str
    steps: tuple[ShedStep, ...]
    why: str


def shed_at(
    energy: EnergySpec | None, meter_kw: float | None, limit_kw: float | None = None
) -> ShedDecision:
    """Return the shed decision for the meter's current power.

    `limit_kw` is the limit `peak_limit_kw: auto` stands for (the site's peak without
    setbacks, learned); shedding then releases at 80 % of it.
    """
    limit = energy.peak_limit_kw if energy else None
    release = energy.release_below_kw if energy else None
    if limit == "auto":
        limit, release = limit_kw, None if limit_kw is None else round(AUTO_RELEASE * limit_kw, 3)
    if energy is None or not energy.shed:
        return ShedDecision("inactive", (), "no peak limit")
    if limit is None:
        return ShedDecision("inactive", (), "peak limit auto: no peak known yet")
    if meter_kw is None:
        return ShedDecision("inactive", (), f"no current value for {energy.meter_role}")
    reading = f"{energy.meter_role} {meter_kw:g} kW"
    if meter_kw > limit:
        why = f"peak shedding: {reading} > limit {limit:g} kW"
        return ShedDecision("shed", energy.shed, why)
    if release is not None and meter_kw >= release:
        why = f"peak shedding held: {reading} not yet below {release:g} kW"
        return ShedDecision("hold", energy.shed, why)
    return ShedDecision("inactive", (), f"{reading} within limit {limit:g} kW")
