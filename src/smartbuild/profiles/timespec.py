"""Parse the time notations of profiles: "HH:MM" clock times, day specs and "MM-DD" dates."""

from __future__ import annotations

import datetime as dt
import re

from smartbuild.suggest import did_you_mean

DAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MINUTES_PER_DAY = 24 * 60
ALL_DAYS: frozenset[int] = frozenset(range(7))

_HHMM = re.compile(r"(\d{2}):(\d{2})")
_MMDD = re.compile(r"(\d{2})-(\d{2})")


def parse_hhmm(value: object, *, allow_24: bool = False) -> int:
    """Return minutes after midnight for an "HH:MM" string, or raise ValueError."""
    if isinstance(value, int) and not isinstance(value, bool) and 600 <= value <= MINUTES_PER_DAY:
        # YAML 1.1 reads an unquoted 19:00 as the base-60 integer 1140.
        hint = f"{value // 60:02d}:{value % 60:02d}"
        raise ValueError(
            f"time {value} is not 'HH:MM': YAML reads an unquoted {hint} as the number "
            f'{value}; write it in quotes: "{hint}"'
        )
    if not isinstance(value, str):
        raise ValueError(f"time {value!r} is not 'HH:MM' (e.g. \"07:00\")")
    match = _HHMM.fullmatch(value.strip())
    if not match:
        raise ValueError(f"time '{value}' is not 'HH:MM' (e.g. \"07:00\")")
    hours, minutes = int(match[1]), int(match[2])
    if hours == 24 and minutes == 0:
        if allow_24:
            return MINUTES_PER_DAY
        raise ValueError("time '24:00' is only allowed as the end of a window ('to')")
    if hours > 23 or minutes > 59:
        raise ValueError(f"time '{value}' is out of range 00:00-23:59")
    return hours * 60 + minutes


def format_hhmm(minutes: int) -> str:
    """Return minutes after midnight as "HH:MM" (1440 → "24:00")."""
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


_FULL_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _day(name: str, spec: str) -> int:
    if name in DAYS:
        return DAYS.index(name)
    if name in _FULL_NAMES:
        return _FULL_NAMES.index(name)
    words = (*DAYS, *_FULL_NAMES, "daily")
    raise ValueError(
        f"unknown day '{name}' in '{spec}'.{did_you_mean(name, words)}"
        " Days are mon..sun, ranges like mon-fri, lists like mon,wed, or daily"
    )


def parse_days(spec: object) -> frozenset[int]:
    """Return weekday numbers (0 = Monday) for "mon-fri", "sat", "mon,wed" or "daily"."""
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"day spec {spec!r} is not text like 'mon-fri', 'sat' or 'daily'")
    days: set[int] = set()
    for raw in spec.lower().split(","):
        token = raw.strip()
        if token == "daily":
            days.update(ALL_DAYS)
        elif "-" in token:
            first, _, last = (part.strip() for part in token.partition("-"))
            start, end = _day(first, spec), _day(last, spec)
            # A range may wrap over the weekend: fri-mon is fri, sat, sun, mon.
            days.update((start + i) % 7 for i in range((end - start) % 7 + 1))
        else:
            days.add(_day(token, spec))
    return frozenset(days)


def format_days(days: frozenset[int]) -> str:
    """Return a short text for a set of weekdays ("mon-fri", "sat,sun", "daily")."""
    if days == ALL_DAYS:
        return "daily"
    ordered = sorted(days)
    if len(ordered) > 2 and ordered == list(range(ordered[0], ordered[-1] + 1)):
        return f"{DAYS[ordered[0]]}-{DAYS[ordered[-1]]}"
    return ",".join(DAYS[d] for d in ordered)


def parse_month_day(value: object) -> tuple[int, int]:
    """Return (month, day) for an "MM-DD" string, or raise ValueError."""
    match = _MMDD.fullmatch(value.strip()) if isinstance(value, str) else None
    if not match:
        raise ValueError(f"date {value!r} is not 'MM-DD' (e.g. \"10-01\")")
    month, day = int(match[1]), int(match[2])
    try:
        dt.date(2000, month, day)  # a leap year, so 02-29 is accepted
    except ValueError:
        raise ValueError(f"date '{value}' does not exist") from None
    return month, day


def in_month_day_range(day: dt.date, start: tuple[int, int], end: tuple[int, int]) -> bool:
    """Return whether day falls in the inclusive MM-DD range, which may wrap over new year."""
    md = (day.month, day.day)
    if start <= end:
        return start <= md <= end
    return md >= start or md <= end
