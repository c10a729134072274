"""Schedule evaluation: windows, midnight and 24:00, exceptions, DST in Europe/Berlin."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest

from smartbuild.profiles.schedule import CompiledSchedule, mode_at, site_time
from smartbuild.profiles.schedule_spec import ScheduleSpec

BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
UTC = dt.timezone.utc

SPEC = ScheduleSpec.model_validate(
    {
        "weekly": {
            "mon-fri": [{"from": "07:00", "to": "19:00", "mode": "occupied"}],
            "fri": [{"from": "22:00", "to": "24:00", "mode": "party"}],
            "sat": [{"from": "00:00", "to": "02:00", "mode": "party"}],
            "sun": [{"from": "02:00", "to": "04:00", "mode": "night-shift"}],
        },
        "default": "unoccupied",
        "exceptions": [
            {"date": "2026-12-25", "mode": "holiday", "name": "Christmas"},
            {"from": "2026-12-24", "to": "2027-01-01", "mode": "closed"},
            {"date": "2026-12-31", "mode": "party"},
        ],
    }
)
SCHEDULE = CompiledSchedule(SPEC)


def local(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=BERLIN)


@pytest.mark.parametrize(
    ("moment", "mode"),
    [
        (local(2026, 3, 2, 6, 59), "unoccupied"),  # Monday
        (local(2026, 3, 2, 7, 0), "occupied"),  # start is inclusive
        (local(2026, 3, 2, 18, 59), "occupied"),
        (local(2026, 3, 2, 19, 0), "unoccupied"),  # end is exclusive
        (local(2026, 3, 6, 23, 59), "party"),  # Friday window up to 24:00
        (local(2026, 3, 7, 0, 0), "party"),  # Saturday 00:00 belongs to Saturday's window
        (local(2026, 3, 7, 2, 0), "unoccupied"),
        (local(2026, 3, 7, 12, 0), "unoccupied"),  # no Saturday daytime window
    ],
)
def test_weekly_windows_and_midnight(moment: dt.datetime, mode: str) -> None:
    assert SCHEDULE.mode_at(moment).mode == mode


def test_reason_names_the_window() -> None:
    decision = SCHEDULE.mode_at(local(2026, 3, 2, 10, 0))
    assert (decision.why, decision.source) == ("mon-fri 07:00-19:00", "weekly")
    assert SCHEDULE.mode_at(local(2026, 3, 2, 20, 0)).why == "default"


def test_exceptions_override_weekly_and_later_ones_win() -> None:
    thursday = local(2026, 12, 24, 10, 0)
    assert SCHEDULE.mode_at(thursday).mode == "closed"
    assert SCHEDULE.mode_at(thursday).why == "exception 2026-12-24..2027-01-01"
    # 25 December is in the range too, but the range comes later in the list: it wins.
    assert SCHEDULE.mode_at(local(2026, 12, 25, 10, 0)).mode == "closed"
    assert SCHEDULE.mode_at(local(2026, 12, 31, 10, 0)).mode == "party"
    assert SCHEDULE.mode_at(local(2027, 1, 1, 23, 59)).mode == "closed"  # inclusive end
    assert SCHEDULE.mode_at(local(2027, 1, 4, 10, 0)).mode == "occupied"


def test_a_single_date_exception_has_its_name() -> None:
    spec = ScheduleSpec.model_validate(
        {"default": "on", "exceptions": [{"date": "2026-12-25", "mode": "off", "name": "Xmas"}]}
    )
    decision = CompiledSchedule(spec).mode_at(local(2026, 12, 25, 0, 0))
    assert (decision.mode, decision.why, decision.source) == (
        "off",
        "exception Xmas 2026-12-25",
        "exception",
    )


def test_aware_times_are_converted_to_site_time() -> None:
    # 06:30 UTC is 07:30 in Berlin in winter (CET) and 08:30 in summer (CEST).
    assert mode_at(SPEC, dt.datetime(2026, 3, 2, 6, 30, tzinfo=UTC), BERLIN).mode == "occupied"
    assert mode_at(SPEC, dt.datetime(2026, 3, 2, 5, 30, tzinfo=UTC), BERLIN).mode == "unoccupied"


def test_dst_spring_forward_shifts_the_utc_start() -> None:
    # Clocks go 02:00 CET -> 03:00 CEST on Sunday 29 March 2026; Monday 07:00 CEST = 05:00 UTC.
    friday_before = dt.datetime(2026, 3, 27, 5, 30, tzinfo=UTC)  # 06:30 CET
    monday_after = dt.datetime(2026, 3, 30, 5, 30, tzinfo=UTC)  # 07:30 CEST
    assert mode_at(SPEC, friday_before, BERLIN).mode == "unoccupied"
    assert mode_at(SPEC, monday_after, BERLIN).mode == "occupied"


def test_dst_gap_on_the_spring_forward_night() -> None:
    # 02:00-03:00 does not exist on 29 March 2026: the Sunday window 02:00-04:00 starts at 03:00.
    # 00:59 UTC is 01:59 CET; one minute later it is 03:00 CEST.
    assert mode_at(SPEC, dt.datetime(2026, 3, 29, 0, 59, tzinfo=UTC), BERLIN).mode == "unoccupied"
    assert mode_at(SPEC, dt.datetime(2026, 3, 29, 1, 0, tzinfo=UTC), BERLIN).mode == "night-shift"
    # The window ends at 04:00 CEST = 02:00 UTC: it lasted one real hour that night.
    assert mode_at(SPEC, dt.datetime(2026, 3, 29, 2, 0, tzinfo=UTC), BERLIN).mode == "unoccupied"
    # A naive wall time inside the gap means the same instant, one hour later on the clock.
    skipped = site_time(dt.datetime(2026, 3, 29, 2, 30), BERLIN)
    assert (skipped.hour, skipped.minute, skipped.utcoffset()) == (3, 30, dt.timedelta(hours=2))
    assert mode_at(SPEC, dt.datetime(2026, 3, 29, 2, 30), BERLIN).mode == "night-shift"


def test_dst_fall_back_repeats_an_hour_inside_the_window() -> None:
    # 25 October 2026: 03:00 CEST -> 02:00 CET, so 02:00-03:00 happens twice; both are in
    # the Sunday 02:00-04:00 window, which therefore lasts three real hours.
    inside = [dt.datetime(2026, 10, 25, h, 30, tzinfo=UTC) for h in (0, 1, 2)]
    assert [mode_at(SPEC, t, BERLIN).mode for t in inside] == ["night-shift"] * 3
    assert mode_at(SPEC, dt.datetime(2026, 10, 25, 3, 0, tzinfo=UTC), BERLIN).mode == "unoccupied"
    first = site_time(dt.datetime(2026, 10, 25, 2, 30), BERLIN)
    assert first.utcoffset() == dt.timedelta(hours=2)  # a naive repeated time means the first


def test_naive_times_are_site_wall_clock() -> None:
    naive = dt.datetime(2026, 7, 1, 7, 0)
    aware = site_time(naive, BERLIN)
    assert aware.tzinfo is BERLIN and aware.hour == 7
    assert aware.astimezone(UTC).hour == 5
