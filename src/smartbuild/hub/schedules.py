"""Schedules as people expect them: the state for "now", one timer to the next change, no replay.

At start (and after a reload or an override release) the hub computes each schedule's slot for
the present moment and applies it once. It then sleeps until the earliest next transition in the
site's timezone (wall times resolved through the zone database, so DST days are 23 or 25 hours)
and applies the slot that is current when it wakes. A hub that was stopped, suspended or blocked
past several transitions applies only the present slot: missed transitions are never replayed.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from smartbuild.hub.config import ScheduleEntry
    from smartbuild.hub.face import Clock

HORIZON_S = 8 * 86400.0  # a weekly schedule changes within a week; exceptions are days


@dataclass(frozen=True)
class Slot:
    """A schedule's state at a moment: its mode, why, and the next change (None: none ahead)."""

    mode: str
    why: str
    next_at: dt.datetime | None
    next_mode: str | None

    def to_json(self) -> dict[str, Any]:
        """Return the slot as JSON-ready data."""
        return {"mode": self.mode, "why": self.why,
                "next_at": self.next_at.isoformat() if self.next_at else None,
                "next_mode": self.next_mode}  # fmt: skip


def slot_at(entry: ScheduleEntry, local: dt.datetime) -> Slot:
    """Return the slot of a schedule at a site-local aware moment."""
    from smartbuild.profiles.optimal_start import next_change

    decision = entry.schedule.mode_at(local)
    change = next_change(entry.schedule, local, HORIZON_S)
    if change is None:
        return Slot(decision.mode, decision.why, None, None)
    return Slot(decision.mode, decision.why, change[0], change[1].mode)


def transitions_between(
    entry: ScheduleEntry, start: dt.datetime, end: dt.datetime
) -> list[tuple[dt.datetime, str]]:
    """Return every (moment, new mode) of a schedule in (start, end]: what a hub must apply."""
    out: list[tuple[dt.datetime, str]] = []
    moment = start
    while True:
        slot = slot_at(entry, moment)
        if slot.next_at is None or slot.next_at > end:
            return out
        assert slot.next_mode is not None
        out.append((slot.next_at, slot.next_mode))
        moment = slot.next_at


ALL = "all"


class Scheduler:
    """Keep each schedule's current slot applied; wake once per transition."""

    def __init__(self, clock: Clock, apply: Any) -> None:
        self.clock = clock
        self._apply = apply  # async (entry, slot, now, reason, only) -> None
        self.entries: list[ScheduleEntry] = []
        self.applied: dict[int, str] = {}  # entry index -> the mode applied
        self.slots: dict[int, Slot] = {}
        self.transitions: list[dict[str, Any]] = []  # the last transitions applied
        self.transition_count = 0
        self._wake = asyncio.Event()
        self._reason = "start"
        # a pending re-apply of the present slot: ALL points, or only these (device, point) pairs
        self._pending: str | set[tuple[str, str]] | None = None

    def configure(self, entries: list[ScheduleEntry], reason: str) -> None:
        """Run these schedules from now on; their present slot is applied once."""
        self.entries = list(entries)
        self.applied.clear()
        self.slots.clear()
        self.request(reason)

    def request(self, reason: str, points: set[tuple[str, str]] | None = None) -> None:
        """Apply the present slot again (to these (device, point) pairs only, when given)."""
        if points is None or self._pending == ALL:
            self._pending = ALL
        else:
            self._pending = {*(self._pending or ()), *points}
        self._reason = reason
        self._wake.set()

    def next_transition(self) -> dt.datetime | None:
        """Return the earliest next transition of all schedules."""
        moments = [s.next_at for s in self.slots.values() if s.next_at is not None]
        return min(moments) if moments else None

    async def run(self) -> None:
        """Apply present slots, then sleep to each next transition, until cancelled."""
        while True:
            now = self.clock.now()
            pending, self._pending = self._pending, None
            for entry in self.entries:
                slot = slot_at(entry, now)
                self.slots[entry.index] = slot
                previous = self.applied.get(entry.index)
                only = None
                if previous is not None and previous != slot.mode:
                    reason = f"transition {previous} -> {slot.mode} ({slot.why})"
                    self.transition_count += 1
                    self.transitions.append({"schedule": entry.index, "profile": entry.profile.profile,
                                             "mode": slot.mode, "at": now.isoformat(),
                                             "sim_time": self.clock.time()})  # fmt: skip
                    del self.transitions[:-50]
                elif previous is None or pending is not None:
                    reason = f"{self._reason}: slot {slot.mode} ({slot.why})"
                    only = None if previous is None or pending in (None, ALL) else pending
                else:
                    continue
                self.applied[entry.index] = slot.mode
                await self._apply(entry, slot, now, reason, only)
            target = self.next_transition()
            wait_s = HORIZON_S if target is None else target.timestamp() - self.clock.time()
            if self._pending is not None:
                continue  # asked again while applying
            self._wake.clear()
            # never early: an early wake sees the old slot, recomputes the same target, sleeps again
            timeout = self.clock.real_seconds(max(0.0, wait_s)) + 0.0005
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
