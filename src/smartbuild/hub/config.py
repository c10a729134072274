"""What the hub loads, validated as a whole: the site, its ``hub:`` block and the profiles it names.

``load_hub_config`` raises ``ConfigError`` with every located problem; a running hub keeps its old
configuration when a reload fails, so validation never touches the running one.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from smartbuild.errors import ConfigError, Problem, SmartbuildError

if TYPE_CHECKING:
    from smartbuild.model.device import Device
    from smartbuild.profiles.schedule import CompiledSchedule
    from smartbuild.profiles.schema import Profile
    from smartbuild.services.session import Session


@dataclass
class ScheduleEntry:
    """A profile the hub runs, with its compiled schedule and the zones it drives."""

    index: int
    ref: str  # the name or path as the site gives it
    profile: Profile
    path: Path
    schedule: CompiledSchedule
    zone_filter: list[str]  # as given (empty: every zone the profile selects)
    zones: list[str]  # the zones it drives


@dataclass
class HubConfig:
    """A validated hub configuration: schedules, routine names, what to poll and how often."""

    site_path: Path
    timezone: str
    schedules: list[ScheduleEntry] = field(default_factory=list)
    routines: list[str] = field(default_factory=list)
    polls: dict[tuple[str, str], float] = field(default_factory=dict)  # (device, point) -> s
    has_block: bool = False

    def summary(self) -> dict[str, Any]:
        """Return what this configuration runs, JSON-ready."""
        return {
            "site": str(self.site_path),
            "timezone": self.timezone,
            "hub_block": self.has_block,
            "schedules": [
                {"profile": e.profile.profile, "path": str(e.path), "zones": len(e.zones)}
                for e in self.schedules
            ],
            "routines": list(self.routines),
            "points_polled": len(self.polls),
            "devices_polled": len({d for d, _ in self.polls}),
        }


def load_hub_config(session: Session) -> HubConfig:
    """Validate the site, its hub block and every profile it names; raise ConfigError if not."""
    from zoneinfo import ZoneInfo as Tz

    from smartbuild.profiles.planner import ZoneInfo, select_zones
    from smartbuild.profiles.schedule import CompiledSchedule

    loaded = session.site()
    site, doc = loaded.site, loaded.doc
    devices = session.devices()
    spec = site.hub
    config = HubConfig(loaded.path, site.timezone, has_block=spec is not None)
    Tz(site.timezone)  # validated by the schema; fails loudly if the zone database went away
    problems: list[Problem] = []
    if spec is None:
        config.polls = poll_plan(devices, None, {})
        return config
    zones = [
        ZoneInfo(zid, z.building, z.floor, tuple(z.tags), z.area_m2)
        for zid, z in site.zones.items()
    ]
    claimed: dict[tuple[str, str], int] = {}  # (zone, role) -> schedule index
    for index, item in enumerate(spec.schedules):
        at = ("hub", "schedules", index)
        for z_index, pattern in enumerate(item.zones):
            if not fnmatch.filter(site.zones, pattern):
                from smartbuild.suggest import did_you_mean

                problems.append(doc.problem((*at, "zones", z_index),
                                            f"no zone matches {pattern!r}.{did_you_mean(pattern, site.zones)}"))  # fmt: skip
        try:
            profile, path = session.load_profile(item.profile)
        except ConfigError as error:
            problems.append(doc.problem((*at, "profile"), f"profile {item.profile!r} is invalid: {error.lines()[0]}"))  # fmt: skip
            problems.extend(error.problems[1:])
            continue
        except SmartbuildError as error:
            problems.append(
                doc.problem((*at, "profile"), _unknown_profile(session, item.profile, error))
            )
            continue
        selected = [z.id for z in select_zones(profile.applies_to, zones, item.zones or None, [])]
        if not selected:
            problems.append(doc.problem((*at, "profile"), f"profile {profile.profile!r} selects no zone of the site"
                                        + (f" among {', '.join(item.zones)}" if item.zones else "")))  # fmt: skip
        for zone in selected:
            for role in sorted(profile.roles()):
                other = claimed.setdefault((zone, role), index)
                if other != index:
                    problems.append(doc.problem((*at, "profile"),
                        f"zone {zone!r} gets {role} from schedules {other} and {index}: "
                        "two profiles would fight over it; narrow one with zones:"))  # fmt: skip
                    break
        config.schedules.append(
            ScheduleEntry(
                index,
                item.profile,
                profile,
                path,
                CompiledSchedule(profile.schedule),
                list(item.zones),
                selected,
            )
        )
    for name, _seconds in spec.poll.devices.items():
        if name not in site.devices:
            from smartbuild.suggest import did_you_mean

            problems.append(doc.problem(("hub", "poll", "devices", name),
                                        f"unknown device {name!r}.{did_you_mean(name, site.devices)}", key=True))  # fmt: skip
    seen: set[str] = set()
    for r_index, name in enumerate(spec.routines):
        if name in seen:
            problems.append(
                doc.problem(("hub", "routines", r_index), f"routine {name!r} is listed twice")
            )
        seen.add(name)
    if spec.routines:
        problems += _routine_problems(session, spec.routines)
    if problems:
        raise ConfigError(problems)
    config.routines = list(spec.routines)
    config.polls = poll_plan(
        devices, spec.poll.interval if spec.poll.enabled else 0, spec.poll.devices
    )
    return config


def _routine_problems(session: Session, names: list[str]) -> list[Problem]:
    """Return why the routines the hub block names cannot run: invalid, unknown or disabled."""
    from smartbuild.services.routines import RoutineRunner
    from smartbuild.suggest import did_you_mean

    try:
        items = {i.routine.routine: i for i in RoutineRunner(session).routines()}
    except ConfigError as error:
        return list(error.problems)
    doc = session.site().doc
    problems = []
    for index, name in enumerate(names):
        item = items.get(name)
        if item is None:
            problems.append(doc.problem(("hub", "routines", index), f"no routine named {name!r}."
                                        f"{did_you_mean(name, items) or ' The site has: ' + (', '.join(items) or 'none') + '.'}"))  # fmt: skip
        elif not item.routine.enabled:
            problems.append(doc.problem(("hub", "routines", index),
                                        f"routine {name!r} is disabled (enabled: false, {item.origin})"))  # fmt: skip
    return problems


def _unknown_profile(session: Session, ref: str, error: SmartbuildError) -> str:
    """Return why a profile was not found, suggesting the site's and the shipped ones."""
    from smartbuild.profiles.loading import shipped_profiles
    from smartbuild.suggest import did_you_mean

    names = [p.stem for d in session.profile_dirs() for p in sorted(d.glob("*.y*ml"))]
    names += [p.stem for p in shipped_profiles()]
    if Path(ref).suffix or "/" in ref:
        return error.message
    return f"no site or shipped profile named {ref!r}.{did_you_mean(ref, names)}"


def poll_plan(
    devices: dict[str, Device], interval: float | None, per_device: dict[str, float]
) -> dict[tuple[str, str], float]:
    """Return the interval of every point the hub polls: the points with a role.

    ``interval`` 0 turns polling off; None keeps each point's (or its template's) own interval.
    """
    if interval == 0:
        return {}
    polls: dict[tuple[str, str], float] = {}
    for dev_id, device in devices.items():
        default = device.template.defaults.poll_interval
        for name, point in device.template.points.items():
            if point.role is None:
                continue
            seconds = per_device.get(dev_id) or interval or point.poll_interval or default
            polls[(dev_id, name)] = float(seconds)
    return polls
