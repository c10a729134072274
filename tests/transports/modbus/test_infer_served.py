"""Map inference against served maps: modes, lone electrical look-alikes, counters, 32-bit blocks.

Each unit is a real pymodbus server on loopback; `infer_unit` scans and reads it as
`smartbuild templates infer` does. Where values must move between reads, a task changes the
registers on the server while the scan runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import struct
from collections.abc import Callable
from typing import Any

from smartbuild.sim.peers.modbus_farm import ModbusFarm, ServerSpec, SimUnit
from smartbuild.transports.modbus.infer import Candidate
from smartbuild.transports.modbus.infer_scan import ScanPlan, infer_unit, parse_ranges
from smartbuild.transports.modbus.link import Link
from tests.transports.modbus.test_devices import sdm630

NET = f"127.{150 + os.getpid() % 50}.{os.getpid() % 250 + 1}"


def plan(reads: int = 3, interval: float = 0.0) -> ScanPlan:
    return ScanPlan(parse_ranges(["0-49"]), reads=reads, interval=interval)


async def scan(host: str, unit: SimUnit, reads: int = 3, interval: float = 0.0,
               tick: Callable[[int], dict[int, int]] | None = None) -> dict[tuple[str, int], Candidate]:  # fmt: skip
    """Serve ``unit``, infer its map; ``tick(step)`` gives input registers that change over time."""
    async with ModbusFarm([ServerSpec(host, [unit], port=0)]) as farm:
        (host, port), = farm.endpoints  # fmt: skip

        async def ticker() -> None:
            assert tick is not None
            step = 0
            while True:
                for address, value in tick(step).items():
                    await farm.set_registers(host, port, 1, "input", address, [value])
                step += 1
                await asyncio.sleep(0.05)

        def factory() -> Any:
            from pymodbus.client import AsyncModbusTcpClient

            return AsyncModbusTcpClient(host, port=port, timeout=1, retries=0)

        link = Link(f"{host}:{port}", factory, connect_delay_s=0, pause_s=0)
        task = asyncio.create_task(ticker()) if tick else None
        try:
            result = await infer_unit(link, 1, plan(reads, interval))
        finally:
            link.close()
            if task:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
    return {(c.table, c.address): c for c in result.points}


def what(c: Candidate) -> tuple[str, float, str | None]:
    return c.type, c.scale, c.quantity.name if c.quantity else None


async def test_modes_are_small_integers_and_a_controller_holds_no_mains() -> None:
    # a controller: a mode, setpoints of 35.0, 50.0 and 24.0 °C, a state, a room temperature
    unit = SimUnit(1, holding={0: 1, 1: 350, 2: 500, 3: 240, 4: 3}, input={0: 212, 1: 2, 2: 481})
    got = await scan(f"{NET}.1", unit)
    for key in (("holding", 0), ("holding", 4), ("input", 1)):
        assert what(got[key]) == ("uint16", 1.0, "state"), got[key]
    # 50.0 and 240 alone are no frequency and no mains voltage: nothing electrical is beside them
    for key in (("holding", 1), ("holding", 2), ("holding", 3), ("input", 0), ("input", 2)):
        assert what(got[key]) == ("int16", 0.1, "temperature"), got[key]
    # a small integer that moves between reads is a measurement, not a mode
    moving = await scan(f"{NET}.2", SimUnit(1, input={0: 212, 1: 5}), interval=0.12,
                        tick=lambda step: {1: 5 + step // 2})  # fmt: skip
    assert what(moving[("input", 1)]) == ("int16", 0.1, "temperature"), moving[("input", 1)]


async def test_a_meter_keeps_its_electrical_quantities() -> None:
    got = await scan(f"{NET}.3", sdm630(1), reads=2)
    assert {got[("input", a)].quantity.name for a in (0, 2, 4)} == {"voltage"}  # type: ignore[union-attr]
    assert got[("input", 30)].quantity.name == "power_factor"  # type: ignore[union-attr]
    # an integer meter: 230.1 V and 229.8 V in tenths, 5.2 A, 1150 W, 50.00 Hz, PF 0.970
    meter = SimUnit(1, input={0: 2301, 1: 2298, 2: 52, 3: 1150, 4: 5000, 5: 970})
    got = await scan(f"{NET}.7", meter, reads=2)
    assert what(got[("input", 0)]) == ("uint16", 0.1, "voltage"), got[("input", 0)]
    assert what(got[("input", 4)])[1:] == (0.01, "frequency"), got[("input", 4)]
    assert what(got[("input", 5)])[1:] == (0.001, "power_factor"), got[("input", 5)]


def f32_words(value: float) -> tuple[int, int]:
    high, low = struct.unpack(">HH", struct.pack(">f", value))
    return high, low


async def test_counters_rise_in_their_low_word_and_floats_are_no_counters() -> None:
    def tick(step: int) -> dict[int, int]:
        power = f32_words(1540.0 + 0.25 * step)  # a float whose high word holds still
        return {
            0: 1206 + min(step, 1), 1: 0,  # a power of 1206-1207 W, then a register of 0
            2: 0, 3: 6065 + 7 * step,  # a young energy counter: its high word still 0
            4: power[0], 5: power[1],
        }  # fmt: skip

    unit = SimUnit(1, input=tick(0))
    got = await scan(f"{NET}.4", unit, interval=0.12, tick=tick)
    counter = got[("input", 2)]
    assert (counter.type, counter.order, counter.scale) == ("uint32", "ABCD", 1.0)
    assert "rises like a counter" in counter.notes
    assert got[("input", 0)].type in ("uint16", "int16")  # not the high word of a counter
    assert (got[("input", 4)].type, got[("input", 4)].order) == ("float32", "ABCD")


async def test_a_block_of_zero_high_words_holds_32_bit_values() -> None:
    # a water meter's longs, high word first: flow 478 L/h, volume fractions, 3600 mV
    holding = {0: 0, 1: 478, 2: 0, 3: 0, 4: 0, 5: 16500, 6: 0, 7: 3600, 8: 0, 9: 12}
    got = await scan(f"{NET}.5", SimUnit(1, holding=holding))
    for address in (0, 4, 6, 8):
        c = got[("holding", address)]
        assert (c.type, c.order, c.count) == ("uint32", "ABCD", 2), c
        assert "every high word of its block reads 0" in c.notes
    assert not any(a % 2 for _, a in got)  # no 16-bit guess inside a pair
    # the same values with one high word set are 16-bit registers: no 32-bit guess
    holding[2] = 7
    mixed = await scan(f"{NET}.6", SimUnit(1, holding=holding))
    assert not any("every high word" in n for c in mixed.values() for n in c.notes)
