"""P2: an RTU bus at 19200 Bd with emulated wire time: read time vs the plan's summed wire time.

Four units (SDM630, SDM120, ACME CO2-100, ACME HP-50, with the shipped templates) share one bus:
a PtyBridge null modem that delivers every frame after its time on the wire (11 bits per
character as in 8E1, plus the 3.5-character gap; one half-duplex line). Every point of every
device is read through ModbusRtuTransport; the wire time of the plan is the sum, over the
requests the servers counted, of request (8 bytes) + response (5 + 2N bytes, or 5 + N/8 for
bits) frame times. Targets: total read time <= 1.1x that sum, and the plan's wire time (frames,
3.5-character gaps, the planner's turnaround allowance) <= 1.02x the best achievable, found by an
independent search over every valid grouping (the same max_gap and request limits); the
fewest-requests plan of v0.1 is shown beside it.

A pty takes no parity, so the line is opened 8N2: also 11 bits per character, the same timing.

    PYTHONPATH=src .venv/bin/python benchmarks/modbus_rtu.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import logging
import math
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the peers of tests/

from tests.transports.modbus.test_devices import acme_co2, acme_hp, sdm120, sdm630

from smartbuild.config.schema import DeviceSpec, SerialSpec
from smartbuild.services.registry import load_template_file as load_template
from smartbuild.sim.peers.modbus_farm import ModbusFarm
from smartbuild.sim.peers.ptybridge import PtyBridge, frame_time
from smartbuild.templates import TEMPLATE_DIR
from smartbuild.transports.base import Device
from smartbuild.transports.modbus.plan import plan_reads
from smartbuild.transports.modbus.timing import PLAN_TURNAROUND_S
from smartbuild.transports.modbus.transport import ModbusRtuTransport, spans_for

BAUD = 19200
UNITS = {1: ("eastron-sdm630", sdm630), 2: ("eastron-sdm120", sdm120),
         3: ("acme-co2-100", acme_co2), 4: ("acme-hp-50", acme_hp)}  # fmt: skip


def price(table: str, count: int) -> float:
    """Return the bus time of one read: both frames with their gaps, plus the turnaround."""
    payload = math.ceil(count / 8) if table in ("coil", "discrete") else 2 * count
    return frame_time(8, BAUD) + frame_time(5 + payload, BAUD) + PLAN_TURNAROUND_S


def wire_time(devices: list[Device], by_cost: bool = True) -> tuple[float, int]:
    """Return (seconds on the wire, requests) of one read of every point of every device."""
    total, count = 0.0, 0
    for device in devices:
        names = list(device.template.points)
        cost = price if by_cost else None
        for request in plan_reads(spans_for(device, names), device.setting("max_gap"), cost=cost):
            total += price(request.table, request.count)
            count += 1
    return total, count


def best_wire_time(devices: list[Device]) -> float:
    """Return the least wire time of any valid grouping (memoised search, not plan.py)."""
    total = 0.0
    for device in devices:
        max_gap = device.setting("max_gap")
        by_table: dict[str, list[tuple[int, int]]] = {}
        for span in spans_for(device, list(device.template.points)):
            by_table.setdefault(span.table, []).append((span.address, span.end))
        for table, items in by_table.items():
            spans = sorted(items)
            limit = 125 if table in ("holding", "input") else 2000

            @functools.cache
            def cover(first: int, spans: tuple[tuple[int, int], ...] = tuple(spans),
                      limit: int = limit, table: str = table, max_gap: int = max_gap) -> float:  # fmt: skip
                if first == len(spans):
                    return 0.0
                best, reach = math.inf, spans[first][1]
                for last in range(first, len(spans)):  # one request: spans first..last
                    if last > first and spans[last][0] - reach > max_gap:
                        break  # a gap too wide to bridge ends every longer window
                    reach = max(reach, spans[last][1])
                    if reach - spans[first][0] > limit:
                        break
                    best = min(best, price(table, reach - spans[first][0]) + cover(last + 1))
                return best

            total += cover(0)
    return total


async def run(rounds: int) -> int:
    """Measure rounds of full reads; print the figures; return the exit status."""
    async with PtyBridge(baudrate=BAUD) as bridge, ModbusFarm() as farm:
        await farm.add_rtu_bus(bridge.path_a, [make(u) for u, (_, make) in UNITS.items()],
                               baudrate=BAUD)  # fmt: skip
        serial = SerialSpec(baudrate=BAUD, parity="N", stopbits=2)
        devices = []
        for unit, (name, _) in UNITS.items():
            spec = DeviceSpec(template=name, transport="modbus-rtu", address=bridge.path_b,
                              unit=unit, serial=serial, timeout=2)  # fmt: skip
            devices.append(Device(name, spec, load_template(TEMPLATE_DIR / f"{name}.yaml")))
        transport = ModbusRtuTransport()
        await transport.read(devices[0], ["frequency"])  # open the port outside the timing
        wire, requests = wire_time(devices)
        stats = farm.stats(bridge.path_a, 0)
        times = []
        for _ in range(rounds):
            stats.requests.clear()
            start = time.perf_counter()
            results = await asyncio.gather(
                *(transport.read(d, list(d.template.points)) for d in devices)
            )
            times.append(time.perf_counter() - start)
            failed = sum(not r.ok for rs in results for r in rs)
            if failed or stats.reads() != requests:
                print(f"P2: {failed} points failed, {stats.reads()} requests (plan {requests})")
                return 1
        await transport.aclose()
    median = statistics.median(times)
    ratio = median / wire
    print(f"P2 RTU {BAUD} Bd 8E1-timed: {requests} requests for {sum(len(d.template.points) for d in devices)} "
          f"points on 4 units; plan wire time {wire * 1000:.1f} ms; read time median "
          f"{median * 1000:.1f} ms (min {min(times) * 1000:.1f}, max {max(times) * 1000:.1f}, "
          f"{rounds} rounds) = {ratio:.3f}x wire time (target <= 1.1x)")  # fmt: skip
    best = best_wire_time(devices)
    fewest, fewest_requests = wire_time(devices, by_cost=False)
    print(f"P2 plan: wire time {wire * 1000:.1f} ms ({requests} requests) = {wire / best:.4f}x the "
          f"best achievable {best * 1000:.1f} ms (target <= 1.02); fewest-requests plan "
          f"{fewest * 1000:.1f} ms ({fewest_requests} requests) = {fewest / best:.4f}x")  # fmt: skip
    return 0 if ratio <= 1.1 and wire / best <= 1.02 else 1


def main() -> int:
    """Parse arguments and run P2."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    return asyncio.run(run(args.rounds))


if __name__ == "__main__":
    raise SystemExit(main())
