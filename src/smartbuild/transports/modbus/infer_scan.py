"""Read a unit's holding and input registers for map inference, within a request budget.

Each range is read in blocks of ``max_registers``. When a block is refused (exception 02,
illegal data address), its first register alone tells whether a served run starts there: if it
does, a binary search finds where the run ends; if not, single-register probes step through the
hole, one address at a time for its first 16 addresses and then in growing steps up to
``HOLE_STRIDE``, and a binary search finds where the next run starts (a run shorter than the
step deep inside a long hole can be missed). Exception 01 means the unit has no such table. The served
registers are then read ``reads`` times, ``interval`` seconds apart, for stability and counters.
Every request counts against ``max_requests``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from smartbuild.errors import UsageError
from smartbuild.transports.modbus.infer import InferredMap, Samples, infer_map, runs
from smartbuild.transports.modbus.link import (
    READ_FUNCTIONS,
    Link,
    ModbusExceptionResponse,
    NoAnswer,
)

HOLE_STRIDE = 16  # the widest step of single-register probes through a hole


@dataclass(frozen=True)
class ScanPlan:
    """What to scan: ranges per table, block size, number of reads and the request budget."""

    ranges: dict[str, list[tuple[int, int]]]  # table -> [(start, end)), end exclusive
    max_registers: int = 125
    reads: int = 3
    interval: float = 1.0
    max_requests: int = 600


def parse_ranges(texts: list[str]) -> dict[str, list[tuple[int, int]]]:
    """Parse "holding:0-399" / "input:30000-30100" / "0-399" (both tables) into ranges."""
    out: dict[str, list[tuple[int, int]]] = {}
    for text in texts:
        tables, _, span = text.rpartition(":")
        lo, sep, hi = span.partition("-")
        if not (lo.isdigit() and sep and hi.isdigit()) or int(hi) < int(lo) or int(hi) > 65535:
            raise UsageError(f"invalid range {text!r}", hint="e.g. 0-399 or input:0-399")
        for table in [tables] if tables else ["holding", "input"]:
            if table not in ("holding", "input"):
                raise UsageError(f"invalid table in {text!r}", hint="holding or input")
            out.setdefault(table, []).append((int(lo), int(hi) + 1))
    return out


class Budget:
    """Counts requests and refuses more than the plan allows."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self.silent = 0  # unanswered requests in a row: two end the scan (a silent unit)
        self.error: str | None = None

    @property
    def exhausted(self) -> bool:
        """Return whether no request is left (or the unit stopped answering)."""
        return self.used >= self.limit or self.silent >= 2

    def take(self) -> bool:
        """Return whether one more request may be sent (and count it)."""
        if self.exhausted:
            return False
        self.used += 1
        return True


async def _read(link: Link, unit: int, table: str, address: int, count: int) -> list[int]:
    response = await link.call(READ_FUNCTIONS[table], address, count=count, device_id=unit)
    return list(response.registers[:count])


async def find_served(link: Link, unit: int, table: str, plan: ScanPlan, budget: Budget) -> dict[int, int]:  # fmt: skip
    """Return the registers of one table the unit serves in the plan's ranges (one read each)."""
    served: dict[int, int] = {}
    for start, end in plan.ranges.get(table, []):
        address = start
        while address < end:
            count = min(plan.max_registers, end - address)
            got = await _try(link, unit, table, address, count, budget)
            if got is None and count > 1:
                got = await _try(link, unit, table, address, 1, budget)
                if got is not None:  # served from here: find how far (binary search)
                    low, high = 1, count  # low registers are served, high are not
                    while high - low > 1:
                        middle = (low + high) // 2
                        more = await _try(link, unit, table, address, middle, budget)
                        if more is None:
                            high = middle
                        else:
                            low, got = middle, more
            if got == [] or budget.exhausted:
                return served  # no such table, or no requests left
            if got is not None:
                served.update(zip(range(address, address + len(got)), got, strict=True))
                address += len(got)
                continue
            address = await _skip_hole(link, unit, table, address, end, budget)
    return served


async def _skip_hole(link: Link, unit: int, table: str, address: int, end: int, budget: Budget) -> int:  # fmt: skip
    """Return the first served address after a hole at ``address`` (``end`` when none is)."""
    previous = address
    probe = address + 1
    while probe < end and not budget.exhausted:
        if await _try(link, unit, table, probe, 1, budget) is not None:
            low, high = previous, probe  # low is a hole, high is served
            while high - low > 1 and not budget.exhausted:
                middle = (low + high) // 2
                if await _try(link, unit, table, middle, 1, budget) is None:
                    low = middle
                else:
                    high = middle
            return high
        # close to where the hole began, step by one (small maps sit in short runs after a
        # few unused addresses); further in, steps grow to HOLE_STRIDE
        distance = probe - address
        step = (
            1 if distance < 16 else min(HOLE_STRIDE, 1 << max(0, (distance // 8).bit_length() - 1))
        )
        previous, probe = probe, probe + step
    return end


async def _try(link: Link, unit: int, table: str, address: int, count: int, budget: Budget) -> list[int] | None:  # fmt: skip
    """Return the registers, None when refused (02 or silent), [] when the table is missing."""
    if not budget.take():
        return None
    try:
        values = await _read(link, unit, table, address, count)
    except ModbusExceptionResponse as error:
        budget.silent = 0
        return [] if error.code == 1 else None
    except NoAnswer as error:
        budget.silent += 1
        budget.error = str(error)
        return None
    budget.silent = 0
    return values


async def sample(link: Link, unit: int, plan: ScanPlan) -> tuple[dict[str, Samples], Budget]:
    """Scan both tables, then read what is served ``plan.reads`` times; return samples, requests."""
    budget = Budget(plan.max_requests)
    first: dict[str, dict[int, int]] = {}
    for table in ("holding", "input"):
        if table in plan.ranges:
            first[table] = await find_served(link, unit, table, plan, budget)
    samples: dict[str, Samples] = {
        t: {a: [v] for a, v in regs.items()} for t, regs in first.items()
    }
    for _ in range(plan.reads - 1):
        await asyncio.sleep(plan.interval)
        for table, regs in first.items():
            for start, end in runs(regs):
                for a in range(start, end, plan.max_registers):
                    count = min(plan.max_registers, end - a)
                    values = await _try(link, unit, table, a, count, budget)
                    if budget.exhausted:
                        return _complete(samples), budget
                    if not values:
                        continue
                    for offset, value in enumerate(values):
                        samples[table][a + offset].append(value)
    return _complete(samples), budget


def _complete(samples: dict[str, Samples]) -> dict[str, Samples]:
    """Keep as many reads per register as every register of its table got."""
    out: dict[str, Samples] = {}
    for table, regs in samples.items():
        rounds = min((len(v) for v in regs.values()), default=0)
        out[table] = {a: v[:rounds] for a, v in regs.items()}
    return out


async def infer_unit(link: Link, unit: int, plan: ScanPlan) -> InferredMap:
    """Scan a unit and return its inferred map (the request count included)."""
    tables, budget = await sample(link, unit, plan)
    result = infer_map(tables)
    result.requests = budget.used
    result.error = budget.error if budget.silent >= 2 else None
    return result


def template_yaml(result: InferredMap, name: str, title: str, origin: str) -> str:
    """Return a proposed template (YAML text) with a confidence comment on every point."""
    import yaml

    from smartbuild.transports.modbus.infer import confidence

    lines = [
        f"# Proposed by `smartbuild templates infer` from {origin}: every point is a guess.",
        "# Check each one against the device's documentation, rename it, add roles, then run",
        "# `smartbuild templates validate` on this file. Nothing here is writable.",
        f"template: {name}",
        f"title: {yaml.safe_dump(title, default_style=chr(34)).strip()}",
        "transport: modbus",
        f"source: {yaml.safe_dump(f'inferred from {origin}', default_style=chr(34)).strip()}",
        "defaults: {address_base: 0, word_order: ABCD, max_gap: 0}",
        "points:",
    ]
    for c in sorted(result.points, key=lambda c: (c.table, c.address)):
        q = c.quantity
        what = q.name if q else "value"
        spec: dict[str, Any] = {"table": c.table, "address": c.address, "type": c.type}
        if c.count > 1:
            spec["word_order"] = c.order
        if c.scale != 1.0:
            spec["scale"] = c.scale
        if q and q.unit:
            spec["unit"] = q.unit
        shown = ", ".join(f"{v:g}" for v in c.values)
        spec["description"] = f"confidence {confidence(c):.2f}: looks like {what} ({shown})" + (
            f"; {'; '.join(c.notes)}" if c.notes else ""
        )
        flow = yaml.safe_dump(spec, default_flow_style=True, sort_keys=False, width=1000).strip()
        lines.append(f"  {c.table}_{c.address}_{what}: {flow}")
    if not result.points:
        lines[-1] = "points: {}"
    return "\n".join(lines) + "\n"
