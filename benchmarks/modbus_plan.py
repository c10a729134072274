"""P1: read requests counted at real servers vs the naive one-request-per-point count.

Part 1: 50 devices (one pymodbus server each, loopback), 20 points each inside a 120-register
window, read concurrently through ModbusTcpTransport. Target: exactly 50 read requests at the
servers (the naive tool sends 1000).
Part 2: random point tables (random tables, types, gaps and max_gap) on the same servers: the
count at the servers must equal an independent dynamic-programming oracle written here.

    PYTHONPATH=src .venv/bin/python benchmarks/modbus_plan.py [--devices 50] [--random 200]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from smartbuild.config.schema import DeviceSpec
from smartbuild.model.device import Device
from smartbuild.sim.peers.modbus_farm import ModbusFarm, ServerSpec, SimUnit, loopback_hosts
from smartbuild.transports.modbus.schema import REGISTERS, ModbusPoint, ModbusTemplate
from smartbuild.transports.modbus.transport import ModbusTcpTransport

TYPES = ["uint16", "int16", "uint32", "float32", "int64", "float64"]
LIMIT = {"holding": 125, "input": 125, "coil": 2000, "discrete": 2000}


def window_template(
    rng: random.Random, name: str, points: int = 20, window: int = 120
) -> ModbusTemplate:
    """Return a template with points scattered (no overlap) inside one 120-register window."""
    taken: set[int] = set()
    specs: dict[str, ModbusPoint] = {}
    while len(specs) < points:
        kind = rng.choice(TYPES)
        size = REGISTERS[kind]
        start = rng.randrange(0, window - size + 1)
        if taken & set(range(start, start + size)):
            continue
        taken |= set(range(start, start + size))
        specs[f"p{len(specs)}"] = ModbusPoint(table="holding", address=start, type=kind)
    # max_gap 120: the template allows bridging any gap of the window (as a device with one
    # contiguous register block does), so the whole window is one request.
    return ModbusTemplate(template=name, title=name, transport="modbus", points=specs,
                    defaults={"max_gap": 120})  # type: ignore[arg-type]  # fmt: skip


def random_template(rng: random.Random, name: str) -> ModbusTemplate:
    """Return a random point table: 5-60 points over several tables with random gaps."""
    specs: dict[str, ModbusPoint] = {}
    for table in rng.sample(["holding", "input", "coil", "discrete"], rng.randint(1, 4)):
        address = rng.randrange(0, 200)
        for _ in range(rng.randint(1, 20)):
            kind = "uint16" if table in ("coil", "discrete") else rng.choice(TYPES)
            specs[f"p{len(specs)}"] = ModbusPoint(table=table, address=address, type=kind)  # type: ignore[arg-type]
            size = 1 if table in ("coil", "discrete") else REGISTERS[kind]
            address += size + rng.choice([0, 0, 1, 2, 5, 9, 15, 40, 130])
    max_gap = rng.choice([0, 1, 5, 10, 30, 120])
    return ModbusTemplate(template=name, title=name, transport="modbus", points=specs,
                    defaults={"max_gap": max_gap})  # type: ignore[arg-type]  # fmt: skip


def oracle(template: ModbusTemplate) -> int:
    """Return the fewest requests covering the template's points (DP, written independently)."""
    total = 0
    max_gap = template.defaults.max_gap
    for table, limit in LIMIT.items():
        spans = sorted(
            (p.address, p.address + p.register_count())
            for p in template.points.values()
            if p.table == table and p.address is not None
        )
        best = [0] + [10**9] * len(spans)  # best[j]: requests for the first j spans
        for j in range(1, len(spans) + 1):
            for i in range(j - 1, -1, -1):  # spans i..j-1 in one request?
                first, last_end = spans[i][0], max(e for _, e in spans[i:j])
                gaps_ok = all(spans[k + 1][0] - spans[k][1] <= max_gap for k in range(i, j - 1))
                if last_end - first > limit or not gaps_ok:
                    break
                best[j] = min(best[j], best[i] + 1)
        total += best[len(spans)]
    return total


def unit_for(template: ModbusTemplate, rng: random.Random) -> SimUnit:
    """Return a unit serving every register and bit the template names."""
    tables: dict[str, dict[int, Any]] = {"holding": {}, "input": {}, "coil": {}, "discrete": {}}
    for point in template.points.values():
        assert point.table is not None and point.address is not None
        for a in range(point.address, point.address + point.register_count()):
            bit = point.table in ("coil", "discrete")
            tables[point.table][a] = rng.random() < 0.5 if bit else rng.randrange(0, 65536)
    return SimUnit(1, holding=tables["holding"], input=tables["input"],
                   coils=tables["coil"], discrete=tables["discrete"])  # fmt: skip


async def measure(
    templates: list[ModbusTemplate], hosts: list[str], rng: random.Random
) -> dict[str, Any]:
    """Serve one template per host, read every point of every device; return the counts."""
    async with ModbusFarm(port=0) as farm:
        port = 0
        endpoints = []
        for host, template in zip(hosts, templates, strict=True):
            endpoint = await farm.add_server(ServerSpec(host, [unit_for(template, rng)], port=port))
            port = endpoint[1]
            endpoints.append(endpoint)
        devices = [
            Device(
                f"d{i}",
                DeviceSpec(template=t.template, transport="modbus-tcp", address=f"{h}:{p}", unit=1),
                t,
            )
            for i, ((h, p), t) in enumerate(zip(endpoints, templates, strict=True))
        ]
        transport = ModbusTcpTransport()
        start = time.perf_counter()
        results = await asyncio.gather(
            *(transport.read(d, list(d.template.points)) for d in devices)
        )
        elapsed = time.perf_counter() - start
        await transport.aclose()
        failed = sum(not r.ok for rs in results for r in rs)
        per_device = [farm.stats(*e).reads() for e in endpoints]
        return {"requests": sum(per_device), "per_device": per_device, "failed": failed,
                "points": sum(len(t.points) for t in templates), "seconds": elapsed}  # fmt: skip


def main() -> int:
    """Run P1 and print the figures; exit 1 when a target is missed."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--devices", type=int, default=50)
    parser.add_argument("--random", type=int, default=200, help="random tables to check")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    rng = random.Random(args.seed)
    hosts = loopback_hosts(args.devices, first="127.77.1.1")
    windows = [window_template(rng, f"w{i}") for i in range(args.devices)]
    one = asyncio.run(measure(windows, hosts, rng))
    naive = one["points"]
    ok_windows = one["requests"] == args.devices and one["failed"] == 0
    print(f"P1 window: {one['points']} points over {args.devices} devices -> "
          f"{one['requests']} read requests at the servers (target {args.devices}); "
          f"naive one-per-point: {naive} ({naive / one['requests']:.1f}x more); "
          f"{one['seconds'] * 1000:.0f} ms, {one['failed']} failed")  # fmt: skip
    mismatches = 0
    total_requests = total_oracle = total_points = 0
    for batch_start in range(0, args.random, args.devices):
        batch = [
            random_template(rng, f"r{i}")
            for i in range(batch_start, min(args.random, batch_start + args.devices))
        ]
        got = asyncio.run(measure(batch, hosts[: len(batch)], rng))
        expected = [oracle(t) for t in batch]
        mismatches += sum(g != e for g, e in zip(got["per_device"], expected, strict=True))
        mismatches += got["failed"] > 0
        total_requests += got["requests"]
        total_oracle += sum(expected)
        total_points += got["points"]
    print(f"P1 random: {args.random} random tables, {total_points} points -> {total_requests} "
          f"requests at the servers, oracle {total_oracle}, {mismatches} tables differ; "
          f"naive {total_points} ({total_points / max(1, total_requests):.1f}x more)")  # fmt: skip
    return 0 if ok_windows and mismatches == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
