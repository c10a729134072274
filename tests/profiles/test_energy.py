"""Tariff prices, pre-heating before price rises, and peak shedding decisions."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest

from smartbuild.profiles.energy import preheat_at, price_at, shed_at
from smartbuild.profiles.energy_spec import EnergySpec, Tariff

BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")

TARIFF = Tariff.model_validate(
    {
        "default": 0.18,
        "currency": "EUR",
        "zones": [
            {"days": "mon-fri", "from": "16:00", "to": "21:00", "price": 0.42},
            {"days": "daily", "from": "00:00", "to": "06:00", "price": 0.12},
            {"days": "fri", "from": "18:00", "to": "24:00", "price": 0.30},  # overlaps zone 0
        ],
    }
)


def local(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=BERLIN)


@pytest.mark.parametrize(
    ("moment", "price", "why"),
    [
        (local(2026, 3, 2, 12, 0), 0.18, "default"),  # Monday noon
        (local(2026, 3, 2, 16, 0), 0.42, "zone 0 mon-fri 16:00-21:00"),
        (local(2026, 3, 2, 20, 59), 0.42, "zone 0 mon-fri 16:00-21:00"),
        (local(2026, 3, 2, 21, 0), 0.18, "default"),
        (local(2026, 3, 7, 3, 0), 0.12, "zone 1 daily 00:00-06:00"),  # Saturday night
        (local(2026, 3, 6, 17, 0), 0.42, "zone 0 mon-fri 16:00-21:00"),  # Friday, before overlap
        (local(2026, 3, 6, 18, 0), 0.30, "zone 2 fri 18:00-24:00"),  # overlap: last wins
        (local(2026, 3, 6, 23, 59), 0.30, "zone 2 fri 18:00-24:00"),
        (local(2026, 3, 7, 18, 0), 0.18, "default"),  # Saturday
    ],
)
def test_price_at(moment: dt.datetime, price: float, why: str) -> None:
    result = price_at(TARIFF, moment)
    assert (result.price, result.why) == (price, why)
    assert result.text() == f"{price:g} EUR"


def energy(**preheat: object) -> EnergySpec:
    spec = {"minutes": 60, "before_price_above": 0.3, "offset": 1}
    spec.update(preheat)
    return EnergySpec.model_validate({"tariff": TARIFF.model_dump(by_alias=True), "preheat": spec})


def test_preheat_starts_within_the_window_before_a_price_rise() -> None:
    spec = energy()
    assert preheat_at(spec, local(2026, 3, 2, 14, 59)) is None  # 61 minutes ahead
    decision = preheat_at(spec, local(2026, 3, 2, 15, 0))  # exactly 60 minutes ahead
    assert decision is not None
    assert (decision.rise, decision.minutes_ahead, decision.price.price) == (
        local(2026, 3, 2, 16, 0),
        60,
        0.42,
    )
    assert decision.why() == "preheat +1: price 0.42 EUR > 0.3 from 16:00 (in 60 min)"
    assert preheat_at(spec, local(2026, 3, 2, 15, 45)).minutes_ahead == 15  # type: ignore[union-attr]


def test_no_preheat_once_the_price_is_high_or_when_it_does_not_rise_enough() -> None:
    assert preheat_at(energy(), local(2026, 3, 2, 16, 30)) is None
    assert preheat_at(energy(before_price_above=0.5), local(2026, 3, 2, 15, 30)) is None
    # Saturday: no weekday peak, so nothing to pre-heat for.
    assert preheat_at(energy(), local(2026, 3, 7, 15, 30)) is None


def test_preheat_sees_a_rise_after_midnight() -> None:
    night = Tariff.model_validate(
        {"default": 0.2, "zones": [{"days": "sat", "from": "00:00", "to": "02:00", "price": 0.5}]}
    )
    spec = EnergySpec.model_validate(
        {
            "tariff": night.model_dump(by_alias=True),
            "preheat": {"minutes": 90, "before_price_above": 0.3, "offset": 1},
        }
    )
    decision = preheat_at(spec, local(2026, 3, 6, 23, 0))  # Friday 23:00
    assert decision is not None
    assert (decision.rise, decision.minutes_ahead) == (local(2026, 3, 7, 0, 0), 60)


def test_preheat_counts_real_minutes_across_the_dst_jump() -> None:
    # Sunday 29 March 2026, 01:30 CET: 03:00 CEST is only 30 real minutes away.
    tariff = Tariff.model_validate(
        {"default": 0.2, "zones": [{"days": "sun", "from": "03:00", "to": "05:00", "price": 0.5}]}
    )
    spec = EnergySpec.model_validate(
        {
            "tariff": tariff.model_dump(by_alias=True),
            "preheat": {"minutes": 45, "before_price_above": 0.3, "offset": 1},
        }
    )
    decision = preheat_at(spec, local(2026, 3, 29, 1, 30))
    assert decision is not None
    assert decision.minutes_ahead == 30
    assert decision.rise.utcoffset() == dt.timedelta(hours=2)


def shed_spec(**extra: object) -> EnergySpec:
    return EnergySpec.model_validate(
        {
            "peak_limit_kw": 40,
            "shed": [
                {"role": "ev_charger_current_limit", "to": 6},
                {"role": "cooling_setpoint", "offset": 1},
            ],
            **extra,
        }
    )


def test_shed_all_steps_in_order_above_the_limit() -> None:
    decision = shed_at(shed_spec(), 40.1)
    assert decision.state == "shed"
    assert [s.role for s in decision.steps] == ["ev_charger_current_limit", "cooling_setpoint"]
    assert decision.why == "peak shedding: site_active_power 40.1 kW > limit 40 kW"
    assert shed_at(shed_spec(), 40.0).state == "inactive"  # at the limit is within it


def test_shed_hold_band_with_release_below() -> None:
    spec = shed_spec(release_below_kw=35)
    assert shed_at(spec, 38).state == "hold"
    assert shed_at(spec, 35).state == "hold"
    assert shed_at(spec, 34.9).state == "inactive"
    assert shed_at(spec, 41).state == "shed"


def test_no_shedding_without_a_reading_or_a_limit() -> None:
    assert shed_at(shed_spec(), None).state == "inactive"
    assert shed_at(shed_spec(), None).why == "no current value for site_active_power"
    assert shed_at(None, 100).state == "inactive"
    assert shed_at(EnergySpec.model_validate({"tariff": {"default": 0.2}}), 100).state == "inactive"
