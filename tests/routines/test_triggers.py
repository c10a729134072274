"""The trigger evaluator: thresholds with hysteresis and for:, the quiet-stretch rule, clock times."""

from __future__ import annotations

import datetime as dt
import itertools
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from smartbuild.routines.schema import PointTrigger, QuietTrigger, TimeTrigger
from smartbuild.routines.triggers import PointWatch, QuietWatch, next_time
from smartbuild.sim.building.water import WaterModel

BERLIN = ZoneInfo("Europe/Berlin")


def above(threshold: float, hysteresis: float = 0.0, for_: str | float = 0) -> PointTrigger:
    return PointTrigger.model_validate(
        {"role": "zone_co2", "above": threshold, "hysteresis": hysteresis, "for": for_}
    )


def test_fires_once_after_the_duration_and_rearms_only_past_the_hysteresis() -> None:
    w = PointWatch(above(1200, 100, "5m"))
    assert not w.feed(1300, 0)  # pending
    assert not w.feed(1250, 200)
    assert w.feed(1250, 300)  # 5 minutes above: fires
    assert not w.feed(1400, 400)  # stays active: no second fire
    assert not w.feed(1150, 500)  # back below 1200 but inside the hysteresis band
    assert w.state == "active"
    assert not w.feed(1300, 600)
    assert not w.feed(1099, 700)  # past the band: re-armed
    assert w.state == "idle"
    assert not w.feed(1300, 800)
    assert w.tick(1100)  # the duration completes between readings


def test_a_dip_below_the_threshold_cancels_a_pending_trigger() -> None:
    w = PointWatch(above(1200, 100, "5m"))
    w.feed(1300, 0)
    w.feed(1190, 200)  # below the threshold: the pending trigger is cancelled
    assert not w.feed(1300, 299)
    assert not w.tick(500)
    assert w.tick(599)


def test_below_thresholds_mirror_above() -> None:
    spec = PointTrigger.model_validate(
        {"role": "zone_air_temperature", "below": 8, "hysteresis": 2, "for": 0}
    )
    w = PointWatch(spec)
    assert w.feed(7.5, 0)
    assert not w.feed(9, 10)  # inside the band
    assert not w.feed(7, 20)
    assert not w.feed(10, 30)  # re-armed
    assert w.feed(7.9, 40)


readings = st.lists(
    st.tuples(st.integers(1, 600), st.floats(900, 1500, allow_nan=False)), max_size=80
)


@given(readings, st.floats(0, 300), st.integers(0, 1800))
def test_point_watch_against_its_definition(
    steps: list[tuple[int, float]], hysteresis: float, hold_s: int
) -> None:
    """Every fire follows `for` seconds of readings above; two fires have a re-arm between them."""
    w = PointWatch(above(1200, hysteresis, hold_s))
    t = 0.0
    history: list[tuple[float, float]] = []
    fires: list[float] = []
    for gap, value in steps:
        t += gap
        history.append((t, value))
        if w.feed(value, t):
            fires.append(t)
    for at in fires:
        # the readings since the crossing were all above, for at least hold_s
        recent = [(ts, v) for ts, v in history if ts <= at]
        start = at
        for ts, v in reversed(recent):
            if v <= 1200:
                break
            start = ts
        assert at - start >= hold_s
    for first, second in itertools.pairwise(fires):
        between = [v for ts, v in history if first < ts < second]
        assert any(v <= 1200 - hysteresis for v in between)


def quiet(for_: str = "1h", within: str = "24h") -> QuietTrigger:
    return QuietTrigger.model_validate(
        {"role": "water_flow", "at_most": 0, "for": for_, "within": within}
    )


def run_meter(model: WaterModel, hours: float, start: dt.datetime) -> list[float]:
    """Feed a quiet watch the meter's flow every 5 minutes; return when it fired (hours)."""
    w = QuietWatch(quiet())
    fired = []
    for i in range(int(hours * 12)):
        at = start + dt.timedelta(minutes=5 * i)
        if w.feed(model.flow_m3h(at), (at - start).total_seconds()):
            fired.append(i / 12)
    return fired


def test_a_sound_building_rests_every_night_and_a_leak_never_lets_it() -> None:
    start = dt.datetime(2026, 1, 12, 9, 0, tzinfo=BERLIN)  # a Monday morning
    assert run_meter(WaterModel(), 72, start) == []
    fired = run_meter(WaterModel(leak_lph=15), 72, start)
    assert fired == [24.0]  # once 24 h were watched: no hour of zero flow in them


def test_the_leak_clears_after_a_quiet_hour_and_can_fire_again() -> None:
    w = QuietWatch(quiet("1h", "6h"))
    t = 0
    for _ in range(7 * 6):  # 7 h of flow, a reading every 10 min
        fired = w.feed(0.02, t)
        t += 600
        if fired:
            break
    assert w.active
    for _ in range(7):  # an hour of zero flow
        w.feed(0.0, t)
        t += 600
    assert not w.active
    count = 0
    for _ in range(8 * 6):
        count += w.feed(0.02, t)
        t += 600
    assert count == 1


@given(st.lists(st.tuples(st.integers(60, 1800), st.sampled_from([0.0, 0.0, 0.01, 0.3])),
                max_size=200))  # fmt: skip
def test_quiet_watch_against_a_brute_force_oracle(steps: list[tuple[int, float]]) -> None:
    """The watch is active exactly when no quiet stretch of 1 h lies in the last 6 h."""
    w = QuietWatch(quiet("1h", "6h"))
    history: list[tuple[float, float]] = []
    t = 0.0
    for gap, value in steps:
        t += gap
        history.append((t, value))
        w.feed(value, t)
        # oracle: quiet stretches run from the first to the last zero reading of a run
        stretches, run = [], None
        for ts, v in history:
            if v <= 0:
                run = (run[0], ts) if run else (ts, ts)
                if run[1] - run[0] >= 3600:
                    stretches.append(run)
            else:
                run = None
        watched = t - history[0][0] >= 6 * 3600
        quiet_in_window = any(end - 3600 >= t - 6 * 3600 for _, end in stretches)
        assert w.active == (watched and not quiet_in_window)


def test_next_time_follows_weekdays_and_never_replays() -> None:
    spec = TimeTrigger(at="05:30", days="mon-fri")
    friday_noon = dt.datetime(2026, 1, 16, 12, 0, tzinfo=BERLIN)
    assert next_time(spec, friday_noon, BERLIN) == dt.datetime(2026, 1, 19, 5, 30, tzinfo=BERLIN)
    at = dt.datetime(2026, 1, 19, 5, 30, tzinfo=BERLIN)
    assert next_time(spec, at, BERLIN) == dt.datetime(2026, 1, 20, 5, 30, tzinfo=BERLIN)


def test_next_time_across_daylight_saving_changes() -> None:
    spec = TimeTrigger(at="02:30")
    # 2026-03-29: 02:30 does not exist in Berlin; it fires at the same instant an hour later
    before = dt.datetime(2026, 3, 29, 0, 0, tzinfo=BERLIN)
    got = next_time(spec, before, BERLIN)
    assert (got.hour, got.minute, got.utcoffset()) == (3, 30, dt.timedelta(hours=2))
    # 2026-10-25: 02:30 happens twice; it fires once, at the first
    before = dt.datetime(2026, 10, 25, 0, 0, tzinfo=BERLIN)
    first = next_time(spec, before, BERLIN)
    assert first.utcoffset() == dt.timedelta(hours=2)
    again = next_time(spec, first, BERLIN)
    assert again.date() == dt.date(2026, 10, 26)
