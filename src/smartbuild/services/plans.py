"""Plan a profile against the live site: read current values, then call the pure planner."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from smartbuild.config.schema import Site
    from smartbuild.model.device import Device
    from smartbuild.profiles.planner import Plan, PlannedAction, PointState
    from smartbuild.profiles.recovery import RecoveryModel
    from smartbuild.profiles.schema import Profile
    from smartbuild.services.connections import Connections

SITE_ROLES = ("outdoor_temperature",)  # site-level readings profiles may use


@dataclass
class LivePlan:
    """A plan with the devices it refers to and what could not be read."""

    plan: Plan
    devices: dict[str, Device]
    read_errors: list[str]
    points_read: int
    profile: Profile | None = None
    path: str | None = None  # the profile file
    states: list[PointState] = field(default_factory=list)  # what was read (a hub learns from it)


def parse_at(text: str | None, timezone: str) -> dt.datetime:
    """Return the moment to plan for: now in the site's timezone, or --at (site-local if naive)."""
    from zoneinfo import ZoneInfo

    from smartbuild.errors import UsageError

    tz = ZoneInfo(timezone)
    if not text:
        return dt.datetime.now(tz)
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(
            f"invalid --at {text!r}", hint='write e.g. --at "2026-12-01 08:00"'
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=tz)


async def live_plan(
    site: Site,
    devices: dict[str, Device],
    conns: Connections,
    profile: Profile,
    at: dt.datetime,
    zone_filter: list[str] | None,
    veto: Callable[[PlannedAction, Device], list[str]],
    recovery: RecoveryModel | None = None,
) -> LivePlan:
    """Read the points the profile needs in the zones it selects, then plan.

    ``recovery`` is what a history of this site's readings taught (the hub keeps one); without
    it optimal start uses its conservative default.
    """
    from smartbuild.config.site import served_zones
    from smartbuild.profiles.planner import PointState, ZoneInfo, plan_profile, select_zones

    zones = [
        ZoneInfo(zid, z.building, z.floor, tuple(z.tags), z.area_m2)
        for zid, z in site.zones.items()
    ]
    selected = {z.id for z in select_zones(profile.applies_to, zones, zone_filter or None, [])}
    needed = set(profile.read_roles())  # incl. the meter and optimal start's temperatures
    needed.update(SITE_ROLES)
    wanted: list[tuple[Device, list[str]]] = []
    served = {d.id: served_zones(d.spec, site.zones) for d in devices.values()}
    for device in devices.values():
        zone = device.spec.zone
        if zone is not None and zone not in selected and not served[device.id]:
            continue
        names = [n for n, p in device.template.points.items() if p.role in needed]
        if names:
            wanted.append((device, names))
    results = await conns.read_many(wanted)
    states: list[PointState] = []
    errors: list[str] = []
    for device, _names in wanted:
        for reading in results[device.id]:
            point = device.template.points[reading.point]
            if not reading.ok:
                errors.append(f"{device.id}.{reading.point}: {reading.error}")
            value = (
                reading.value if reading.ok and isinstance(reading.value, (int, float)) else None
            )
            states.append(
                PointState(
                    device.id, reading.point, point.role or "",
                    None if served[device.id] else device.spec.zone, point.unit,
                    None if value is None else float(value), point.writable, point.min, point.max,
                    point.step() if point.scale != 1 else None, served[device.id],
                )
            )  # fmt: skip

    plan = plan_profile(
        profile,
        zones,
        states,
        tz=site.timezone,
        at=at,
        zone_filter=zone_filter or None,
        vetoes=lambda action: veto(action, devices[action.device]),
        recovery=recovery,
    )
    notes = await overridden_notes(conns, devices, plan)
    if notes:
        plan = dataclasses.replace(plan, warnings=(*plan.warnings, *notes))
    return LivePlan(plan, devices, errors, len(states), profile, states=states)


async def overridden_notes(conns: Connections, devices: dict[str, Device], plan: Plan) -> list[str]:
    """Return a warning per planned change that a higher-priority writer holds (transports say)."""
    import asyncio

    async def one(action: PlannedAction) -> str | None:
        device = devices[action.device]
        holder = await conns.transport(device.transport).overridden_by(device, action.point)
        if holder is None:
            return None
        return (f"{action.device}.{action.point}: overridden by {holder}: a write will wait "
                "behind it and take effect only when it is released")  # fmt: skip

    found = await asyncio.gather(*(one(a) for a in plan.changes()))
    return [note for note in found if note]


def plan_json(live: LivePlan) -> dict[str, Any]:
    """Return the plan and read errors as JSON-ready data."""
    data = live.plan.to_json()
    data["read_errors"] = live.read_errors
    return data
