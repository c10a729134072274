"""Tests for smartbuild.transports.modbus.plan against an independent brute-force oracle."""

from __future__ import annotations

import random
from functools import cache
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smartbuild.errors import UsageError
from smartbuild.transports.modbus.plan import (
    AddressRange,
    ReadRequest,
    Span,
    WindowSplit,
    plan_reads,
    split_window,
)

# --- the oracle ---------------------------------------------------------------------------
# Written from the definition, address by address, sharing no code with the planner: a
# group of spans may share one request when the window [min start, max end) fits the limit
# and every address in it that no span of the table wants lies in a run of unwanted
# addresses that is short enough and touches no forbidden address. The minimum number of
# groups is found by dynamic programming over all subsets (set partitions).


def _feasible(
    group: list[Span], wanted: set[int], limit: int, max_gap: int, forbid: set[int]
) -> bool:
    lo = min(s.address for s in group)
    hi = max(s.address + s.count for s in group)
    if hi - lo > limit:
        return False
    for a in range(lo, hi):
        if a in wanted:
            continue
        left = a
        while left - 1 not in wanted:
            left -= 1
        right = a
        while right + 1 not in wanted:
            right += 1
        if right - left + 1 > max_gap or any(x in forbid for x in range(left, right + 1)):
            return False
    return True


def oracle_min_requests(
    spans: list[Span], limit: int, max_gap: int, forbid: set[int] = frozenset()
) -> int:
    """Return the true minimum number of requests for spans of ONE table."""
    n = len(spans)
    wanted = {a for s in spans for a in range(s.address, s.address + s.count)}
    ok = [
        mask > 0
        and _feasible([spans[i] for i in range(n) if mask >> i & 1], wanted, limit, max_gap, forbid)
        for mask in range(1 << n)
    ]

    @cache
    def best(mask: int) -> int:
        if not mask:
            return 0
        low = mask & -mask
        rest = mask ^ low
        result = n + 1
        sub = rest
        while True:  # every block containing the lowest remaining span
            block = sub | low
            if ok[block]:
                result = min(result, 1 + best(mask ^ block))
            if not sub:
                break
            sub = (sub - 1) & rest
        return result

    return best((1 << n) - 1)


def check_valid(
    requests: list[ReadRequest],
    spans: list[Span],
    max_gap: int,
    no_bridge: tuple[AddressRange, ...] = (),
    *,
    max_registers: int = 125,
    max_bits: int = 2000,
) -> None:
    """Assert the plan covers every key once, splits no span and bridges only what it may."""
    by_key = {s.key: s for s in spans}
    served = [k for r in requests for k in r.keys]
    assert sorted(served) == sorted(by_key), "every key exactly once"
    for r in requests:
        limit = max_registers if r.table in ("holding", "input") else max_bits
        assert 1 <= r.count <= limit
        mine = [by_key[k] for k in r.keys]
        for s in mine:
            assert s.table == r.table
            assert r.address <= s.address and s.address + s.count <= r.end, "span not split"
        assert r.address == min(s.address for s in mine), "window trimmed"
        assert r.end == max(s.address + s.count for s in mine)
        wanted = {
            a for s in spans if s.table == r.table for a in range(s.address, s.address + s.count)
        }
        forbid = {a for nb in no_bridge if nb.table == r.table for a in range(nb.address, nb.end)}
        assert _feasible(mine, wanted, limit, max_gap, forbid)


# --- strategies ---------------------------------------------------------------------------


@st.composite
def small_problem(draw: st.DrawFn) -> tuple[list[Span], int, int, tuple[AddressRange, ...]]:
    limit = draw(st.integers(1, 12))
    max_gap = draw(st.integers(0, 4))
    n = draw(st.integers(1, 7))
    spans = [
        Span(f"k{i}", "holding", draw(st.integers(0, 30)), draw(st.integers(1, limit)))
        for i in range(n)
    ]
    no_bridge = tuple(
        AddressRange("holding", draw(st.integers(0, 36)), draw(st.integers(1, 3)))
        for _ in range(draw(st.integers(0, 2)))
    )
    return spans, limit, max_gap, no_bridge


@given(small_problem())
@settings(max_examples=2500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_plan_is_minimal_and_valid_against_oracle(
    problem: tuple[list[Span], int, int, tuple[AddressRange, ...]],
) -> None:
    spans, limit, max_gap, no_bridge = problem
    plan = plan_reads(spans, max_gap, no_bridge=no_bridge, max_registers=limit)
    check_valid(plan, spans, max_gap, no_bridge, max_registers=limit)
    forbid = {a for nb in no_bridge for a in range(nb.address, nb.end)}
    assert len(plan) == oracle_min_requests(spans, limit, max_gap, forbid)


@st.composite
def big_problem(draw: st.DrawFn) -> tuple[list[Span], int]:
    tables = ["holding", "input", "coil", "discrete"]
    spans = []
    for i in range(draw(st.integers(1, 60))):
        table = draw(st.sampled_from(tables))
        limit = 125 if table in ("holding", "input") else 2000
        count = draw(st.integers(1, min(limit, 130 if table in ("holding", "input") else 40)))
        address = draw(st.integers(0, 700))
        spans.append(Span(f"k{i}", table, address, min(count, limit)))
    return spans, draw(st.integers(0, 20))


@given(big_problem())
@settings(max_examples=300, deadline=None)
def test_plan_is_valid_on_larger_mixed_inputs(problem: tuple[list[Span], int]) -> None:
    spans, max_gap = problem
    plan = plan_reads(spans, max_gap)
    check_valid(plan, spans, max_gap)
    order = [("holding", "input", "coil", "discrete").index(r.table) for r in plan]
    assert order == sorted(order)


def test_oracle_agrees_with_hand_solved_cases() -> None:
    # Guards the oracle itself, so that agreement with the planner means something.
    pair = [Span("a", "holding", 0, 2), Span("b", "holding", 5, 2)]
    assert oracle_min_requests(pair, 10, 0) == 2
    assert oracle_min_requests(pair, 10, 3) == 1
    assert oracle_min_requests(pair, 10, 3, forbid={3}) == 2
    assert oracle_min_requests(pair, 6, 3) == 2  # the window would be 7 long
    nested = [
        Span("x", "holding", 0, 4),
        Span("y", "holding", 1, 10),  # ends at 11: cannot share x's window of 10
        Span("z", "holding", 4, 6),  # nested in y, yet also fits x's window
    ]
    assert oracle_min_requests(nested, 10, 0) == 2
    plan = plan_reads(nested, max_registers=10)
    assert [(r.address, r.count, r.keys) for r in plan] == [(0, 10, ("x", "z")), (1, 10, ("y",))]


def test_fifty_scattered_registers_bridge_into_one_request() -> None:
    spans = [Span(f"r{i}", "holding", 2 * i, 1) for i in range(50)]
    assert len(plan_reads(spans, max_gap=0)) == 50
    plan = plan_reads(spans, max_gap=1)
    assert [(r.address, r.count) for r in plan] == [(0, 99)]
    assert plan[0].keys == tuple(f"r{i}" for i in range(50))


def test_limit_splits_at_125_registers_without_splitting_a_value() -> None:
    spans = [Span(f"f{i}", "input", 2 * i, 2) for i in range(100)]  # 100 float32 values
    plan = plan_reads(spans)
    assert [(r.address, r.count) for r in plan] == [(0, 124), (124, 76)]


def test_bits_use_the_2000_limit_and_tables_never_mix() -> None:
    spans = [Span("c0", "coil", 0, 1500), Span("c1", "coil", 1500, 600), Span("h", "holding", 0, 1)]
    plan = plan_reads(spans)
    assert [(r.table, r.address, r.count) for r in plan] == [
        ("holding", 0, 1),
        ("coil", 0, 1500),
        ("coil", 1500, 600),
    ]


def test_overlapping_spans_are_read_once() -> None:
    spans = [
        Span("u32", "holding", 10, 2),
        Span("hi", "holding", 10, 1),
        Span("lo", "holding", 11, 1),
    ]
    (request,) = plan_reads(spans)
    assert (request.address, request.count) == (10, 2)
    assert set(request.keys) == {"u32", "hi", "lo"}


def test_no_bridge_range_forbids_only_gaps() -> None:
    spans = [Span("a", "holding", 0, 2), Span("b", "holding", 5, 2)]
    gap = AddressRange("holding", 3, 1)
    assert len(plan_reads(spans, max_gap=3)) == 1
    assert len(plan_reads(spans, max_gap=3, no_bridge=[gap])) == 2
    assert len(plan_reads(spans, max_gap=3, no_bridge=[AddressRange("input", 3, 1)])) == 1
    # A wanted register inside a no-bridge range is still read: only gaps are avoided.
    assert len(plan_reads([*spans, Span("g", "holding", 3, 1)], max_gap=3, no_bridge=[gap])) == 1


@pytest.mark.parametrize(
    ("spans", "message"),
    [
        ([Span("x", "holding", 0, 126)], "do not fit one request"),
        ([Span("x", "coil", 0, 2001)], "do not fit one request"),
        ([Span("x", "holding", 65535, 2)], "outside the address space"),
        ([Span("x", "holding", 0, 0)], "outside the address space"),
        ([Span("x", "holding", 0, 1), Span("x", "input", 0, 1)], "appears twice"),
        ([Span("x", "registers", 0, 1)], "unknown Modbus table"),  # type: ignore[arg-type]
    ],
)
def test_bad_spans_are_refused(spans: list[Span], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        plan_reads(spans)


def test_split_window_cuts_at_bridged_gaps_and_learns_them() -> None:
    spans = [Span("a", "holding", 0, 2), Span("b", "holding", 4, 2), Span("c", "holding", 8, 2)]
    (window,) = plan_reads(spans, max_gap=2)
    split = split_window(window)
    assert [(r.address, r.count, r.keys) for r in split.requests] == [
        (0, 2, ("a",)),
        (4, 2, ("b",)),
        (8, 2, ("c",)),
    ]
    assert split.no_bridge == (AddressRange("holding", 2, 2), AddressRange("holding", 6, 2))
    # Replanning with what was learned never bridges those gaps again.
    assert len(plan_reads(spans, max_gap=2, no_bridge=split.no_bridge)) == 3


def test_split_window_with_known_failing_range_keeps_other_bridges() -> None:
    spans = [Span("a", "holding", 0, 2), Span("b", "holding", 4, 2), Span("c", "holding", 8, 2)]
    (window,) = plan_reads(spans, max_gap=2)
    split = split_window(window, failing=[AddressRange("holding", 7, 1)])
    assert [(r.address, r.count, r.keys) for r in split.requests] == [
        (0, 6, ("a", "b")),
        (8, 2, ("c",)),
    ]
    assert split.no_bridge == (AddressRange("holding", 6, 2),)


def test_split_window_without_gaps_isolates_spans_then_gives_up() -> None:
    spans = [Span("a", "holding", 0, 2), Span("b", "holding", 2, 2)]
    (window,) = plan_reads(spans)
    split = split_window(window)
    assert [r.keys for r in split.requests] == [("a",), ("b",)]
    assert split.no_bridge == ()
    assert split_window(split.requests[0]) == WindowSplit((), ())
    with pytest.raises(UsageError, match="carries its spans"):
        split_window(ReadRequest("holding", 0, 2, ("a",)))


def _brute_cost(spans: list[Span], max_gap: int, limit: int, cost: Any) -> float:
    """Return the least total cost over every way of cutting start-sorted spans into windows."""
    ordered = sorted(spans, key=lambda s: (s.address, s.end))
    best = float("inf")
    n = len(ordered)
    for mask in range(1 << max(0, n - 1)):  # bit i set: cut between span i and i + 1
        total, group = 0.0, [ordered[0]]
        ok = True
        for i in range(1, n + 1):
            if i == n or mask >> (i - 1) & 1:
                lo = group[0].address
                hi = max(s.end for s in group)
                reach = group[0].end
                for s in group[1:]:
                    ok &= s.address - reach <= max_gap
                    reach = max(reach, s.end)
                ok &= hi - lo <= limit
                total += cost("holding", hi - lo)
                if i < n:
                    group = [ordered[i]]
            else:
                group.append(ordered[i])
        if ok:
            best = min(best, total)
    return best


@pytest.mark.parametrize("seed", range(40))
def test_planning_by_cost_matches_an_exhaustive_search(seed: int) -> None:
    from smartbuild.transports.modbus.timing import read_time

    rng = random.Random(seed)
    spans, address = [], rng.randrange(0, 20)
    for i in range(rng.randint(1, 9)):
        size = rng.choice([1, 1, 2, 2, 4])
        spans.append(Span(f"p{i}", "holding", address, size))
        address += size + rng.choice([0, 1, 3, 8, 15, 30])
    max_gap, limit = rng.choice([5, 20, 40]), rng.choice([10, 30, 125])

    def cost(table: str, count: int) -> float:
        return read_time(table, count, 19200) + 0.001

    requests = plan_reads(spans, max_gap, max_registers=limit, cost=cost)
    assert sorted(k for r in requests for k in r.keys) == sorted(s.key for s in spans)
    total = sum(cost(r.table, r.count) for r in requests)
    assert total == pytest.approx(_brute_cost(spans, max_gap, limit, cost))
    fewest = plan_reads(spans, max_gap, max_registers=limit)
    assert total <= sum(cost(r.table, r.count) for r in fewest) + 1e-12
