"""A commissioning run: identify, read and judge every point, measure links, test writes, trend.

Everything the report needs is kept in the journal (one ``commission-report`` entry of the run),
so ``smartbuild report RUN`` renders the same report later.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from smartbuild.services.commission.checks import (
    FAIL,
    FORMAT,
    NA,
    PASS,
    SLOW_SHARE,
    Check,
    CommissionOptions,
    Progress,
    by_category,
    summarize,
)
from smartbuild.services.commission.rules import judge_reading

if TYPE_CHECKING:
    from smartbuild.model.device import Device, Reading
    from smartbuild.services.session import Session

TREND_ROLES = ("zone_air_temperature", "heating_setpoint", "cooling_setpoint",
               "zone_air_temperature_setpoint", "zone_co2")  # fmt: skip
REPORT_ENTRY = "commission-report"


def point_checks(devices: Sequence[Device], readings: dict[str, list[Reading]]) -> list[Check]:
    """Return one check per point (read, plausible for its role, unit fits) and setpoint order."""
    checks: list[Check] = []
    for device in devices:
        values: dict[str, Any] = {}
        for reading in readings.get(device.id, []):
            point = device.point(reading.point)
            subject = f"{device.id}.{reading.point}"
            if not reading.ok:
                checks.append(Check("point", subject, FAIL, f"unreadable: {reading.error}",
                                    device=device.id, point=reading.point))  # fmt: skip
                continue
            status, reason = judge_reading(point.role, point.unit, reading.value)
            checks.append(Check("point", subject, status, reason, device=device.id,
                                point=reading.point, expected=point.role,
                                actual=reading.value))  # fmt: skip
            if point.role:
                values[point.role] = reading.value
        heat, cool = values.get("heating_setpoint"), values.get("cooling_setpoint")
        if isinstance(heat, (int, float)) and isinstance(cool, (int, float)):
            ok = heat <= cool
            reason = (f"heating {heat:g} ≤ cooling {cool:g}" if ok else
                      f"heating {heat:g} above cooling {cool:g}: heating and cooling would fight")  # fmt: skip
            checks.append(Check("setpoints", device.id, PASS if ok else FAIL, reason,
                                device=device.id))  # fmt: skip
    return checks


def comm_checks(figures: Sequence[dict[str, Any]], max_p95_ms: float | None) -> list[Check]:
    """Return one check per device from its link figures (slow: near its timeout, or the limit)."""
    checks = []
    for f in figures:
        p95 = f["p95_ms"]
        limit = max_p95_ms
        if limit is None:
            limit = SLOW_SHARE * 1000 * float(f["timeout_s"] or 1.0)
        shown = f"p50 {f['p50_ms']} ms, p95 {p95} ms per request over {f['reads']} reads"
        if f["errors"] or f["timeouts"]:
            status = FAIL
            reason = (f"{f['errors']} errors, {f['timeouts']} timeouts ({shown}): "
                      f"{f['last_error'] or ''}")  # fmt: skip
        elif p95 is not None and p95 > limit:
            status, reason = FAIL, f"slow: {shown}, above {limit:g} ms"
        else:
            status, reason = PASS, f"{shown} (limit {limit:g} ms), {f['retries']} retries"
        checks.append(Check("communication", f["device"], status, reason, device=f["device"],
                            expected=limit, actual=p95))  # fmt: skip
    return checks


def inventory(session: Session, devices: Sequence[Device]) -> dict[str, Any]:
    """Return the site, zones, devices and points schedule the run covered."""
    loaded = session.site()
    site = loaded.site
    zones = sorted({d.spec.zone for d in devices if d.spec.zone})
    rows, points = [], []
    for d in devices:
        template: Any = d.template
        rows.append({"device": d.id, "zone": d.spec.zone, "template": d.spec.template,
                     "title": template.title, "transport": d.transport,
                     "address": str(d.spec.address), "unit": getattr(d.spec, "unit", None)})  # fmt: skip
        family = template.family
        for name, p in template.points.items():
            try:
                where, kind = family.describe_point(template, p)
            except Exception:  # a family without a description still lists the point
                where, kind = "", p.value_kind()
            points.append({"device": d.id, "point": name, "address": where, "type": str(kind),
                           "unit": p.unit, "scale": p.scale, "offset": p.offset, "role": p.role,
                           "writable": p.writable, "min": p.min, "max": p.max})  # fmt: skip
    return {
        "site": {"name": site.site, "timezone": site.timezone, "path": str(loaded.path)},
        "zones": [{"zone": z, **_zone(site.zones.get(z))} for z in zones],
        "devices": rows,
        "points": points,
    }


def _zone(spec: Any) -> dict[str, Any]:
    if spec is None:
        return {}
    return {k: getattr(spec, k, None) for k in ("building", "floor", "area_m2")} | {
        "tags": list(getattr(spec, "tags", []) or [])
    }


async def trend(
    session: Session, devices: Sequence[Device], seconds: float, interval: float | None
) -> list[dict[str, Any]]:
    """Capture the trend roles' values for a while; return one series per point."""
    chosen = [d for d in devices
              if any(p.role in TREND_ROLES for p in d.template.points.values())]  # fmt: skip
    if not chosen or seconds <= 0:
        return []
    step = interval or max(0.2, seconds / 30)
    series: dict[tuple[str, str], dict[str, Any]] = {}
    began = time.time()
    async for batch in session.watch(chosen, interval=step,
                                     deadline=time.monotonic() + seconds):  # fmt: skip
        for r in batch:
            device = next(d for d in chosen if d.id == r.device)
            point = device.point(r.point)
            if point.role not in TREND_ROLES or not r.ok:
                continue
            entry = series.setdefault((r.device, r.point), {
                "device": r.device, "point": r.point, "zone": device.spec.zone,
                "role": point.role, "unit": r.unit, "samples": []})  # fmt: skip
            entry["samples"].append([round(r.time - began, 3), r.value])
    return list(series.values())


def comfort_band(moment: dt.datetime) -> dict[str, Any]:
    """Return the EN 16798-1 category II band for the season of a moment (the charts' band)."""
    from smartbuild.profiles.comfort import static_band

    season = "heating" if moment.month >= 10 or moment.month <= 4 else "cooling"
    return static_band("II", season).to_json()


async def plans(
    session: Session, options: CommissionOptions, devices: Sequence[Device]
) -> tuple[list[dict[str, Any]], list[Check]]:
    """Plan the site's profiles (or those named) for the moment in the zones checked."""
    zones = list(options.zones)
    if options.devices and not zones:  # the zones of the devices named
        zones = sorted({d.spec.zone for d in devices if d.spec.zone})
    refs = list(options.profiles)
    if not refs:
        for folder in session.profile_dirs():
            refs += sorted(str(p) for p in folder.glob("*.yaml")) if folder.is_dir() else []
    out, checks = [], []
    if not refs:
        checks.append(Check("plan", "profiles", NA, "the site names no profiles (profiles: in "
                            "the site file) and none was given with --profile"))  # fmt: skip
    for ref in refs:
        live = await session.plan(ref, at=options.at, zones=zones)
        plan = live.plan.to_json()
        blocked = [a for a in live.plan.actions if a.status == "blocked"]
        out.append({"profile": live.plan.profile, "path": live.path, "plan": plan,
                    "read_errors": live.read_errors})  # fmt: skip
        if blocked or live.read_errors:
            why = "; ".join([f"{a.device}.{a.point}: {', '.join(a.blocked_by)}" for a in blocked]
                            + live.read_errors)  # fmt: skip
            checks.append(Check("plan", live.plan.profile, FAIL, why[:500]))
        else:
            changes = len(live.plan.changes())
            checks.append(Check("plan", live.plan.profile, PASS,
                                f"{len(live.plan.actions)} actions, {changes} would change"))  # fmt: skip
    return out, checks


async def commission(
    session: Session, options: CommissionOptions, progress: Progress | None = None
) -> dict[str, Any]:
    """Run every check as one journaled run and return the report document."""
    from smartbuild.services.commission.comms import sample_devices
    from smartbuild.services.commission.identify import identify
    from smartbuild.services.commission.writetest import write_test

    progress = progress or Progress()
    devices = session.select(options.devices, options.zones)
    moment = session.moment(options.at)
    started = time.time()
    with session._run("commission", kind="run") as run:
        progress.run = run.id
        progress.say("identification")
        checks = await identify(session, devices)
        progress.say("reading")
        readings, figures = await sample_devices(
            session, devices, options.rounds, options.concurrency
        )
        checks += point_checks(devices, readings)
        checks += comm_checks(figures, options.max_p95_ms)
        rows: list[dict[str, Any]] = []
        if options.write_test:
            progress.say("write test")
            more, rows = await write_test(session, run, devices, readings, progress)
            checks += more
        progress.say("trend")
        series = await trend(session, devices, options.trend_s, options.trend_interval_s)
        progress.say("plans")
        planned, plan_checks = await plans(session, options, devices)
        checks += plan_checks
        summary = summarize(checks)
        asked = {"devices": list(options.devices), "zones": list(options.zones),
                 "write_test": options.write_test, "trend_s": options.trend_s,
                 "rounds": options.rounds, "max_p95_ms": options.max_p95_ms}  # fmt: skip
        doc = {
            "format": FORMAT,
            "run": run.id,
            "restore_run": progress.restore_run,
            "started": started,
            "finished": time.time(),
            "moment": moment.isoformat(),
            "options": asked,
            "summary": summary,
            "categories": by_category(checks),
            "deficiencies": [c.to_json() for c in checks if c.status == FAIL],
            **inventory(session, devices),
            "readings": [r.to_json() for rs in readings.values() for r in rs],
            "checks": [c.to_json() for c in checks],
            "communication": figures,
            "write_test": rows,
            "trends": series,
            "comfort_band": comfort_band(moment),
            "plans": planned,
            "signoff": {"installer": options.installer, "date": moment.date().isoformat()},
        }
        run.emit(REPORT_ENTRY, message=f"{summary['pass']} pass, {summary['fail']} fail, "
                 f"{summary['n/a']} n/a", data=doc)  # fmt: skip
        run.status = "ok" if summary["fail"] == 0 else "partial"
    progress.say("done")
    return doc
