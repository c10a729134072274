"""Plan the fewest Modbus read requests that cover a set of wanted values.

Pure functions, no I/O: the transport hands in the spans it wants from one unit on one
connection and gets back the requests to send.

Model
-----
A *span* is one value: ``count`` consecutive registers (or bits) starting at ``address`` in
one table. Per table, let U be the union of all spans. A *gap* is a maximal run of
addresses, between two spans, that no span covers. A gap is *bridgeable* when it is at most
``max_gap`` long and touches no no-bridge range (ranges learned at run time because the
device refused a window that bridged them with exception 02). A *request* reads one window
``[address, address + count)`` of one table; it is valid when

- ``count`` is at most the limit (125 registers, 2000 bits),
- every gap inside the window is bridgeable, and
- every span assigned to it lies entirely inside the window (spans are never split: a
  32/64-bit value or a string always arrives in one response).

Addresses inside a window that belong to *another* request's span are not gaps: they are
wanted registers the device is known to serve, so reading them twice costs nothing extra.

Minimality (proof sketch)
-------------------------
1. An unbridgeable gap can lie inside no window, so it cuts the table into independent
   segments; the optimum is the sum of the optima of the segments.
2. Inside a segment every window of length ≤ L is valid (all its gaps are bridgeable). A
   span ``[s, e)`` fits a window starting at ``lo`` iff ``e - L ≤ lo ≤ s``: each span
   defines an interval of admissible window starts, non-empty because a span longer than
   L is rejected up front. Covering all spans with the fewest windows is therefore the
   classic problem of stabbing intervals with the fewest points.
3. Greedy: take the unserved span with the smallest start ``s`` (the smallest right end of
   the admissible intervals) and open a window at ``lo = s``; it serves every unserved span
   ending at or before ``s + L``. Exchange argument: any solution has some window ``p``
   serving that span, so ``p ≤ s``; moving ``p`` up to ``s`` still serves every span ``p``
   served (their starts are ≥ s by the choice of s, their admissible lower ends ≤ p ≤ s).
   So some optimal solution agrees with the greedy's first window; induct on the rest.
4. Each window is finally trimmed to the spans it serves, ``[min start, max end)``; this
   keeps it inside its segment, within L, and no shorter than any of its spans.

When greedy is optimal, and when not
------------------------------------
The argument needs: (a) bridgeability to be a property of the gap alone (gaps are taken
on U, not on the spans one request happens to serve), so segments do not depend on the
grouping; (b) no span longer than L; (c) every request costing the same. Under (a)–(c) the
simpler sweep "extend the current request while the next span fits, else open a new one"
gives the same count: its high-water mark always equals U's, and spans it pushes into the
next request fit that one. Drop (c), e.g. minimise RTU bus time, where a request costs
about 20 character times of overhead and a bridged register 2, and the count is no longer
the objective: pick ``max_gap`` accordingly (about 10 registers breaks even on RTU) or plan
with a weighted dynamic programme instead.

Planning by cost (RTU wire time)
--------------------------------
``plan_reads(..., cost=f)`` does the latter: ``f(table, count)`` is the price of one request
reading ``count`` registers or bits (on RTU: both frames, their 3.5-character gaps and the
device's turnaround; see ``timing.read_time``). Inside a segment, spans sorted by start are
split into consecutive groups, one request each, by a dynamic programme over the split points
(``best[j] = min best[i] + f(width of spans i..j-1)`` over windows within the limit); an
optimal plan always exists among consecutive groupings, since two requests that interleave
can swap spans without growing either window. Bridging stays bounded by ``max_gap`` and the
no-bridge ranges: the programme only decides where bridging pays.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from smartbuild.errors import UsageError

Table = Literal["holding", "input", "coil", "discrete"]
TABLES: tuple[Table, ...] = ("holding", "input", "coil", "discrete")
MAX_REGISTERS = 125  # FC3/FC4, Modbus application protocol 6.3/6.4
MAX_BITS = 2000  # FC1/FC2
ADDRESS_SPACE = 0x10000
Cost = Callable[[str, int], float]  # (table, registers or bits read) -> price of one request


@dataclass(frozen=True)
class Span:
    """One wanted value: ``count`` registers or bits from ``address`` in ``table``."""

    key: str
    table: Table
    address: int
    count: int

    @property
    def end(self) -> int:
        """Return the first address after the span."""
        return self.address + self.count


@dataclass(frozen=True)
class AddressRange:
    """A run of addresses in one table (used for learned no-bridge ranges)."""

    table: Table
    address: int
    count: int

    @property
    def end(self) -> int:
        """Return the first address after the range."""
        return self.address + self.count

    def overlaps(self, table: str, start: int, end: int) -> bool:
        """Return whether this range shares an address with ``[start, end)`` of ``table``."""
        return self.table == table and self.address < end and start < self.end


@dataclass(frozen=True)
class ReadRequest:
    """One read to send: ``count`` registers or bits from ``address``, serving ``keys``."""

    table: Table
    address: int
    count: int
    keys: tuple[str, ...]
    spans: tuple[Span, ...] = field(default=(), compare=False, repr=False)

    @property
    def end(self) -> int:
        """Return the first address after the window."""
        return self.address + self.count

    def gaps(self) -> list[AddressRange]:
        """Return the runs of addresses this window reads that none of its spans covers."""
        out: list[AddressRange] = []
        reach = self.address
        for span in sorted(self.spans, key=lambda s: s.address):
            if span.address > reach:
                out.append(AddressRange(self.table, reach, span.address - reach))
            reach = max(reach, span.end)
        if self.spans and reach < self.end:
            out.append(AddressRange(self.table, reach, self.end - reach))
        return out


@dataclass(frozen=True)
class WindowSplit:
    """What to do after a device refused a window: smaller reads and gaps to avoid."""

    requests: tuple[ReadRequest, ...]
    no_bridge: tuple[AddressRange, ...]


def limit_for(table: str, max_registers: int = MAX_REGISTERS, max_bits: int = MAX_BITS) -> int:
    """Return the most registers or bits one read of ``table`` may ask for."""
    if table in ("holding", "input"):
        return max_registers
    if table in ("coil", "discrete"):
        return max_bits
    raise UsageError(f"unknown Modbus table {table!r}; expected one of {', '.join(TABLES)}")


def _validate(spans: Sequence[Span], max_registers: int, max_bits: int) -> None:
    seen: set[str] = set()
    for sp in spans:
        if sp.key in seen:
            raise UsageError(f"span key {sp.key!r} appears twice in one read plan")
        seen.add(sp.key)
        limit = limit_for(sp.table, max_registers, max_bits)
        if sp.count < 1 or sp.address < 0 or sp.end > ADDRESS_SPACE:
            raise UsageError(
                f"span {sp.key!r}: {sp.table} {sp.address}+{sp.count} is outside the "
                f"address space 0..{ADDRESS_SPACE - 1}"
            )
        if sp.count > limit:
            raise UsageError(
                f"span {sp.key!r}: {sp.count} {sp.table} values do not fit one request "
                f"(at most {limit})",
                hint="split the value into smaller entries in the template",
            )


def _segments(
    spans: list[Span], max_gap: int, no_bridge: Collection[AddressRange]
) -> list[list[Span]]:
    """Cut start-sorted spans of one table at every gap that must not be bridged."""
    segments: list[list[Span]] = []
    reach = -1
    for sp in spans:
        gap = sp.address - reach
        if segments and (
            gap <= 0
            or (
                gap <= max_gap
                and not any(r.overlaps(sp.table, reach, sp.address) for r in no_bridge)
            )
        ):
            segments[-1].append(sp)
        else:
            segments.append([sp])
        reach = max(reach, sp.end)
    return segments


def _windows(segment: list[Span], limit: int) -> list[list[Span]]:
    """Cover start-sorted spans with the fewest windows of ``limit`` (interval stabbing)."""
    windows: list[list[Span]] = []
    pending = segment
    while pending:
        lo = pending[0].address
        served: list[Span] = []
        rest: list[Span] = []
        for i, sp in enumerate(pending):
            if sp.address >= lo + limit:
                # Sorted by start: nothing from here on can end within this window.
                rest.extend(pending[i:])
                break
            (served if sp.end <= lo + limit else rest).append(sp)
        windows.append(served)
        pending = rest
    return windows


def _cheapest(segment: list[Span], limit: int, table: Table, cost: Cost) -> list[list[Span]]:
    """Split start-sorted spans into consecutive windows of least total cost (DP)."""
    n = len(segment)
    best = [0.0] + [float("inf")] * n
    cut = [0] * (n + 1)
    for j in range(1, n + 1):
        hi = 0
        for i in range(j - 1, -1, -1):  # the window holds spans i..j-1
            hi = max(hi, segment[i].end)
            width = hi - segment[i].address
            if width > limit:
                break
            price = best[i] + cost(table, width)
            if price < best[j]:
                best[j], cut[j] = price, i
    windows: list[list[Span]] = []
    j = n
    while j:
        windows.append(segment[cut[j] : j])
        j = cut[j]
    return windows[::-1]


def _request(table: Table, spans: Sequence[Span]) -> ReadRequest:
    lo = min(sp.address for sp in spans)
    hi = max(sp.end for sp in spans)
    ordered = tuple(sorted(spans, key=lambda s: (s.address, s.end, s.key)))
    return ReadRequest(table, lo, hi - lo, tuple(sp.key for sp in ordered), ordered)


def plan_reads(
    spans: Iterable[Span],
    max_gap: int = 0,
    *,
    no_bridge: Collection[AddressRange] = (),
    max_registers: int = MAX_REGISTERS,
    max_bits: int = MAX_BITS,
    cost: Cost | None = None,
) -> list[ReadRequest]:
    """Return the fewest read requests (or, with ``cost``, the cheapest) covering every span.

    Requests come out ordered by table (holding, input, coil, discrete) and address.
    Raises UsageError for duplicate keys, spans outside the address space or spans longer
    than one request may be.
    """
    items = list(spans)
    if max_gap < 0:
        raise UsageError(f"max_gap must be 0 or more, got {max_gap}")
    if max_registers < 1 or max_bits < 1:
        raise UsageError("request limits must be at least 1")
    _validate(items, max_registers, max_bits)
    out: list[ReadRequest] = []
    for table in TABLES:
        mine = sorted((sp for sp in items if sp.table == table), key=lambda s: (s.address, s.end))
        limit = limit_for(table, max_registers, max_bits)
        for segment in _segments(mine, max_gap, no_bridge):
            if cost is None:
                windows = _windows(segment, limit)
            else:
                windows = _cheapest(segment, limit, table, cost)
            out.extend(_request(table, window) for window in windows)
    out.sort(key=lambda r: (TABLES.index(r.table), r.address, r.count))
    return out


def split_window(
    request: ReadRequest, failing: Collection[AddressRange] | None = None
) -> WindowSplit:
    """Split a window the device refused with exception 02 into reads that bridge less.

    ``failing`` are the addresses known to be refused, when the caller knows them; without
    it every gap the window bridged is suspect. The window is cut at each suspect gap, and
    those gaps come back as ``no_bridge`` ranges to pass to later ``plan_reads`` calls.
    When the window bridged no suspect gap, the refusal is about a wanted register itself:
    the window is split into one read per span so the refused key can be found. A window
    of a single span cannot be split and yields no requests: that key is unreadable.
    """
    spans = sorted(request.spans, key=lambda s: (s.address, s.end))
    if not spans:
        raise UsageError("split_window needs a request built by plan_reads (it carries its spans)")
    suspect = [
        gap
        for gap in request.gaps()
        if failing is None or any(f.overlaps(gap.table, gap.address, gap.end) for f in failing)
    ]
    if suspect:
        pieces = _segments(spans, ADDRESS_SPACE, suspect)
        return WindowSplit(tuple(_request(request.table, p) for p in pieces), tuple(suspect))
    if len({(sp.address, sp.count) for sp in spans}) == 1:
        return WindowSplit((), ())
    return WindowSplit(tuple(_request(request.table, [sp]) for sp in spans), ())
