"""Plan a profile against the live site: read current values, then call the pure planner."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from smartbuild.transports.base import Device

if TYPE_CHECKING:
    from smartbuild.cli import App
    from smartbuild.devices import Connections
    from smartbuild.profiles.planner import Plan, PlannedAction
    from smartbuild.profiles.schema import Profile

SITE_ROLES = ("outdoor_temperature",)  # site-level readings profiles may use


@dataclass
class LivePlan:
    """A plan with the devices it refers to and what could not be read."""

    plan: Plan
    devices: dict[str, Device]
    read_errors: list[str]
    points_read: int


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
    app: App, conns: Connections, profile: Profile, at: dt.datetime, zone_filter: list[str] | None
) -> LivePlan:
    """Read the points the profile needs in the zones it selects, then plan."""
    from smartbuild.devices import site_devices
    from smartbuild.profiles.planner import PointState, ZoneInfo, plan_profile, select_zones

    site = app.site().site
    devices = site_devices(app)
    zones = [
        ZoneInfo(zid, z.building, z.floor, tuple(z.tags), z.area_m2)
        for zid, z in site.zones.items()
    ]
    selected = {z.id for z in select_zones(profile.applies_to, zones, zone_filter or None, [])}
    needed = set(profile.roles())
    if profile.energy is not None:
        needed.add(profile.energy.meter_role)
    needed.update(SITE_ROLES)
    wanted: list[tuple[Device, list[str]]] = []
    for device in devices.values():
        zone = device.spec.zone
        if zone is not None and zone not in selected:
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
                    device.id, reading.point, point.role or "", device.spec.zone, point.unit,
                    None if value is None else float(value), point.writable, point.min, point.max,
                    abs(point.scale) if point.scale != 1 else None,
                )
            )  # fmt: skip

    def veto(action: PlannedAction) -> list[str]:
        results = app.pm.hook.check_action(action=action, device=devices[action.device], site=site)
        return [str(reason) for result in results for reason in (result or [])]

    plan = plan_profile(
        profile,
        zones,
        states,
        tz=site.timezone,
        at=at,
        zone_filter=zone_filter or None,
        vetoes=veto,
    )
    return LivePlan(plan, devices, errors, len(states))


def show_plan(app: App, live: LivePlan, title: str) -> None:
    """Print a plan as a rich table (people) — JSON output is up to the command."""
    from rich.table import Table

    from smartbuild.console import escape

    plan = live.plan
    out = app.output
    out.print(f"[bold]{title}[/bold] · {plan.at:%Y-%m-%d %H:%M %Z} · {escape(plan.mode_why)}")
    extras = []
    if plan.comfort is not None:
        extras.append(
            f"comfort {plan.comfort.low:g}–{plan.comfort.high:g} °C ({escape(plan.comfort.source)})"
        )
    if plan.price is not None:
        extras.append(
            f"price {plan.price.price:g} {plan.price.currency or ''}/kWh".replace(" /", "/")
        )
    if plan.shedding != "inactive":
        extras.append(f"peak shedding: {plan.shedding}")
    if extras:
        out.print(" · ".join(extras))
    table = Table()
    for column in ("zone", "device.point", "current", "target", "status", "reason"):
        table.add_column(column, overflow="fold")
    styles = {"change": "bold", "blocked": "red", "skip-unchanged": "dim", "skip-deadband": "dim"}
    for a in plan.actions:
        unit = f" {a.unit}" if a.unit else ""
        current = "?" if a.current is None else f"{a.current:g}{unit}"
        target = "-" if a.target is None else f"{a.target:g}{unit}"
        status = a.status + (f": {'; '.join(a.blocked_by)}" if a.blocked_by else "")
        table.add_row(a.zone, f"{a.device}.{a.point}", current, target,
                      f"[{styles.get(a.status, '')}]{escape(status)}[/]", escape(a.reason))  # fmt: skip
    out.print(table)
    counts = ", ".join(f"{n} {k}" for k, n in sorted(plan.counts.items())) or "nothing to do"
    out.print(f"{len(plan.actions)} points: {counts}")
    for warning in plan.warnings:
        out.warn(warning)
    for error in live.read_errors:
        out.warn(f"could not read {error}")


def plan_json(live: LivePlan) -> dict[str, Any]:
    """Return the plan and read errors as JSON-ready data."""
    data = live.plan.to_json()
    data["read_errors"] = live.read_errors
    return data
