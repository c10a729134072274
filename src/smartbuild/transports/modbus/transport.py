"""Modbus TCP and RTU transports on pymodbus async clients.

One link (TCP connection or serial port) per host:port or port, shared by every unit behind it, with
one request in flight (many gateways handle only one). Reads go through the pure read planner, so
the points of a device cost the fewest requests; a device refusing a bridged window (exception 02)
gets it split, and the gap is remembered for the rest of the run. pymodbus is imported lazily.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

from smartbuild.config.secret import Secret, reveal_text
from smartbuild.errors import DeviceError, DeviceRejected, ExitStatus, NotSent, UsageError
from smartbuild.transports.base import (
    Candidate,
    Device,
    DiscoverContext,
    DiscoverOptions,
    Reading,
    Transport,
)
from smartbuild.transports.modbus.family import (
    ModbusFamily,
    ModbusRtuOptions,
    ModbusTcpOptions,
    follow_tcp,
)
from smartbuild.transports.modbus.link import (
    EXCEPTION_NAMES,
    READ_FUNCTIONS,
    Link,
    ModbusExceptionResponse,
    NoAnswer,
    Redactor,
    quiet_pymodbus,
)
from smartbuild.transports.modbus.plan import (
    AddressRange,
    ReadRequest,
    Span,
    plan_reads,
    split_window,
)
from smartbuild.transports.modbus.targets import split_host_port

# The link and its errors live in link.py, target parsing in targets.py; both stay importable here.
__all__ = [
    "EXCEPTION_NAMES", "READ_FUNCTIONS", "Link", "ModbusExceptionResponse", "ModbusRtuTransport",
    "ModbusTcpTransport", "ModbusTransport", "NoAnswer", "check_serial_port", "decode_point",
    "quiet_pymodbus", "spans_for", "split_host_port",
]  # fmt: skip


def spans_for(device: Device, names: Sequence[str]) -> list[Span]:
    """Return the planner spans of points (on-wire PDU addresses)."""
    template = device.template
    spans = []
    for name in names:
        point = template.points[name]
        assert point.table is not None
        spans.append(Span(name, point.table, template.pdu_address(point), point.register_count()))
    return spans


def decode_point(device: Device, name: str, words: list[Any]) -> tuple[Any, Any, str | None]:
    """Return (value, raw, enum label) of a point from its registers or bits."""
    from smartbuild.transports.modbus import codec as modbus_codec

    point = device.template.points[name]
    if point.table in ("coil", "discrete"):
        value: Any = bool(words[0])
        return value, int(value), None
    if point.bit is not None:
        value = bool((int(words[0]) >> point.bit) & 1)
        return value, int(words[0]), None
    value = modbus_codec.decode(
        [int(w) for w in words], point.type.upper(), device.template.word_order(point),
        point.scale, point.offset,
    )  # fmt: skip
    label = point.enum.get(int(value)) if point.enum and isinstance(value, (int, float)) else None
    return value, list(words) if len(words) > 1 else int(words[0]), label


SUNSPEC_NO_SF = -32768  # 0x8000: SunSpec's "not implemented" for a scale factor
NOT_IMPLEMENTED = "not implemented by the device (SunSpec 'unimplemented' value)"
_UNIMPLEMENTED = {"int16": [0x8000], "uint16": [0xFFFF], "int32": [0x8000, 0],
                  "uint32": [0xFFFF, 0xFFFF]}  # fmt: skip


def _decode_error(error: ValueError) -> str:
    text = str(error)
    return text if text == NOT_IMPLEMENTED else f"cannot decode: {text}"


def _unimplemented(point: Any, words: list[Any]) -> bool:
    """Return True when a scale-factor point holds SunSpec's "not implemented" pattern."""
    return [int(w) for w in words] == _UNIMPLEMENTED.get(point.type)


def _apply_sf(value: Any, scale: float, offset: float, exponent: int) -> float:
    """Apply a SunSpec scale factor: raw x 10^sf (the template's scale/offset already applied)."""
    raw = (value - offset) / scale
    return round(raw * 10.0**exponent, max(0, -exponent)) * scale + offset


class ModbusTransport(Transport):
    """Shared machinery of the TCP and RTU transports."""

    family = ModbusFamily

    def __init__(self, warn: Callable[[str], None] | None = None) -> None:
        super().__init__(warn)
        self.links: dict[str, Link] = {}
        self.no_bridge: dict[tuple[str, int], set[AddressRange]] = {}
        quiet_pymodbus(int(os.environ.get("SMARTBUILD_VERBOSE", "0")))
        self.redactor = Redactor()

    def link_key(self, device: Device) -> str:
        """Return the key of the link that reaches a device."""
        raise DeviceError(device.id, f"transport {self.name} has no link")

    def make_client(self, device: Device) -> Callable[[], Any]:
        """Return a factory of the pymodbus client for a device's link."""
        raise DeviceError(device.id, f"transport {self.name} has no client")

    def link(self, device: Device) -> Link:
        """Return the shared link of a device, creating it on first use."""
        key = self.link_key(device)
        if isinstance(device.spec.address, Secret) and key not in self.redactor.texts:
            address = reveal_text(device.spec.address)
            self.redactor.texts.update({key, address, address.rpartition(":")[0] or address})
            self.redactor.attach()
        if key not in self.links:
            self.links[key] = Link(
                key,
                self.make_client(device),
                label=str(device.spec.address),  # "***" when the address is a !secret
                connect_delay_s=device.setting("connect_delay_ms") / 1000,
                pause_s=device.setting("pause_ms") / 1000,
            )
        return self.links[key]

    def plan_cost(self, device: Device) -> Callable[[str, int], float] | None:
        """Return the price of one read for the planner (None: fewest requests)."""
        return None

    def unit(self, device: Device) -> int:
        """Return the unit id of a device (1 when the site does not say)."""
        return device.spec.unit if device.spec.unit is not None else 1

    async def read(self, device: Device, points: Sequence[str]) -> list[Reading]:
        """Read points with the fewest requests; split windows the device refuses."""
        template = device.template
        names = list(points)
        # SunSpec-style scale factors live in other registers: read them in the same plan
        factors = [sf for n in names if (sf := template.points[n].sf) is not None]
        wanted = list(dict.fromkeys([*names, *factors]))
        spans = spans_for(device, wanted)
        try:
            link = self.link(device)
        except DeviceError as error:  # e.g. a missing serial port: this device only, not the run
            stat = self.stat(device.id)
            stat.errors += 1
            stat.last_error = error.cause
            text = error.cause + (f" ({error.hint})" if error.hint else "")
            return [Reading(device.id, n, unit=template.points[n].unit, error=text) for n in names]
        unit = self.unit(device)
        learned = self.no_bridge.setdefault((link.key, unit), set())
        queue: list[ReadRequest] = plan_reads(
            spans,
            device.setting("max_gap"),
            no_bridge=learned,
            max_registers=template.defaults.max_read_registers,
            cost=self.plan_cost(device),
        )
        words: dict[str, list[Any]] = {}
        errors: dict[str, str] = {}
        stat = self.stat(device.id)
        while queue:
            request = queue.pop(0)
            stat.requests += 1
            try:
                response = await link.call(
                    READ_FUNCTIONS[request.table],
                    request.address,
                    count=request.count,
                    device_id=unit,
                )
            except ModbusExceptionResponse as error:
                stat.errors += 1
                stat.last_error = str(error)
                if error.code == 2 and len(request.spans) > 1:
                    split = split_window(request)
                    learned.update(split.no_bridge)
                    queue[:0] = list(split.requests)
                    continue
                for key in request.keys:
                    errors[key] = f"{error} (unit {unit})"
                continue
            except NoAnswer as error:
                stat.errors += 1
                stat.timeouts += 1
                stat.last_error = str(error)
                # a silent device costs (retries + 1) x timeout once, not once per request
                for key in [k for r in [request, *queue] for k in r.keys]:
                    errors[key] = f"{error} ({link.label} unit {unit})"
                break
            values = response.bits if request.table in ("coil", "discrete") else response.registers
            for span in request.spans:
                start = span.address - request.address
                chunk = list(values[start : start + span.count])
                if len(chunk) < span.count:
                    errors[span.key] = f"short response: {len(chunk)} of {span.count} values"
                else:
                    words[span.key] = chunk
        readings = []
        for name in names:
            point = template.points[name]
            if point.sf and point.sf not in words and name in words:
                errors[name] = f"scale factor {point.sf}: {errors.get(point.sf, 'not read')}"
                del words[name]
            if name in words:
                try:
                    value, raw, label = decode_point(device, name, words[name])
                    if point.sf:
                        exponent, _, _ = decode_point(device, point.sf, words[point.sf])
                        if int(exponent) == SUNSPEC_NO_SF or _unimplemented(point, words[name]):
                            raise ValueError(NOT_IMPLEMENTED)
                        value = _apply_sf(value, point.scale, point.offset, int(exponent))
                except ValueError as error:
                    readings.append(
                        Reading(device.id, name, unit=point.unit, error=_decode_error(error))
                    )
                    continue
                readings.append(Reading(device.id, name, value, point.unit, raw, label))
            else:
                readings.append(
                    Reading(device.id, name, unit=point.unit, error=errors.get(name, "not read"))
                )
        return readings

    async def write(self, device: Device, point_name: str, value: Any) -> None:
        """Write one point: FC6/FC16 for holding registers, FC5 for coils; never input tables."""
        from smartbuild.transports.modbus import codec as modbus_codec

        device.point(point_name)  # a helpful error for an unknown point
        point = device.template.points[point_name]
        template = device.template
        address = template.pdu_address(point)
        link = self.link(device)
        unit = self.unit(device)
        stat = self.stat(device.id)
        if point.table not in ("holding", "coil"):
            raise NotSent(device.id, f"{point_name} is in the {point.table} table: read-only")
        scale, offset = point.scale, point.offset
        if point.sf:  # SunSpec: the device stores value / (scale x 10^sf); read its factor now
            scale = await self._sf_scale(device, point_name)
            raw = (float(value) - offset) / scale
            if abs(raw - round(raw)) > 1e-6 * max(1.0, abs(raw)):
                raise NotSent(
                    device.id,
                    f"{point_name}: {value!r} is not a whole number of steps of {scale:g} "
                    "(the device's scale factor changed since it was checked)",
                )
            value, scale, offset = round(raw), 1.0, 0.0
        try:
            if point.table == "coil":
                stat.requests += 1
                await link.call("write_coil", address, bool(value), device_id=unit)
                return
            if point.bit is not None:  # a flag inside a register: read, change one bit, write
                stat.requests += 2
                current = (
                    await link.call("read_holding_registers", address, count=1, device_id=unit)
                ).registers[0]
                new = current | (1 << point.bit) if value else current & ~(1 << point.bit)
                await link.call("write_register", address, new, device_id=unit)
                return
            try:
                registers = modbus_codec.encode(
                    value, point.type.upper(), template.word_order(point), scale, offset,
                    length=point.length,
                )  # fmt: skip
            except ValueError as error:
                raise NotSent(
                    device.id, f"cannot encode {value!r} for {point_name}: {error}"
                ) from None
            stat.requests += 1
            if len(registers) == 1:
                await link.call("write_register", address, registers[0], device_id=unit)
            else:
                await link.call("write_registers", address, registers, device_id=unit)
        except ModbusExceptionResponse as error:  # the device said no: known not applied
            stat.errors += 1
            stat.last_error = str(error)
            raise DeviceRejected(
                device.id,
                f"writing {point_name} (PDU address {address}, unit {unit}) was refused by the "
                f"device: {error}",
            ) from None
        except NoAnswer as error:  # the frame may have arrived: the caller reads back to know
            stat.errors += 1
            stat.last_error = str(error)
            raise DeviceError(
                device.id,
                f"writing {point_name} (PDU address {address}, unit {unit}) failed: {error}",
            ) from None

    async def _sf_scale(self, device: Device, point: str) -> float:
        """Return scale x 10^sf of a SunSpec point, read from the device (NotSent if unreadable)."""
        spec = device.template.points[point]
        (reading,) = await self.read(device, [spec.sf])
        if not reading.ok or not isinstance(reading.value, (int, float)):
            raise NotSent(device.id, f"cannot read the scale factor {spec.sf}: {reading.error}")
        exponent = int(reading.value)
        if exponent == SUNSPEC_NO_SF:
            raise NotSent(device.id, f"{point}: scale factor {NOT_IMPLEMENTED}")
        return 10.0**exponent * spec.scale

    async def resolution(self, device: Device, point: str) -> float | None:
        """Return the point's step; for a SunSpec-scaled point, 10^sf x scale read from the device."""
        spec = device.template.points[point]
        if not spec.sf:
            return spec.step()
        (reading,) = await self.read(device, [spec.sf])
        if not reading.ok or not isinstance(reading.value, (int, float)):
            raise DeviceError(device.id, f"cannot read the scale factor {spec.sf}: {reading.error}")
        exponent = int(reading.value)
        if exponent == SUNSPEC_NO_SF:
            raise DeviceError(device.id, f"{point}: scale factor {NOT_IMPLEMENTED}")
        return 10.0**exponent * abs(spec.scale)

    async def discover(
        self, options: DiscoverOptions, context: DiscoverContext, found: Callable[[Candidate], None]
    ) -> None:
        """Sweep hosts or serial buses for units and identify them."""
        import dataclasses

        from smartbuild.transports.modbus.discovery import discover

        settings = {**dataclasses.asdict(options), "templates": context.templates,
                    "progress": context.progress, "debug": context.debug}  # fmt: skip
        if settings.get("timeout") is None:  # a serial bus answers fast or not at all
            settings["timeout"] = 0.2 if self.name == "modbus-rtu" else 0.5
        await discover(self, settings, found)

    async def aclose(self) -> None:
        """Close every link."""
        for link in self.links.values():
            link.close()
        self.links.clear()
        self.redactor.detach()


class ModbusTcpTransport(ModbusTransport):
    """Modbus TCP: address "host[:port]" (default port 502)."""

    name = "modbus-tcp"
    discover_options = ModbusTcpOptions

    @classmethod
    def check_device(cls, spec: Any) -> list[tuple[tuple[str, ...], str]]:
        """Return a problem when the address is not HOST[:PORT] (no name lookup: sites travel)."""
        from smartbuild.transports.modbus.targets import host_problem

        address = reveal_text(spec.address)
        shown = repr(spec.address) if isinstance(spec.address, Secret) else repr(address)
        try:
            host, _ = split_host_port(address)
        except UsageError:
            return [(("address",), f"invalid port in {shown}; write host:port, e.g. 127.0.0.1:502")]
        problem = host_problem(host)
        if problem and isinstance(spec.address, Secret):
            problem = problem.replace(host, "***")
        return [(("address",), f"invalid address {shown}: {problem}")] if problem else []

    @classmethod
    def follow_options(
        cls, addresses: Sequence[str], asked: DiscoverOptions | None
    ) -> DiscoverOptions | None:
        """Identify Modbus TCP endpoints that another transport found (mDNS announcements)."""
        return follow_tcp(addresses, asked)

    def link_key(self, device: Device) -> str:
        """Return "host:port"."""
        host, port = split_host_port(reveal_text(device.spec.address))
        return f"{host}:{port}"

    def make_client(self, device: Device) -> Callable[[], Any]:
        """Return a factory of an AsyncModbusTcpClient."""
        host, port = split_host_port(reveal_text(device.spec.address))
        timeout, retries = device.setting("timeout"), device.setting("retries")

        def factory() -> Any:
            from pymodbus.client import AsyncModbusTcpClient

            return AsyncModbusTcpClient(
                host, port=port, timeout=timeout, retries=retries, reconnect_delay=0
            )

        return factory


class ModbusRtuTransport(ModbusTransport):
    """Modbus RTU on a serial port (one bus, one request at a time, several units)."""

    name = "modbus-rtu"
    discover_options = ModbusRtuOptions

    @classmethod
    def check_device(cls, spec: Any) -> list[tuple[tuple[str, ...], str]]:
        """Return a problem when a device on a bus has no unit id."""
        return [((), "a Modbus RTU device needs 'unit' (1-247)")] if spec.unit is None else []

    def link_key(self, device: Device) -> str:
        """Return the serial port path."""
        return reveal_text(device.spec.address)

    def plan_cost(self, device: Device) -> Callable[[str, int], float] | None:
        """Return the bus time of one read: frames, gaps and the device's turnaround."""
        from smartbuild.transports.modbus.timing import PLAN_TURNAROUND_S, read_time

        baud = device.spec.serial.baudrate if device.spec.serial else 9600

        def cost(table: str, count: int) -> float:
            return read_time(table, count, baud) + PLAN_TURNAROUND_S

        return cost

    def make_client(self, device: Device) -> Callable[[], Any]:
        """Return a factory of an AsyncModbusSerialClient, after checking the port."""
        port = reveal_text(device.spec.address)
        check_serial_port(device.id, port)
        serial = device.spec.serial
        timeout, retries = device.setting("timeout"), device.setting("retries")

        def factory() -> Any:
            from pymodbus.client import AsyncModbusSerialClient

            return AsyncModbusSerialClient(
                port,
                baudrate=serial.baudrate if serial else 9600,
                parity=serial.parity if serial else "E",
                stopbits=serial.stopbits if serial else 1,
                bytesize=serial.bytesize if serial else 8,
                timeout=timeout,
                retries=retries,
                reconnect_delay=0,
            )

        return factory


def check_serial_port(who: str, port: str) -> None:
    """Raise a DeviceError that says what to do when a serial port is missing or not permitted."""
    if port.startswith(("socket://", "rfc2217://")):
        return
    if not os.path.exists(port):
        raise DeviceError(
            who,
            f"serial port {port} does not exist",
            hint="check the cable and `ls /dev/tty*`",
            exit_status=ExitStatus.UNREACHABLE,
        )
    if not os.access(port, os.R_OK | os.W_OK):
        import grp

        try:
            group = grp.getgrgid(os.stat(port).st_gid).gr_name
        except KeyError:
            group = "dialout"
        raise DeviceError(
            who,
            f"no permission to open {port}",
            hint=f"join the {group!r} group (sudo usermod -aG {group} $USER) and log in again",
            exit_status=ExitStatus.UNREACHABLE,
        )
