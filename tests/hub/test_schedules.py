"""Schedules on simulated time: slots, DST, one transition per change, no replay after a stall."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from smartbuild.hub.config import ScheduleEntry
from smartbuild.hub.face import Clock
from smartbuild.hub.schedules import Scheduler, slot_at, transitions_between
from smartbuild.profiles.schedule import CompiledSchedule
from smartbuild.profiles.schema import load_profile_text

BERLIN = ZoneInfo("Europe/Berlin")
PROFILE = """\
profile: early
applies_to: {tags: [office]}
modes:
  day: {heating_setpoint: 21}
  night: {heating_setpoint: 16}
schedule:
  weekly:
    mon-sun: [{from: "02:30", to: "19:00", mode: day}]
  default: night
"""


def entry(text: str = PROFILE) -> ScheduleEntry:
    profile = load_profile_text(text)
    return ScheduleEntry(0, profile.profile, profile, Path("early.yaml"),
                         CompiledSchedule(profile.schedule), [], ["z01"])  # fmt: skip


def test_slot_for_now_and_the_next_change() -> None:
    slot = slot_at(entry(), dt.datetime(2026, 1, 15, 1, 0, tzinfo=BERLIN))
    assert (slot.mode, slot.next_mode) == ("night", "day")
    assert slot.next_at == dt.datetime(2026, 1, 15, 2, 30, tzinfo=BERLIN)


def test_transitions_on_dst_days_follow_the_wall_clock() -> None:
    # 29 March 2026: 02:00 CET jumps to 03:00 CEST; 02:30 does not exist and means 03:30 CEST
    spring = transitions_between(entry(), dt.datetime(2026, 3, 28, 20, 0, tzinfo=BERLIN),
                                 dt.datetime(2026, 3, 29, 20, 0, tzinfo=BERLIN))  # fmt: skip
    assert [(t.isoformat(), m) for t, m in spring] == [
        ("2026-03-29T03:30:00+02:00", "day"),
        ("2026-03-29T19:00:00+02:00", "night"),
    ]
    # 25 October 2026: 03:00 CEST goes back to 02:00 CET; 02:30 is its first occurrence
    autumn = transitions_between(entry(), dt.datetime(2026, 10, 24, 20, 0, tzinfo=BERLIN),
                                 dt.datetime(2026, 10, 25, 20, 0, tzinfo=BERLIN))  # fmt: skip
    assert [t.isoformat() for t, _ in autumn] == [
        "2026-10-25T02:30:00+02:00",
        "2026-10-25T19:00:00+01:00",
    ]
    # the timer sleeps real seconds: 17.5 h that day (aware datetimes in one zone subtract as
    # wall times, so compare instants)
    assert autumn[1][0].timestamp() - autumn[0][0].timestamp() == 17.5 * 3600


async def run_scheduler(clock: Clock, seconds: float, stall: float = 0.0) -> list[tuple[str, str]]:
    applied: list[tuple[str, str]] = []

    async def apply(e: Any, slot: Any, now: dt.datetime, reason: str, only: Any) -> None:
        applied.append((now.strftime("%a %H:%M"), reason))

    scheduler = Scheduler(clock, apply)
    scheduler.configure([entry()], "start")
    task = asyncio.ensure_future(scheduler.run())
    await asyncio.sleep(0.05)
    if stall:
        time.sleep(stall)  # the loop is blocked (a suspended machine, a stuck call)
    await asyncio.sleep(seconds)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return applied


async def test_two_days_in_seconds_apply_each_transition_once() -> None:
    clock = Clock(dt.datetime(2026, 1, 15, 0, 0, tzinfo=BERLIN), 86400 / 2.0, tz=BERLIN)
    applied = await run_scheduler(clock, 3.0)  # a day in 2 s: 15 Jan 00:00 to 16 Jan ~12:00
    # at 43,200x a millisecond of the loop is 43 simulated seconds: on time within ten minutes
    assert [(t[:-1], reason) for t, reason in applied] == [
        ("Thu 00:0", "start: slot night (default)"),
        ("Thu 02:3", "transition night -> day (mon-sun 02:30-19:00)"),
        ("Thu 19:0", "transition day -> night (default)"),
        ("Fri 02:3", "transition night -> day (mon-sun 02:30-19:00)"),
    ]  # each once


async def test_a_stall_past_transitions_applies_the_present_slot_only() -> None:
    clock = Clock(dt.datetime(2026, 1, 15, 0, 0, tzinfo=BERLIN), 3600 * 20, tz=BERLIN)
    # blocked for 1.2 s = 24 simulated hours: 02:30 and 19:00 pass unseen; it wakes at ~00:15
    # on the 16th (night, as applied at start), then 02:30 comes as one transition
    applied = await run_scheduler(clock, 0.3, stall=1.2)
    assert [r for _, r in applied] == [
        "start: slot night (default)",
        "transition night -> day (mon-sun 02:30-19:00)",
    ]


async def test_a_reapply_can_be_narrowed_to_points() -> None:
    clock = Clock(dt.datetime(2026, 1, 15, 12, 0, tzinfo=BERLIN), 1.0, tz=BERLIN)
    calls: list[Any] = []

    async def apply(e: Any, slot: Any, now: Any, reason: str, only: Any) -> None:
        calls.append((reason, only))

    scheduler = Scheduler(clock, apply)
    scheduler.configure([entry()], "start")
    task = asyncio.ensure_future(scheduler.run())
    await asyncio.sleep(0.05)
    scheduler.request("after release of abc", {("th-z01", "heating_setpoint")})
    await asyncio.sleep(0.05)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert calls == [
        ("start: slot day (mon-sun 02:30-19:00)", None),
        ("after release of abc: slot day (mon-sun 02:30-19:00)", {("th-z01", "heating_setpoint")}),
    ]
