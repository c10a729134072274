"""Modbus discovery: a bounded host sweep, a unit sweep per host, and identification.

Identification order: FC43 device identification (basic, then regular), FC17 report server id,
the SunSpec marker (40000, 0, 50000) with a walk of the model chain, then the identify probes of
templates (a known register with a plausible value). Gateways answering exception 0x0A/0x0B say
"no such unit" at once, so sweeping 247 ids behind one costs little.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from smartbuild.errors import SafetyRefusal
from smartbuild.transports.base import Candidate
from smartbuild.transports.modbus.targets import count_addresses, expand_targets
from smartbuild.transports.modbus.transport import (
    READ_FUNCTIONS,
    Link,
    ModbusExceptionResponse,
    NoAnswer,
    decode_point,
)

if TYPE_CHECKING:
    from smartbuild.transports.modbus.transport import ModbusTransport

MAX_ADDRESSES = 65_536  # a /16; more needs --yes
BASIC_NAMES = {0: "vendor_name", 1: "product_code", 2: "revision", 3: "vendor_url",
               4: "product_name", 5: "model_name", 6: "user_application_name"}  # fmt: skip
NO_SUCH_UNIT = (0x0A, 0x0B)


async def _listening(host: str, port: int, timeout: float) -> bool:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except (OSError, asyncio.TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


async def identify_unit(link: Link, unit: int) -> dict[str, Any] | None:
    """Return what a unit says about itself, or None when there is no such unit."""
    from pymodbus.constants import DeviceInformation

    identity: dict[str, Any] = {}
    exists = False
    try:
        response = await link.call(
            "read_device_information",
            read_code=DeviceInformation.BASIC,
            object_id=0,
            device_id=unit,
        )
        exists = True
        for object_id, value in response.information.items():
            name = BASIC_NAMES.get(object_id)
            if name:
                identity[name] = (
                    value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
                )
        try:
            regular = await link.call(
                "read_device_information",
                read_code=DeviceInformation.REGULAR,
                object_id=0,
                device_id=unit,
            )
            for object_id, value in regular.information.items():
                name = BASIC_NAMES.get(object_id)
                if name and name not in identity:
                    identity[name] = (
                        value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
                    )
        except (ModbusExceptionResponse, NoAnswer):
            pass
    except ModbusExceptionResponse as error:
        if error.code in NO_SUCH_UNIT:
            return None
        exists = True  # it answered: the unit is there, it just lacks FC43
    except NoAnswer:
        pass
    try:
        response = await link.call("report_device_id", device_id=unit)
        exists = True
        raw = bytes(response.identifier)
        text = raw.decode("ascii", "replace")
        identity["server_id"] = text if text.isprintable() else raw.hex()
    except ModbusExceptionResponse as error:
        if error.code in NO_SUCH_UNIT:
            return None if not exists else identity
        exists = True
    except NoAnswer:
        pass
    if not exists:
        try:  # a plain register read: any answer, even an exception, proves the unit exists
            await link.call("read_holding_registers", 0, count=1, device_id=unit)
            exists = True
        except ModbusExceptionResponse as error:
            exists = error.code not in NO_SUCH_UNIT
        except NoAnswer:
            return None
    if not exists:
        return None
    from smartbuild.transports.modbus.sunspec import detect

    async def read(address: int, count: int) -> list[int] | None:
        try:
            return list(
                (
                    await link.call("read_holding_registers", address, count=count, device_id=unit)
                ).registers
            )
        except (ModbusExceptionResponse, NoAnswer):
            return None

    sunspec = await detect(read)
    if sunspec:
        identity["sunspec"] = sunspec
    return identity


async def run_probes(
    transport: ModbusTransport,
    link: Link,
    unit: int,
    identity: dict[str, Any],
    templates: dict[str, Any],
) -> None:
    """Read each template's identify probe point and record the values (for identify_device).

    When several templates would match (a family sharing one map: an SDM630 also answers the
    SDM120's frequency probe), only those whose whole register map the unit serves stay, and of
    those the largest map: the single-phase meter's map is a subset of the three-phase one's.
    """
    from smartbuild.transports.modbus.family import match_modbus

    probes: dict[str, float] = {}
    for name, template in templates.items():
        if template.transport != "modbus":
            continue
        rules = template.identify.modbus if template.identify else None
        if rules is None or rules.probe is None:
            continue
        point = template.points.get(rules.probe.point)
        if point is None or point.table is None:
            continue
        values = await _read_point(link, unit, template, point)
        if values is None:
            continue
        try:
            value, _, _ = decode_point(_probe_device(name, template), rules.probe.point, values)
        except ValueError:
            continue
        if isinstance(value, (int, float)):
            probes[name] = value
    contenders = [
        name
        for name in probes
        if match_modbus(templates[name].identify.modbus, {**identity, "probes": probes}, name)
    ]
    if len(contenders) > 1:
        served = [n for n in contenders if await _serves_map(link, unit, templates[n])]
        if served:
            largest = max(len(templates[n].points) for n in served)
            for name in contenders:
                if name not in served or len(templates[name].points) < largest:
                    del probes[name]
    if probes:
        identity["probes"] = probes


def _probe_device(name: str, template: Any) -> Any:
    from smartbuild.config.schema import DeviceSpec
    from smartbuild.transports.base import Device

    return Device("probe", DeviceSpec(template=name, transport="modbus-tcp", address="-"), template)


async def _read_point(link: Link, unit: int, template: Any, point: Any) -> list[Any] | None:
    try:
        response = await link.call(
            READ_FUNCTIONS[point.table],
            template.pdu_address(point),
            count=point.register_count(),
            device_id=unit,
        )
    except (ModbusExceptionResponse, NoAnswer):
        return None
    values = response.bits if point.table in ("coil", "discrete") else response.registers
    return list(values[: point.register_count()])


async def _serves_map(link: Link, unit: int, template: Any) -> bool:
    """Return True when the unit answers every read of the template's planned map."""
    from smartbuild.transports.modbus.plan import plan_reads
    from smartbuild.transports.modbus.transport import spans_for

    device = _probe_device(template.template, template)
    requests = plan_reads(
        spans_for(device, list(template.points)),
        template.defaults.max_gap,
        max_registers=template.defaults.max_read_registers,
    )
    for request in requests:
        try:
            await link.call(
                READ_FUNCTIONS[request.table], request.address, count=request.count, device_id=unit
            )
        except (ModbusExceptionResponse, NoAnswer):
            return False
    return True


async def discover(
    transport: ModbusTransport, options: dict[str, Any], found: Callable[[Candidate], None]
) -> None:
    """Run a Modbus discovery (TCP targets or RTU ports) and report candidates."""
    from smartbuild.transports.modbus.transport import quiet_pymodbus

    quiet_pymodbus()
    templates = options["templates"]
    progress = options.get("progress") or (lambda text: None)
    units: list[int] = options.get("units") or [1]
    timeout = float(options.get("timeout") or 0.5)
    if transport.name == "modbus-rtu":
        await _discover_rtu(transport, options, units, timeout, templates, found, progress)
        return
    targets = list(options.get("targets") or [])
    total = count_addresses(targets)
    if total > MAX_ADDRESSES and not options.get("yes"):
        raise SafetyRefusal(
            f"refusing to sweep {total} addresses (more than a /16) without --yes",
            hint="narrow the targets, or pass --yes if you really mean it",
        )
    hosts = expand_targets(targets, int(options.get("port") or 502))
    limit = asyncio.Semaphore(int(options.get("concurrency") or 64))
    done = 0
    listening: list[tuple[str, int]] = []

    async def sweep(host: str, port: int) -> None:
        nonlocal done
        async with limit:
            if await _listening(host, port, max(timeout, 0.2)):
                listening.append((host, port))
            done += 1
            progress(f"hosts {done}/{len(hosts)}, {len(listening)} listening")

    await asyncio.gather(*(sweep(h, p) for h, p in hosts))

    async def units_of(host: str, port: int) -> None:
        async with limit:

            def factory() -> Any:
                from pymodbus.client import AsyncModbusTcpClient

                return AsyncModbusTcpClient(
                    host, port=port, timeout=timeout, retries=0, reconnect_delay=0
                )

            link = Link(f"{host}:{port}", factory, connect_delay_s=0, pause_s=0)
            try:
                seen: list[dict[str, Any]] = []
                for unit in units:
                    try:
                        identity = await identify_unit(link, unit)
                        if identity is None:
                            continue
                        # 0 and 255 usually reach the same TCP-native device as unit 1: once
                        if unit in (0, 255) and identity in seen:
                            continue
                        seen.append(identity)
                        await run_probes(transport, link, unit, identity, templates)
                    except Exception as error:  # a device answering nonsense fails alone
                        transport.warn(
                            f"modbus-tcp: {_address(host, port)} unit {unit} answered what is "
                            f"not Modbus ({type(error).__name__}: {error}); skipped"
                        )
                        break  # the rest of its units would answer the same way
                    found(Candidate("modbus-tcp", _address(host, port), unit, identity=identity))
            finally:
                link.close()

    await asyncio.gather(*(units_of(h, p) for h, p in listening))


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def _discover_rtu(transport: ModbusTransport, options: dict[str, Any], units: list[int], timeout: float,
                        templates: dict[str, Any], found: Callable[[Candidate], None], progress: Callable[[str], None]) -> None:  # fmt: skip
    from smartbuild.transports.modbus.transport import check_serial_port

    parity = options.get("parity") or "E"
    for port in options.get("ports") or []:
        check_serial_port(port, port)
        for baud in options.get("bauds") or [9600]:

            def factory(port: str = port, baud: int = baud) -> Any:
                from pymodbus.client import AsyncModbusSerialClient

                return AsyncModbusSerialClient(port, baudrate=baud, parity=parity, stopbits=1 if parity != "N" else 2,
                                               timeout=timeout, retries=0, reconnect_delay=0)  # fmt: skip

            link = Link(port, factory, connect_delay_s=0, pause_s=0)
            try:
                for index, unit in enumerate(units):
                    progress(f"{port} @ {baud} Bd: unit {unit} ({index + 1}/{len(units)})")
                    try:
                        identity = await identify_unit(link, unit)
                        if identity is None:
                            continue
                        await run_probes(transport, link, unit, identity, templates)
                    except Exception as error:  # a unit answering nonsense fails alone
                        transport.warn(f"modbus-rtu: {port} unit {unit} answered what is not "
                                       f"Modbus ({type(error).__name__}: {error}); skipped")  # fmt: skip
                        continue
                    serial = {
                        "baudrate": baud,
                        "parity": parity,
                        "stopbits": 1 if parity != "N" else 2,
                    }
                    found(Candidate("modbus-rtu", port, unit, identity=identity, serial=serial))
            finally:
                link.close()
