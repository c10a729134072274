"""Which points a routine's targets name, and the checks a routine needs against a site (pure)."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from smartbuild.profiles.validation import Loc
from smartbuild.routines.schema import Routine, Target
from smartbuild.suggest import did_you_mean


@dataclass(frozen=True)
class PointInfo:
    """One point of the site as routines see it."""

    device: str
    point: str
    role: str | None
    zone: str | None
    writable: bool
    enum: tuple[str, ...] = ()  # labels a write may name


def resolve(
    target: Target, points: Sequence[PointInfo], zone: str | None = None
) -> list[PointInfo]:
    """Return the points a target names; for a role, those in ``zone`` when it has any."""
    if target.point is not None:
        device, name = target.point.split(".", 1)
        return [p for p in points if p.device == device and p.point == name]
    found = [p for p in points if p.role == target.role]
    if target.zones is not None:
        found = [
            p for p in found if p.zone and any(fnmatch.fnmatch(p.zone, z) for z in target.zones)
        ]
    if zone is not None:
        here = [p for p in found if p.zone == zone]
        if here:
            return here
    return found


def _targets(routine: Routine) -> Iterator[tuple[Loc, Target, bool]]:
    """Yield every target of a routine with its location and whether it is written."""
    for i, t in enumerate(routine.triggers):
        for key in ("point", "no_quiet"):
            target = getattr(t, key)
            if target is not None:
                yield ("triggers", i, key), target, False
    for i, c in enumerate(routine.conditions):
        if c.point is not None:
            yield ("conditions", i, "point"), c.point, False
    for i, s in enumerate(routine.steps):
        for key in ("write", "hold", "read"):
            target = getattr(s, key)
            if target is not None:
                yield ("steps", i, key), target, key != "read"


def check_routine(
    routine: Routine, points: Sequence[PointInfo], zones: Sequence[str], profiles: Sequence[str]
) -> list[tuple[Loc, str]]:
    """Return what in a routine the site cannot serve: (location inside the routine, message)."""
    problems: list[tuple[Loc, str]] = []
    devices = sorted({p.device for p in points})
    for loc, target, written in _targets(routine):
        if target.point is not None:
            device, name = target.point.split(".", 1)
            if device not in devices:
                problems.append(((*loc, "point"), f"unknown device {device!r}."
                                 f"{did_you_mean(device, devices)}"))  # fmt: skip
                continue
            names = [p.point for p in points if p.device == device]
            if name not in names:
                problems.append(((*loc, "point"), f"device {device!r} has no point {name!r}."
                                 f"{did_you_mean(name, names)}"))  # fmt: skip
                continue
        for pattern in target.zones or ():
            if not fnmatch.filter(zones, pattern):
                problems.append(((*loc, "zones"), f"no zone matches {pattern!r}."
                                 f"{did_you_mean(pattern, zones)}"))  # fmt: skip
        found = resolve(target, points)
        if not found and target.role is not None and not getattr(target, "if_present", False):
            problems.append(((*loc, "role"), f"no point of the site has role {target.role!r}"))
        if written:
            for p in found:
                if not p.writable:
                    key = "point" if target.point else "role"
                    problems.append(((*loc, key), f"{p.device}.{p.point} is read-only"))
                    break
    for i, s in enumerate(routine.steps):
        if s.apply is not None and s.apply.profile not in profiles:
            problems.append(((
                "steps", i, "apply", "profile"), f"unknown profile {s.apply.profile!r}."
                f"{did_you_mean(s.apply.profile, profiles)}"))  # fmt: skip
    for i, c in enumerate(routine.conditions):
        if c.mode is not None and c.mode.profile not in profiles:
            problems.append((("conditions", i, "mode", "profile"),
                             f"unknown profile {c.mode.profile!r}."
                             f"{did_you_mean(c.mode.profile, profiles)}"))  # fmt: skip
    return problems
