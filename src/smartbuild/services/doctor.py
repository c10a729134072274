"""`smartbuild doctor`: what this machine and the site's files are missing, each with its fix.

Core checks live here and in ``doctor_host``; what a protocol needs from the host (a bus, a serial
port, a UDP port) is asked of each transport family through ``TransportFamily.doctor``, so this
module names no protocol. Nothing here writes to devices, sends multicast or changes a file.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from smartbuild.model.checks import Check, CheckStatus, fail, ok, problem, warn
from smartbuild.services import doctor_host as host

if TYPE_CHECKING:
    from smartbuild.config.schema import DeviceSpec
    from smartbuild.services.session import Session
    from smartbuild.transports.base import TransportFamily

CORE = host.CORE
FAMILY_GRACE = 3.0  # a family's checks get this many times the per-question timeout in all


@dataclass
class DoctorReport:
    """Every check that ran, in order, and the counts by status."""

    checks: list[Check] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """Return how many checks are ok, warn and fail."""
        out = {s.value: 0 for s in CheckStatus}
        for check in self.checks:
            out[check.status.value] += 1
        return out

    @property
    def healthy(self) -> bool:
        """Return True when every check is ok."""
        return all(c.status is CheckStatus.OK for c in self.checks)

    def to_json(self) -> dict[str, Any]:
        """Return the report as JSON-ready data."""
        return {"ok": self.healthy, "counts": self.counts(),
                "checks": [c.to_json() for c in self.checks]}  # fmt: skip


async def run_doctor(
    session: Session,
    *,
    site_required: bool = False,
    broker: str | None = None,
    timeout: float = 2.0,
    only: Sequence[str] = (),
) -> DoctorReport:
    """Run every check (or those named in ``only``: check names or areas) and return them."""
    wanted = set(only)

    def chosen(area: str, name: str) -> bool:
        return not wanted or bool({area, name} & wanted)

    report = DoctorReport()
    add = report.checks.extend
    if chosen(CORE, "python"):
        add([host.check_python()])
    if chosen(CORE, "dependencies"):
        add([host.check_dependencies()])
    journal, newest = host.journal_checks(session.home)
    if chosen(CORE, "journal"):
        add([journal])
    files = site_checks(session, site_required)
    add(c for c in files if chosen(c.area, c.name))
    loaded = _site(session)
    if chosen(CORE, "timezone"):
        add([host.check_timezone(loaded.timezone if loaded else None)])
    if chosen(CORE, "clock"):
        add([host.check_clock(newest)])
    if chosen(CORE, "mqtt"):
        add([await host.check_broker(broker or _configured_broker(loaded), timeout)])
    if chosen(CORE, "hub-unit"):
        add(host.check_hub_unit())
    family_checks = await _family_checks(session, loaded, timeout)
    add(c for c in family_checks if chosen(c.area, c.name))
    return report


def _site(session: Session) -> Any:
    """Return the validated site model, or None when there is no valid site file."""
    from smartbuild.errors import SmartbuildError

    if not session.site_path.exists():
        return None
    try:
        return session.site().site
    except SmartbuildError:
        return None


def _configured_broker(site: Any) -> str | None:
    """Return the broker URL of the site's ``mqtt:`` block, when the site has one."""
    spec = getattr(site, "mqtt", None)
    url = getattr(spec, "url", None)
    return str(url) if url else None


def site_checks(session: Session, site_required: bool) -> list[Check]:
    """Return checks of the site file, the device templates, the profiles and the routines."""
    from smartbuild.errors import SmartbuildError

    checks: list[Check] = []
    path = session.site_path
    site = None
    if not path.exists():
        fix = ("pass --site FILE or set SMARTBUILD_SITE; `smartbuild discover ... --save` "
               "creates one")  # fmt: skip
        checks.append(problem(site_required, CORE, "site", f"no site file at {path}", fix))
    else:
        try:
            site = session.site().site
        except SmartbuildError as error:
            lines = error.lines()
            shown = "; ".join(lines[:5]) + (
                f" (and {len(lines) - 5} more)" if len(lines) > 5 else ""
            )
            checks.append(fail(CORE, "site", shown, error.hint or "correct the file at the places "
                               "named (`smartbuild validate` lists every problem)",
                               problems=lines))  # fmt: skip
        else:
            checks.append(ok(CORE, "site", f"{path}: {len(site.zones)} zones, "
                             f"{len(site.devices)} devices", path=str(path)))  # fmt: skip
    checks.append(_templates_check(session))
    checks.append(_profiles_check(session, site is not None))
    if site is not None:
        checks.append(_routines_check(session))
    return checks


def _routines_check(session: Session) -> Check:
    from smartbuild.errors import SmartbuildError
    from smartbuild.services.routines import RoutineRunner

    try:
        routines = RoutineRunner(session).routines()
    except SmartbuildError as error:
        problems = error.lines()
        return fail(CORE, "routines", f"{len(problems)} problem(s): {'; '.join(problems[:3])}",
                    "correct the routines at the places named (`smartbuild routine validate`)",
                    problems=problems)  # fmt: skip
    enabled = sum(1 for r in routines if r.routine.enabled)
    return ok(
        CORE, "routines", f"{len(routines)} valid ({enabled} enabled)", routines=len(routines)
    )


def _templates_check(session: Session) -> Check:
    registry = session.registry
    templates = registry.templates
    skipped = [w for w in registry.warnings if w.startswith("template skipped")]
    if skipped:
        return fail(CORE, "templates", f"{len(skipped)} problem(s): {'; '.join(skipped[:3])}",
                    "correct the template files named (`smartbuild templates validate FILE`)",
                    problems=skipped)  # fmt: skip
    by: dict[str, int] = {}
    for entry in templates.values():
        by[entry.plugin] = by.get(entry.plugin, 0) + 1
    origin = ", ".join(f"{n} from {p}" for p, n in sorted(by.items()))
    return ok(CORE, "templates", f"{len(templates)} valid ({origin})", by_plugin=by)


def _profiles_check(session: Session, site_valid: bool) -> Check:
    from smartbuild.errors import SmartbuildError
    from smartbuild.profiles.loading import load_profile, shipped_profiles

    files = list(shipped_profiles())
    if site_valid:
        for directory in session.profile_dirs():
            files += sorted(directory.glob("*.y*ml"))
    problems: list[str] = []
    for path in files:
        try:
            load_profile(path)
        except SmartbuildError as error:
            problems += error.lines()
    if problems:
        return fail(CORE, "profiles", f"{len(problems)} problem(s): {'; '.join(problems[:3])}",
                    "correct the profile files at the places named "
                    "(`smartbuild profile validate FILE`)", problems=problems)  # fmt: skip
    return ok(CORE, "profiles", f"{len(files)} valid", files=len(files))


async def _family_checks(session: Session, site: Any, timeout: float) -> list[Check]:
    """Ask every transport family what it needs from this host, concurrently and bounded."""
    from smartbuild.transports.base import DoctorContext

    registry = session.registry
    used: dict[str, list[DeviceSpec]] = {}
    for spec in site.devices.values() if site is not None else []:
        family = registry.family_of(spec.transport)
        if family is not None and spec.enabled:
            used.setdefault(family.name, []).append(spec)
    families = registry.families

    async def one(name: str, family: type[TransportFamily]) -> list[Check]:
        context = DoctorContext(tuple(used.get(name, ())), timeout)
        try:
            return await asyncio.wait_for(family.doctor(context), timeout * FAMILY_GRACE + 1)
        except asyncio.TimeoutError:
            return [
                warn(
                    name,
                    name,
                    f"the {name} checks did not finish within {timeout * FAMILY_GRACE + 1:g} s",
                    "run again with a longer --timeout",
                )
            ]
        except Exception as error:  # a family's own bug must not hide every other finding
            return [fail(name, name, f"the {name} checks failed: {type(error).__name__}: {error}",
                         "this is a bug in smartbuild or a plugin; run with --traceback and "
                         "report it")]  # fmt: skip

    results = await asyncio.gather(*(one(n, f) for n, f in families.items()))
    return [check for checks in results for check in checks]
