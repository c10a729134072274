"""Tests of the clock-time, day-spec and month-day notations."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smartbuild.profiles.timespec import (
    format_days,
    format_hhmm,
    in_month_day_range,
    parse_days,
    parse_hhmm,
    parse_month_day,
)


@pytest.mark.parametrize(
    ("text", "minutes"), [("00:00", 0), ("07:00", 420), ("19:30", 1170), ("23:59", 1439)]
)
def test_parse_hhmm(text: str, minutes: int) -> None:
    assert parse_hhmm(text) == minutes


def test_24_00_only_as_an_end() -> None:
    assert parse_hhmm("24:00", allow_24=True) == 1440
    with pytest.raises(ValueError, match="only allowed as the end"):
        parse_hhmm("24:00")


@pytest.mark.parametrize("text", ["7:00", "07:60", "25:00", "24:01", "0700", "", "07:00:00"])
def test_not_hhmm(text: str) -> None:
    with pytest.raises(ValueError):
        parse_hhmm(text, allow_24=True)


def test_unquoted_yaml_time_gets_a_quoting_hint() -> None:
    with pytest.raises(
        ValueError, match=r'YAML reads an unquoted 19:00 as the number 1140.*"19:00"'
    ):
        parse_hhmm(1140)


@given(st.integers(min_value=0, max_value=1440))
def test_hhmm_round_trip(minutes: int) -> None:
    assert parse_hhmm(format_hhmm(minutes), allow_24=True) == minutes


@pytest.mark.parametrize(
    ("spec", "days"),
    [
        ("mon-fri", {0, 1, 2, 3, 4}),
        ("sat", {5}),
        ("sun", {6}),
        ("mon,wed", {0, 2}),
        ("daily", set(range(7))),
        ("fri-mon", {4, 5, 6, 0}),
        ("Sat, Sun", {5, 6}),
        ("monday-wednesday", {0, 1, 2}),
    ],
)
def test_parse_days(spec: str, days: set[int]) -> None:
    assert parse_days(spec) == frozenset(days)


def test_unknown_day_suggests() -> None:
    with pytest.raises(ValueError, match=r"unknown day 'thurs'.*Did you mean 'thu"):
        parse_days("mon-thurs")


@given(st.frozensets(st.integers(min_value=0, max_value=6), min_size=1))
def test_days_round_trip(days: frozenset[int]) -> None:
    assert parse_days(format_days(days)) == days


def test_month_day_ranges_wrap_over_new_year() -> None:
    heating = parse_month_day("10-01"), parse_month_day("04-30")
    assert in_month_day_range(dt.date(2026, 1, 15), *heating)
    assert in_month_day_range(dt.date(2026, 10, 1), *heating)
    assert in_month_day_range(dt.date(2026, 4, 30), *heating)
    assert not in_month_day_range(dt.date(2026, 5, 1), *heating)
    assert not in_month_day_range(dt.date(2026, 9, 30), *heating)


@pytest.mark.parametrize("text", ["02-30", "13-01", "1-1", "October"])
def test_bad_month_day(text: str) -> None:
    with pytest.raises(ValueError):
        parse_month_day(text)


def test_leap_day_is_a_month_day() -> None:
    assert parse_month_day("02-29") == (2, 29)
