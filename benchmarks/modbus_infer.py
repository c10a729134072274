"""P10: register-map inference on every shipped Modbus template, with the template hidden.

Each Modbus template shipped with smartbuild (`src/smartbuild/templates`; templates of
installed plugins, such as the example plugin's, are left out and counted) is served by the
simulator's point map (`SimBuilding.tables`: values from the building's physics and fallbacks,
encoded by `sim.peers.pointmap`) as one unit of a pymodbus server with no identity; the
building, with its water supply (`smartbuild sim --water`), starts at a fixed moment (`--start`,
default a working-day morning, when the devices are in use: at night or on a Sunday an EV
charger, a water meter and a leak detector hold zeros that nothing can be inferred from) and
advances 60 s of simulated time every 0.2 s; the new values are pushed, as `smartbuild sim`
does. Inference scans the same ranges for every device (0-399 of both tables and holding
40000-40199, the SunSpec base) and reads 3 times, through the code behind
`smartbuild templates infer`.

Figures, per template and in total: share of the templates' holding/input points found at the right address; with the
right type too; with the right word order too (32/64-bit points); with the right scale too
(W/kW and Wh/kWh taken as the same quantity). Requests per device are bounded by the budget.
Target: at least 50 % of points right in address, type, word order and scale, over all
templates and over the templates without a SunSpec chain; every device within the budget.

    PYTHONPATH=src .venv/bin/python benchmarks/modbus_infer.py [--start "2026-01-18 03:00"]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import logging
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from smartbuild.sim.building.binding import SimDevice
from smartbuild.sim.building.site import SimBuilding
from smartbuild.sim.building.water import WaterModel
from smartbuild.sim.peers.modbus_farm import ModbusFarm, ServerSpec, SimUnit, loopback_hosts
from smartbuild.transports.modbus.infer_scan import ScanPlan, infer_unit, parse_ranges
from smartbuild.transports.modbus.link import Link

PLAN = ScanPlan(parse_ranges(["0-399", "holding:40000-40199"]), reads=3, interval=0.3)
START = "2026-01-15 10:00"  # a Thursday morning in the simulator's time zone
KILO = {"kW": 1000.0, "kWh": 1000.0, "kvar": 1000.0, "kVA": 1000.0}


def judge(template: Any, points: list[Any]) -> dict[str, int]:
    """Count the template's register points found right, criterion by criterion."""
    found = {(c.table, c.address): c for c in points}
    counts = {"points": 0, "address": 0, "type": 0, "order": 0, "scale": 0}
    for spec in template.points.values():
        if spec.table not in ("holding", "input") or spec.type in ("string", "bits"):
            continue
        if spec.bit is not None:
            continue
        counts["points"] += 1
        c = found.get((spec.table, template.pdu_address(spec)))
        if c is None:
            continue
        counts["address"] += 1
        if c.type != spec.type:
            continue
        counts["type"] += 1
        if spec.register_count() > 1 and c.order != template.word_order(spec):
            continue
        counts["order"] += 1
        wanted = spec.scale * KILO.get(spec.unit or "", 1.0)
        sf = spec.sf is not None  # a SunSpec scale factor lives in another register
        if sf or abs(c.scale - wanted) <= 1e-9 * wanted or abs(c.scale - spec.scale) <= 1e-9:
            counts["scale"] += 1
    return counts


def shipped_templates() -> tuple[dict[str, Any], list[str]]:
    """Return the Modbus templates shipped with smartbuild, and the names of plugins' ones."""
    from smartbuild.services.registry import builtin_registry
    from smartbuild.templates import TEMPLATE_DIR

    shipped, others = {}, []
    for name, entry in builtin_registry().templates.items():
        if entry.value.transport != "modbus":
            continue
        if entry.source and Path(entry.source).resolve().parent == TEMPLATE_DIR.resolve():
            shipped[name] = entry.value
        else:
            others.append(name)
    return shipped, sorted(others)


def has_sunspec_chain(template: Any) -> bool:
    """Return whether a template describes a SunSpec model chain (its map is self-described)."""
    rules = template.identify.modbus if template.identify else None
    return bool(rules and rules.sunspec)


async def run(start: dt.datetime) -> int:
    """Serve every template, infer each map, print the figures; return the exit status."""
    templates, left_out = shipped_templates()
    hosts = loopback_hosts(len(templates) + 1, first="127.83.1.1")  # the gateway's first
    building = SimBuilding.create(2, hosts=hosts, templates=templates, start=start,
                                  water=WaterModel())  # fmt: skip
    hosts = hosts[1:]
    devices = [SimDevice(f"d{i}", t, "modbus-tcp", f"{h}:0", 1)
               for i, (h, t) in enumerate(zip(hosts, templates.values(), strict=True))]  # fmt: skip
    async with ModbusFarm(port=0) as farm:
        endpoints = []
        for host, dev in zip(hosts, devices, strict=True):
            tables = building.tables(dev)
            unit = SimUnit(1, holding=tables["holding"], input=tables["input"])
            endpoints.append(await farm.add_server(ServerSpec(host, [unit], port=0)))

        async def tick() -> None:
            while True:
                await asyncio.sleep(0.2)
                building.advance(60)
                for (host, port), dev in zip(endpoints, devices, strict=True):
                    for table, regs in building.tables(dev).items():
                        if table in ("holding", "input") and regs:
                            lo = min(regs)
                            block = [int(regs.get(a, 0)) for a in range(lo, max(regs) + 1)]
                            await farm.set_registers(host, port, 1, table, lo, block)

        async def infer(host: str, port: int) -> Any:
            def factory() -> Any:
                from pymodbus.client import AsyncModbusTcpClient

                return AsyncModbusTcpClient(host, port=port, timeout=1, retries=0)

            link = Link(f"{host}:{port}", factory, connect_delay_s=0, pause_s=0)
            try:
                return await infer_unit(link, 1, PLAN)
            finally:
                link.close()

        ticker = asyncio.create_task(tick())
        try:
            results = await asyncio.gather(*(infer(h, p) for h, p in endpoints))
        finally:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
    totals = {"points": 0, "address": 0, "type": 0, "order": 0, "scale": 0}
    plain = {"points": 0, "scale": 0}  # the templates without a SunSpec model chain
    over_budget = 0
    for dev, result in zip(devices, results, strict=True):
        counts = judge(dev.template, result.points)
        for key, n in counts.items():
            totals[key] += n
        if not has_sunspec_chain(dev.template):
            plain["points"] += counts["points"]
            plain["scale"] += counts["scale"]
        over_budget += result.requests > PLAN.max_requests
        n = max(1, counts["points"])
        print(f"P10 {dev.template.template:18} {counts['points']:3} points: address "
              f"{counts['address'] / n:4.0%}, all right {counts['scale'] / n:4.0%}; "
              f"{len(result.points)} proposed, {result.requests} requests")  # fmt: skip
    n = max(1, totals["points"])
    if left_out:
        print(f"P10 left out (plugin templates, not shipped): {', '.join(left_out)}")
    print(f"P10 building time {start:%a %Y-%m-%d %H:%M}; all {len(devices)} shipped templates, {totals['points']} points: right address "
          f"{totals['address'] / n:.0%}, + type {totals['type'] / n:.0%}, + word order "
          f"{totals['order'] / n:.0%}, + scale {totals['scale'] / n:.0%} (target >= 50 %); "
          f"budget {PLAN.max_requests} requests per device, {over_budget} over")  # fmt: skip
    print(f"P10 without the SunSpec templates (whose map the device describes itself): "
          f"{plain['scale']}/{plain['points']} = {plain['scale'] / max(1, plain['points']):.0%} all right")  # fmt: skip
    plain_share = plain["scale"] / max(1, plain["points"])
    return 0 if totals["scale"] / n >= 0.5 and plain_share >= 0.5 and not over_budget else 1


def main() -> int:
    """Run P10."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--start", default=START, help=f"building time (default {START})")
    start = dt.datetime.fromisoformat(parser.parse_args().start)
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    return asyncio.run(run(start))


if __name__ == "__main__":
    raise SystemExit(main())
