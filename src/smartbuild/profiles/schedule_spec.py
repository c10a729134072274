"""Schedule part of the profile schema: weekly windows, default mode, dated exceptions."""

from __future__ import annotations

import datetime as dt

from pydantic import Field, field_validator, model_validator

from smartbuild.profiles.timespec import DAYS, format_hhmm, parse_days, parse_hhmm
from smartbuild.profiles.validation import (
    ClockWindow,
    Closed,
    Errors,
    Loc,
    check_order,
    custom_error,
)


class Window(ClockWindow):
    """One scheduled window on some weekdays: [from, to) in local time, with its mode."""

    start: str = Field(alias="from")
    end: str = Field(alias="to")
    mode: str

    @model_validator(mode="after")
    def _order(self) -> Window:
        check_order(self.start, self.end, "Window")
        return self


class ExceptionSpec(Closed):
    """A whole-day override of the weekly schedule: one date, or an inclusive date range."""

    day: dt.date | None = Field(None, alias="date")
    start: dt.date | None = Field(None, alias="from")
    end: dt.date | None = Field(None, alias="to")
    mode: str
    name: str | None = None

    @model_validator(mode="after")
    def _dates(self) -> ExceptionSpec:
        if (self.day is None) == (self.start is None and self.end is None):
            raise custom_error("exception_dates", "give either date: YYYY-MM-DD or from: and to:")
        if self.day is None and (self.start is None or self.end is None):
            raise custom_error("exception_dates", "a date range needs both from: and to:")
        if self.start is not None and self.end is not None and self.end < self.start:
            errors = Errors()
            message = f"range ends {self.end} before it starts {self.start}"
            errors.add(("to",), "inverted_range", message, str(self.end))
            errors.raise_if_any("ExceptionSpec")
        return self

    @property
    def first(self) -> dt.date:
        """Return the first day the exception covers."""
        return self.day or self.start  # type: ignore[return-value]

    @property
    def last(self) -> dt.date:
        """Return the last day the exception covers (inclusive)."""
        return self.day or self.end  # type: ignore[return-value]


_Span = tuple[int, int, str, int]  # start, end, day spec, index in that spec


def _with_furthest_before(spans: list[_Span]) -> list[tuple[_Span, _Span]]:
    pairs: list[tuple[_Span, _Span]] = []
    if not spans:
        return pairs
    furthest = spans[0]
    for span in spans[1:]:
        pairs.append((furthest, span))
        if span[1] > furthest[1]:
            furthest = span
    return pairs


class ScheduleSpec(Closed):
    """Weekly windows per day spec, a default mode, and dated exceptions (which win)."""

    weekly: dict[str, tuple[Window, ...]] = Field(default_factory=dict)
    default: str
    exceptions: tuple[ExceptionSpec, ...] = ()

    @field_validator("weekly")
    @classmethod
    def _no_overlap(cls, weekly: dict[str, tuple[Window, ...]]) -> dict[str, tuple[Window, ...]]:
        errors = Errors()
        per_day: dict[int, list[_Span]] = {d: [] for d in range(7)}
        for spec, windows in weekly.items():
            try:
                days = parse_days(spec)
            except ValueError as exc:
                errors.add((spec,), "day_spec", str(exc), spec)
                continue
            for index, window in enumerate(windows):
                start, end = parse_hhmm(window.start), parse_hhmm(window.end, allow_24=True)
                for day in days:
                    per_day[day].append((start, end, spec, index))
        reported: set[tuple[str, int, str, int]] = set()
        for day, spans in per_day.items():
            spans.sort()
            # Compare each window with the one reaching furthest so far: that finds every
            # window that starts inside an earlier one, not only neighbours.
            for (s1, e1, spec1, i1), (s2, e2, spec2, i2) in _with_furthest_before(spans):
                if s2 < e1 and (spec1, i1, spec2, i2) not in reported:
                    reported.add((spec1, i1, spec2, i2))
                    message = (
                        f"window {format_hhmm(s2)}-{format_hhmm(e2)} overlaps '{spec1}' window "
                        f"{format_hhmm(s1)}-{format_hhmm(e1)} on {DAYS[day]}"
                    )
                    errors.add((spec2, i2), "overlap", message, spec2)
        errors.raise_if_any("ScheduleSpec")
        return weekly

    def mode_names(self) -> list[tuple[Loc, str]]:
        """Return every mode the schedule names, with where it names it."""
        named: list[tuple[Loc, str]] = [(("default",), self.default)]
        for spec, windows in self.weekly.items():
            named += [(("weekly", spec, i, "mode"), w.mode) for i, w in enumerate(windows)]
        named += [(("exceptions", i, "mode"), e.mode) for i, e in enumerate(self.exceptions)]
        return named
