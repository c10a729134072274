"""Evaluate a routine's conditions at a moment, given the values of the points they name (pure)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from smartbuild.profiles.schedule import mode_at
from smartbuild.profiles.schedule_spec import ScheduleSpec
from smartbuild.profiles.timespec import parse_days, parse_hhmm
from smartbuild.routines.schema import ConditionSpec, ModeCondition, PointCondition, TimeWindow


def window_holds(window: TimeWindow, now: dt.datetime) -> tuple[bool, str]:
    """Return whether site time ``now`` is inside the window, and why."""
    minutes = now.hour * 60 + now.minute
    inside = now.weekday() in parse_days(window.days) and (
        parse_hhmm(window.start) <= minutes < parse_hhmm(window.end, allow_24=True)
    )
    return inside, f"{now:%a %H:%M} is {'' if inside else 'not '}inside"


def mode_holds(cond: ModeCondition, schedule: ScheduleSpec, now: dt.datetime) -> tuple[bool, str]:
    """Return whether the profile's schedule mode now is one of those named, and why."""
    assert now.tzinfo is not None
    decision = mode_at(schedule, now, now.tzinfo)
    ok = decision.mode in cond.is_
    return ok, f"mode is {decision.mode} ({decision.why})"


def point_holds(cond: PointCondition, values: Sequence[float | None]) -> tuple[bool, str]:
    """Return whether any (or all) of the values pass the threshold; unknown values never do."""
    known = [v for v in values if v is not None]
    if not known:
        return False, "no value could be read"

    def passes(v: float) -> bool:
        return v > cond.above if cond.above is not None else v < (cond.below or 0.0)

    hits = [v for v in known if passes(v)]
    ok = bool(hits) if cond.match == "any" else len(hits) == len(values)
    shown = ", ".join(f"{v:g}" for v in known[:5]) + (" …" if len(known) > 5 else "")
    return ok, f"values {shown}"


def describe(cond: ConditionSpec) -> str:
    """Return a condition in a few words."""
    if cond.time is not None:
        return f"time {cond.time.start}-{cond.time.end} {cond.time.days}"
    if cond.mode is not None:
        return f"mode of {cond.mode.profile} is {' or '.join(cond.mode.is_)}"
    assert cond.point is not None
    p = cond.point
    side = f"above {p.above:g}" if p.above is not None else f"below {p.below:g}"
    return f"{p.match} {p.label()} {side}"
