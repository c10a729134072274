"""Evaluate a profile's schedule: which mode applies at a moment, in the site's local time."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from smartbuild.profiles.schedule_spec import ScheduleSpec
from smartbuild.profiles.timespec import format_hhmm, parse_days, parse_hhmm


@dataclass(frozen=True)
class ModeDecision:
    """The mode in force at a moment and why ("mon-fri 07:00-19:00", "default", ...)."""

    mode: str
    why: str
    source: str  # "exception" | "weekly" | "default"


def site_time(at: dt.datetime, tz: dt.tzinfo) -> dt.datetime:
    """Return at as an aware datetime in the site timezone.

    A naive time is read as site wall-clock time. A wall-clock time skipped by a DST jump
    (02:30 on the spring-forward day in Europe/Berlin) lands on the same instant one hour
    later (03:30); a repeated one (autumn) means its first occurrence.
    """
    if at.tzinfo is None:
        at = at.replace(tzinfo=tz, fold=0)
    # Round-tripping through UTC normalises wall times that do not exist.
    return at.astimezone(dt.timezone.utc).astimezone(tz)


@dataclass(frozen=True)
class _Span:
    start: int
    end: int
    mode: str
    why: str


class CompiledSchedule:
    """A schedule turned into per-weekday windows, for repeated evaluation."""

    def __init__(self, spec: ScheduleSpec) -> None:
        self.spec = spec
        self._days: list[list[_Span]] = [[] for _ in range(7)]
        for day_spec, windows in spec.weekly.items():
            days = parse_days(day_spec)
            for window in windows:
                start, end = parse_hhmm(window.start), parse_hhmm(window.end, allow_24=True)
                why = f"{day_spec} {format_hhmm(start)}-{format_hhmm(end)}"
                for day in days:
                    self._days[day].append(_Span(start, end, window.mode, why))

    def change_minutes(self, weekday: int) -> set[int]:
        """Return the minutes of a weekday at which the mode may change (midnight included)."""
        return {0, *(s.start for s in self._days[weekday]), *(s.end for s in self._days[weekday])}

    def mode_at(self, local: dt.datetime) -> ModeDecision:
        """Return the mode at a site-local datetime: exceptions, then weekly, then default."""
        day = local.date()
        # Later exceptions win over earlier ones, as later tariff zones do.
        for exception in reversed(self.spec.exceptions):
            if exception.first <= day <= exception.last:
                if exception.day is not None:
                    dates = exception.day.isoformat()
                else:
                    dates = f"{exception.first.isoformat()}..{exception.last.isoformat()}"
                name = f" {exception.name}" if exception.name else ""
                return ModeDecision(exception.mode, f"exception{name} {dates}", "exception")
        minute = local.hour * 60 + local.minute
        for span in self._days[local.weekday()]:
            if span.start <= minute < span.end:
                return ModeDecision(span.mode, span.why, "weekly")
        return ModeDecision(self.spec.default, "default", "default")


def mode_at(spec: ScheduleSpec, at: dt.datetime, tz: dt.tzinfo) -> ModeDecision:
    """Return the mode a schedule gives at a moment (naive times are site-local)."""
    return CompiledSchedule(spec).mode_at(site_time(at, tz))
