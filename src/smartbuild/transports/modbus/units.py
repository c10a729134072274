"""Modbus unit identification: is a unit there, and what does it say about itself.

One request decides whether a unit id is there: a one-register holding read, which every unit
answers (with data or an exception; gateways answer 0x0A/0x0B for "no such unit"). A silent unit
id therefore costs one timeout, no retry. Only a unit that answered gets the rest, with one retry
per request: FC43 device identification (basic, then regular), FC17 report server id, the
SunSpec marker (40000, 0, 50000) with a walk of the model chain, then the identify probes of
templates (a known register with a plausible value).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from smartbuild.transports.modbus.link import (
    READ_FUNCTIONS,
    Link,
    ModbusExceptionResponse,
    NoAnswer,
)

if TYPE_CHECKING:
    from smartbuild.transports.modbus.transport import ModbusTransport

BASIC_NAMES = {0: "vendor_name", 1: "product_code", 2: "revision", 3: "vendor_url",
               4: "product_name", 5: "model_name", 6: "user_application_name"}  # fmt: skip
NO_SUCH_UNIT = (0x0A, 0x0B)


async def ask(link: Link, function: str, *args: Any, **kwargs: Any) -> Any:
    """Send a request to a unit known to be there: one retry when it stays silent."""
    try:
        return await link.call(function, *args, **kwargs)
    except NoAnswer:
        return await link.call(function, *args, **kwargs)


async def unit_present(link: Link, unit: int) -> bool:
    """Return whether a unit answers at all (one request; a retry only if it answered before)."""
    answered = link.answered
    for attempt in range(2 if unit in answered else 1):
        try:
            await link.call("read_holding_registers", 0, count=1, device_id=unit)
        except ModbusExceptionResponse as error:
            if error.code in NO_SUCH_UNIT:
                return False
        except NoAnswer:
            if attempt or unit not in answered:
                return False
            continue
        answered.add(unit)
        return True
    return False


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


async def identify_unit(link: Link, unit: int) -> dict[str, Any] | None:
    """Return what a unit says about itself, or None when there is no such unit."""
    from pymodbus.constants import DeviceInformation

    if not await unit_present(link, unit):
        return None
    identity: dict[str, Any] = {}
    for code in (DeviceInformation.BASIC, DeviceInformation.REGULAR):
        try:
            response = await ask(link, "read_device_information", read_code=code,
                                 object_id=0, device_id=unit)  # fmt: skip
        except (ModbusExceptionResponse, NoAnswer):
            break  # no FC43 (or no regular level): the basic objects are what there is
        for object_id, value in response.information.items():
            name = BASIC_NAMES.get(object_id)
            if name and name not in identity:
                identity[name] = _text(value)
    try:
        response = await ask(link, "report_device_id", device_id=unit)
        raw = bytes(response.identifier)
        text = raw.decode("ascii", "replace")
        identity["server_id"] = text if text.isprintable() else raw.hex()
    except (ModbusExceptionResponse, NoAnswer):
        pass
    from smartbuild.transports.modbus.sunspec import detect

    async def read(address: int, count: int) -> list[int] | None:
        try:
            response = await ask(link, "read_holding_registers", address, count=count,
                                 device_id=unit)  # fmt: skip
        except (ModbusExceptionResponse, NoAnswer):
            return None
        return list(response.registers)

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
    from smartbuild.transports.modbus.transport import decode_point

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
