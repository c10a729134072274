"""Peers for every shipped Modbus template, and the transport reading each one with the fewest requests.

The builders here (``sdm630()``, ``acme_hp()``, ``sunspec_inverter()``, ...) return farm units whose
registers are written from the public maps with ``struct``, independently of smartbuild's codec, so
reading them through a template checks the template and the transport together. ``ThreadedFarm``
runs a ``ModbusFarm`` on its own event loop in a thread, for tests that drive the CLI (whose
``run_sync`` needs the test thread): ``from tests.transports.modbus.test_devices import ThreadedFarm``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import struct
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import pytest

from smartbuild.config.schema import DeviceSpec
from smartbuild.services.registry import load_template_file as load_template
from smartbuild.sim.peers.modbus_farm import ModbusFarm, ServerSpec, SimUnit
from smartbuild.templates import TEMPLATE_DIR
from smartbuild.transports.base import Device
from smartbuild.transports.modbus.plan import plan_reads
from smartbuild.transports.modbus.sunspec import model_points
from smartbuild.transports.modbus.transport import NOT_IMPLEMENTED, ModbusTcpTransport, spans_for
from tests.rigs import FarmThread

T = TypeVar("T")
# A per-process /24 (not the one tests/sim uses) keeps parallel runs on this machine apart.
NET = f"127.{200 + os.getpid() % 50}.{os.getpid() % 250 + 1}"


def acme(product: str, revision: str = "1.0") -> dict[str, str]:
    """Return the FC43 identity objects of an ACME reference device."""
    return {"VendorName": "ACME", "ProductCode": product, "MajorMinorRevision": revision}


def f32(value: float) -> list[int]:
    """Return a float32 as two registers, high word first (ABCD)."""
    hi, lo = struct.unpack(">HH", struct.pack(">f", value))
    return [hi, lo]


def u32(value: int) -> list[int]:
    """Return a uint32 as two registers, high word first."""
    return [value >> 16 & 0xFFFF, value & 0xFFFF]


def s16(value: int) -> int:
    """Return a signed 16-bit value as its register."""
    return value & 0xFFFF


def _floats(values: dict[int, float]) -> dict[int, int]:
    out: dict[int, int] = {}
    for address, value in values.items():
        out[address], out[address + 1] = f32(value)
    return out


SDM630_VALUES = {0: 230.1, 2: 229.8, 4: 231.0, 6: 5.0, 8: 4.5, 10: 6.25, 12: 1150.5, 14: 1034.1,
                 16: 1443.75, 30: 0.98, 32: 0.97, 34: 0.99, 52: 3628.35, 56: 3700.0, 60: -120.0,
                 62: 0.98, 70: 50.02, 72: 12345.5, 74: 789.25, 200: 398.5, 202: 399.0, 204: 400.5,
                 224: 0.75, 342: 13134.75}  # fmt: skip
SDM120_VALUES = {0: 231.5, 6: 2.5, 12: 575.0, 18: 580.0, 24: 20.0, 30: 0.99, 36: 1.5, 70: 49.98,
                 72: 321.25, 74: 0.5, 76: 10.0, 78: 1.0, 342: 321.75}  # fmt: skip


def sdm630(unit: int = 1, **kwargs: Any) -> SimUnit:
    """Return an SDM630 (no FC43, float32 input registers) drawing 3.63 kW."""
    return SimUnit(unit, input=_floats(SDM630_VALUES), **kwargs)


def sdm120(unit: int = 1, **kwargs: Any) -> SimUnit:
    """Return an SDM120 (single phase: nothing at the line-to-line registers)."""
    return SimUnit(unit, input=_floats(SDM120_VALUES), **kwargs)


def acme_th200(unit: int = 1, **kwargs: Any) -> SimUnit:
    """Return an ACME TH-200 room thermostat at 21.5 °C, 48 %, heating setpoint 21.0 °C."""
    return SimUnit(unit, identity=acme("TH-200", "1.4"), input={0: 215, 1: 480},
                   holding={10: 210, 11: 260, 12: 1}, discrete={0: True}, **kwargs)  # fmt: skip


def acme_co2(unit: int = 1, **kwargs: Any) -> SimUnit:
    """Return an ACME CO2-100 reading 812 ppm, 22.4 °C, 45.5 %."""
    return SimUnit(unit, identity=acme("CO2-100"), input={0: 812, 1: 224, 2: 455},
                   holding={10: 1000, 11: 1400}, discrete={0: False}, **kwargs)  # fmt: skip


def acme_hp(unit: int = 1, **kwargs: Any) -> SimUnit:
    """Return an ACME HP-50 heat pump, enabled, 1.85 kW, outdoor -3.5 °C."""
    inputs = {0: 352, 1: 301, 2: s16(-35), 3: 481, 4: 1850, 6: 0, 7: 0}
    inputs[6], inputs[7] = u32(4_567_890)
    return SimUnit(unit, identity=acme("HP-50"), coils={0: True}, holding={0: 350, 1: 500, 2: 1},
                   input=inputs, discrete={0: True, 1: False, 2: False}, **kwargs)  # fmt: skip


def acme_ahu(unit: int = 1, **kwargs: Any) -> SimUnit:
    """Return an ACME AHU-20 in mode "on" at 60 %, filter alarm set."""
    return SimUnit(unit, identity=acme("AHU-20"), holding={0: 1, 1: 60, 2: 900, 3: 190},
                   input={0: 188, 1: 231, 2: s16(-21), 3: 720, 4: 58, 5: 0b01}, **kwargs)  # fmt: skip


def acme_evc(unit: int = 1, **kwargs: Any) -> SimUnit:
    """Return an ACME EVC-22 charging at 11.04 kW with a 16 A limit."""
    inputs = {0: 2, 6: 160, 7: 160, 8: 159}
    inputs[2], inputs[3] = u32(11_040)
    inputs[4], inputs[5] = u32(7_250)
    return SimUnit(unit, identity=acme("EVC-22"), holding={0: 160}, coils={0: True},
                   input=inputs, **kwargs)  # fmt: skip


def _text(text: str, registers: int) -> list[int]:
    raw = text.encode().ljust(registers * 2, b"\x00")
    return [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)]


def sunspec_registers(
    chain: Sequence[int], values: dict[str, int], common: dict[str, str], base: int = 40000
) -> dict[int, int]:
    """Return holding registers of a SunSpec device: marker, model chain, end marker."""
    regs = {base: 0x5375, base + 1: 0x6E53}
    address = base + 2
    for model_id in chain:
        points = model_points(model_id)
        length = sum(size for _, size, _ in points.values()) - 2
        block = [0] * (length + 2)
        block[0], block[1] = model_id, length
        for name, (offset, size, kind) in points.items():
            if name in common:
                block[offset : offset + size] = _text(common[name], size)
            elif name in values:
                value = values[name]
                block[offset : offset + size] = u32(value) if size == 2 else [s16(value)]
            elif kind in ("int16", "sunssf"):
                block[offset] = 0x8000  # SunSpec's "not implemented"
            elif kind in ("uint16", "enum16", "bitfield16", "acc16"):
                block[offset] = 0xFFFF if name not in ("ID", "L") else block[offset]
        regs.update({address + i: v for i, v in enumerate(block)})
        address += len(block)
    regs[address], regs[address + 1] = 0xFFFF, 0
    return regs


INVERTER_COMMON = {"Mn": "SunSim", "Md": "PV-10K", "Vr": "2.1", "SN": "INV0001"}
INVERTER_VALUES = {"W": 5432, "W_SF": 0, "A": 790, "AphA": 263, "AphB": 264, "AphC": 263,
                   "A_SF": -2, "Hz": 5001, "Hz_SF": -2, "WH": 1_234_567, "WH_SF": 0,
                   "St": 4, "WMaxLimPct": 1000, "WMaxLimPct_SF": -1, "WMaxLim_Ena": 1,
                   "WMaxLimPct_RvrtTms": 0}  # fmt: skip
METER_COMMON = {"Mn": "SunSim", "Md": "MTR-3", "Vr": "1.0", "SN": "MTR0001"}
METER_VALUES = {"W": -2500, "W_SF": 0, "Hz": 5000, "Hz_SF": -2, "TotWhImp": 987_654,
                "TotWhExp": 123_456, "TotWh_SF": 0, "PhVphA": 2301, "V_SF": -1}  # fmt: skip


def sunspec_inverter(unit: int = 1, **kwargs: Any) -> SimUnit:
    """Return a SunSpec inverter (models 1, 103, 123) producing 5.432 kW, limit 100.0 %."""
    holding = sunspec_registers([1, 103, 123], INVERTER_VALUES, INVERTER_COMMON)
    return SimUnit(unit, holding=holding, **kwargs)


def sunspec_meter(unit: int = 1, **kwargs: Any) -> SimUnit:
    """Return a SunSpec wye meter (models 1, 203) exporting 2.5 kW."""
    return SimUnit(unit, holding=sunspec_registers([1, 203], METER_VALUES, METER_COMMON), **kwargs)


BUILDERS: dict[str, Callable[..., SimUnit]] = {
    "eastron-sdm630": sdm630, "eastron-sdm120": sdm120, "acme-th200": acme_th200,
    "acme-co2-100": acme_co2, "acme-hp-50": acme_hp, "acme-ahu-20": acme_ahu,
    "acme-evc-22": acme_evc, "sunspec-inverter": sunspec_inverter, "sunspec-meter": sunspec_meter,
}  # fmt: skip


ThreadedFarm = FarmThread  # the shared rig (tests/rigs.py)


@pytest.fixture(autouse=True)
def _quiet_pymodbus() -> Iterator[None]:
    logger = logging.getLogger("pymodbus")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    yield
    logger.setLevel(level)


def _device(name: str, address: str, unit: int = 1) -> Device:
    template = load_template(TEMPLATE_DIR / f"{name}.yaml")
    spec = DeviceSpec(template=name, transport="modbus-tcp", address=address, unit=unit)
    return Device(name, spec, template)


EXPECTED: dict[str, dict[str, Any]] = {
    "eastron-sdm630": {"total_power": 3.62835, "frequency": 50.02, "import_energy": 12345.5,
                       "voltage_l1_l2": 398.5, "power_factor_l2": 0.97, "total_energy": 13134.75},
    "eastron-sdm120": {"power": 0.575, "voltage": 231.5, "export_energy": 0.5},
    "acme-th200": {"room_temperature": 21.5, "heating_setpoint": 21.0, "hvac_mode": 1,
                   "occupancy": True},
    "acme-co2-100": {"co2": 812, "temperature": 22.4, "humidity": 45.5, "co2_setpoint": 1000,
                     "sensor_fault": False},
    "acme-hp-50": {"enable": True, "flow_setpoint": 35.0, "outdoor_temperature": -3.5,
                   "power": 1.85, "energy_total": 4567.89, "compressor_running": True},
    "acme-ahu-20": {"ventilation_mode": 1, "fan_speed": 60, "outdoor_temperature": -2.1,
                    "filter_alarm": True, "frost_protection": False},
    "acme-evc-22": {"current_limit": 16.0, "enable": True, "state": 2, "power": 11.04,
                    "session_energy": 7.25, "current_l3": 15.9},
    "sunspec-inverter": {"W": 5.432, "A": 7.9, "Hz": 50.01, "WMaxLimPct": 100.0,
                         "WMaxLim_Ena": 1, "Mn": "SunSim", "SN": "INV0001", "St": 4},
    "sunspec-meter": {"W": -2.5, "TotWhImp": 987.654, "TotWhExp": 123.456, "PhVphA": 230.1,
                      "Md": "MTR-3"},
}  # fmt: skip


def _unimplemented(name: str, device: Device) -> list[str]:
    if not name.startswith("sunspec-"):
        return []
    given = INVERTER_VALUES if name == "sunspec-inverter" else METER_VALUES
    return [
        point
        for point, spec in device.template.points.items()
        if spec.sf
        and (spec.sf not in given or (point not in given and spec.type in ("int16", "uint16")))
    ]


@pytest.mark.parametrize("name", sorted(BUILDERS))
async def test_every_template_reads_its_peer_with_the_minimal_plan(name: str) -> None:
    async with ModbusFarm([ServerSpec(f"{NET}.20", [BUILDERS[name](3)], port=0)]) as farm:
        host, port = farm.endpoints[0]
        device = _device(name, f"{host}:{port}", unit=3)
        transport = ModbusTcpTransport()
        names = list(device.template.points)
        try:
            readings = await transport.read(device, names)
        finally:
            await transport.aclose()
        values = {r.point: r.value for r in readings if r.ok}
        for point, expected in EXPECTED[name].items():
            got = values[point]
            if isinstance(expected, float):
                assert got == pytest.approx(expected, rel=1e-6), point
            else:
                assert got == expected, point
        # Every point is served, and the server saw exactly the planner's count. SunSpec points
        # the peer leaves "not implemented" (0x8000/0xFFFF, or a 0x8000 scale factor) say so.
        assert {r.point: r.error for r in readings if not r.ok} == dict.fromkeys(
            _unimplemented(name, device), NOT_IMPLEMENTED
        )
        if name == "sunspec-inverter":  # PF_SF left 0x8000; TmpCab left 0x8000 with its SF
            assert {"PF", "TmpCab", "DCW"} <= {r.point for r in readings if not r.ok}
        planned = plan_reads(spans_for(device, names), device.setting("max_gap"))
        stats = farm.stats(host, port)
        assert stats.reads(unit=3) == len(planned) == transport.stat(name).requests
        assert stats.connections == 1


async def test_sdm630_six_points_cost_three_requests() -> None:
    async with ModbusFarm([ServerSpec(f"{NET}.21", [sdm630(1)], port=0)]) as farm:
        host, port = farm.endpoints[0]
        device = _device("eastron-sdm630", f"{host}:{port}")
        transport = ModbusTcpTransport()
        points = ["voltage_l1", "current_l1", "total_power", "frequency", "import_energy",
                  "voltage_l1_l2"]  # fmt: skip
        readings = await transport.read(device, points)
        await transport.aclose()
        assert all(r.ok for r in readings)
        # Input 0..7 (a 4-register gap is bridged), 52..73 (44 registers from 7: more than
        # max_gap 20) and 200..201: three windows, each point read once.
        assert farm.stats(host, port).reads(unit=1, fc=4) == 3
        assert transport.stat("eastron-sdm630").requests == 3


async def test_a_sunspec_write_divides_by_the_scale_factor_on_the_wire() -> None:
    async with ModbusFarm([ServerSpec(f"{NET}.22", [sunspec_inverter(1)], port=0)]) as farm:
        host, port = farm.endpoints[0]
        device = _device("sunspec-inverter", f"{host}:{port}")
        transport = ModbusTcpTransport()
        await transport.write(device, "WMaxLimPct", 62.5)
        readings = await transport.read(device, ["WMaxLimPct"])
        await transport.aclose()
        address = device.template.pdu_address(device.template.points["WMaxLimPct"])
        assert await farm.get_registers(host, port, 1, "holding", address) == [625]  # SF -1
        assert readings[0].value == pytest.approx(62.5)


def test_threaded_farm_serves_while_the_test_thread_runs_its_own_loop() -> None:
    farm = ThreadedFarm([ServerSpec(f"{NET}.23", [acme_co2(1)], port=0)])
    try:
        endpoint = f"{farm.farm.endpoints[0][0]}:{farm.farm.endpoints[0][1]}"
        device = _device("acme-co2-100", endpoint)

        async def read() -> list[Any]:
            transport = ModbusTcpTransport()
            try:
                return await transport.read(device, ["co2", "co2_setpoint"])
            finally:
                await transport.aclose()

        readings = asyncio.run(read())
        assert [r.value for r in readings] == [812, 1000]
        assert farm.stats(endpoint).reads(unit=1) == 2  # input 0 and holding 10: two tables
    finally:
        farm.stop()
