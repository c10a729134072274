"""The trigger evaluator: pure state machines fed readings and clock times (no I/O, no clock).

- ``PointWatch``: a threshold with hysteresis and a ``for:`` duration. It fires once when the value
  has stayed beyond the threshold for the duration, then re-arms only when the value is back by the
  hysteresis. A value that falls back before the duration is over cancels the pending trigger.
- ``QuietWatch``: fires when no quiet stretch (value at most ``at_most`` for ``for``) lies within
  the last ``within`` seconds, once the point has been watched that long; it clears (and may fire
  again) after a quiet stretch. Quiet is known only at readings: a stretch runs from its first
  quiet reading to its last, so sparse readings never invent a quiet hour.
- ``next_time``: the next moment a time trigger fires after a given one, in the site's zone (DST
  aware). A hub that was down does not replay what it missed: it asks for the next one after now.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from smartbuild.profiles.schedule import site_time
from smartbuild.profiles.timespec import parse_days, parse_hhmm
from smartbuild.routines.schema import PointTrigger, QuietTrigger, TimeTrigger


@dataclass
class PointWatch:
    """One point against one threshold trigger: idle → pending → active → (re-armed) idle."""

    spec: PointTrigger
    state: str = "idle"  # idle, pending, active
    since: float | None = None  # pending: when the value crossed
    last: float | None = None  # last value seen

    def _on(self, value: float) -> bool:
        s = self.spec
        return value > s.above if s.above is not None else value < (s.below or 0.0)

    def _off(self, value: float) -> bool:
        s = self.spec
        if s.above is not None:
            return value <= s.above - s.hysteresis
        return value >= (s.below or 0.0) + s.hysteresis

    def feed(self, value: float, t: float) -> bool:
        """Take a reading at time t; return True when the trigger fires now."""
        self.last = value
        if self.state == "active":
            if self._off(value):
                self.state, self.since = "idle", None
            return False
        if not self._on(value):
            self.state, self.since = "idle", None
            return False
        if self.state == "idle":
            self.state, self.since = "pending", t
        return self.tick(t)

    def tick(self, t: float) -> bool:
        """Let time pass without a reading; return True when a pending trigger completes now."""
        if self.state == "pending" and self.since is not None and t - self.since >= self.spec.for_:
            self.state = "active"
            return True
        return False

    def snapshot(self) -> dict[str, object]:
        """Return the watch's state as JSON-ready data."""
        return {"state": self.state, "since": self.since, "value": self.last}


@dataclass
class QuietWatch:
    """One point against a no-quiet-stretch trigger (the water meter's leak rule)."""

    spec: QuietTrigger
    first: float | None = None  # first reading: nothing is judged before `within` has passed
    run_start: float | None = None  # first reading of the current quiet stretch
    last_quiet: float | None = None  # end of the latest quiet stretch of at least `for`
    active: bool = False
    last: float | None = None

    def feed(self, value: float, t: float) -> bool:
        """Take a reading at time t; return True when the trigger fires now."""
        self.last = value
        if self.first is None:
            self.first = t
        if value <= self.spec.at_most:
            if self.run_start is None:
                self.run_start = t
            if t - self.run_start >= self.spec.for_:
                self.last_quiet = t
        else:
            self.run_start = None
        return self.tick(t)

    def quiet_within(self, t: float) -> bool:
        """Return True when a quiet stretch of `for` lies inside the last `within` seconds."""
        s = self.spec
        return self.last_quiet is not None and self.last_quiet - s.for_ >= t - s.within

    def tick(self, t: float) -> bool:
        """Let time pass; return True when the missing quiet stretch is found now."""
        if self.first is None or t - self.first < self.spec.within:
            return False
        missing = not self.quiet_within(t)
        fired = missing and not self.active
        self.active = missing
        return fired

    def snapshot(self) -> dict[str, object]:
        """Return the watch's state as JSON-ready data."""
        return {"state": "active" if self.active else "idle", "last_quiet": self.last_quiet,
                "value": self.last}  # fmt: skip


def next_time(spec: TimeTrigger, after: dt.datetime, tz: dt.tzinfo) -> dt.datetime:
    """Return the first moment after ``after`` when the trigger fires (aware, site time).

    A clock time skipped by a DST jump fires at the same instant one hour later (02:30 → 03:30);
    a repeated one fires once, at its first occurrence.
    """
    days = parse_days(spec.days)
    minutes = parse_hhmm(spec.at)
    local = site_time(after, tz)
    for offset in range(9):
        day = local.date() + dt.timedelta(days=offset)
        if day.weekday() not in days:
            continue
        naive = dt.datetime.combine(day, dt.time(minutes // 60, minutes % 60))
        candidate = site_time(naive, tz)
        if candidate > local:
            return candidate
    raise ValueError(f"time trigger {spec.at} {spec.days} never fires")  # days is never empty
