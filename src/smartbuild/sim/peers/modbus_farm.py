"""Real pymodbus servers standing in for Modbus devices in tests, benchmarks and the simulator.

A ``ModbusFarm`` runs one ``ModbusTcpServer`` per ``ServerSpec`` on a loopback address (all of
127.0.0.0/8 reaches ``lo``) and RTU buses on serial paths (``sim.ptybridge``); registers live
in pymodbus's ``SimDevice``/``SimData`` datastore. A per-connection ``trace_pdu`` hook swaps
each request's ``datastore_update`` for the farm's dispatcher, which counts requests at the
server side, answers FC43/FC17 from the unit's own identity (pymodbus 3.16.1 keeps one
process-global identity: the last server started would answer for all), routes unknown unit
ids and applies the unit's behaviour. That lives in the dispatcher, not ``SimDevice(action=)``:
pymodbus checks addresses before calling the action (a "silent" unit would still answer 02
for an unmapped address) and never calls it for FC43/FC17.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import ipaddress
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NoReturn

from pymodbus import FramerType
from pymodbus.constants import DeviceInformation, ExcCodes
from pymodbus.pdu import ExceptionResponse, ModbusPDU
from pymodbus.pdu.device import DeviceInformationFactory, ModbusDeviceIdentification
from pymodbus.pdu.mei_message import ReadDeviceInformationRequest, ReadDeviceInformationResponse
from pymodbus.pdu.other_message import ReportDeviceIdResponse
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from smartbuild.errors import SmartbuildError

Unknown = Literal["gateway", "silent", "answer"]
# around(endpoint, unit id, is_write, serve): wraps serving one read or write from the tables
Around = Callable[[tuple[str, int], int, bool, Callable[[], Awaitable[Any]]], Awaitable[Any]]
Values = Sequence[int] | Sequence[bool]
IDENTITY_KEYS: tuple[str, ...] = ("VendorName", "ProductCode", "MajorMinorRevision")
IDENTITY_KEYS += ("VendorUrl", "ProductName", "ModelName", "UserApplicationName")
READ_FCS = {1: "coil", 2: "discrete", 3: "holding", 4: "input"}
WRITE_FCS = {5: "coil", 6: "holding", 15: "coil", 16: "holding", 22: "holding", 23: "holding"}
_TABLE_FC = {"coil": 1, "coils": 1, "discrete": 2, "holding": 3, "input": 4}


def _fc_of(table: str) -> int:
    if table not in _TABLE_FC:
        raise ValueError(f"unknown table {table!r}; use holding, input, coil or discrete")
    return _TABLE_FC[table]


def _check_behaviour(behaviour: str) -> str:
    kind, _, code = behaviour.partition(":")
    if behaviour not in ("normal", "silent", "drop") and not (
        kind == "exception" and code.isdigit() and 1 <= int(code) <= 255
    ):
        raise ValueError(
            f"unknown behaviour {behaviour!r}; use normal, silent, drop or exception:N"
        )
    return behaviour


@dataclass
class SimUnit:
    """One simulated unit (slave id): its tables, identity and behaviour.

    Each table serves every address from its lowest to its highest defined one (gaps read
    0); other addresses answer exception 02, as do requests touching a ``refuse`` range
    ``(table, address, count)``. ``behaviour``: "normal", "silent" (never answers), "drop"
    (closes the TCP connection mid-read) or "exception:N" (answers everything with N).
    """

    unit_id: int
    holding: Mapping[int, int] = field(default_factory=dict)
    input: Mapping[int, int] = field(default_factory=dict)
    coils: Mapping[int, bool] = field(default_factory=dict)
    discrete: Mapping[int, bool] = field(default_factory=dict)
    identity: Mapping[str, str] | None = None
    server_id: bytes | None = None
    response_delay_s: float = 0.0
    behaviour: str = "normal"
    refuse: Sequence[tuple[str, int, int]] = ()

    def __post_init__(self) -> None:
        if not 0 <= self.unit_id <= 255:
            raise ValueError(f"unit id {self.unit_id} is outside 0..255")
        _check_behaviour(self.behaviour)
        if self.response_delay_s < 0:
            raise ValueError("response_delay_s must not be negative")
        if bad := set(self.identity or {}) - set(IDENTITY_KEYS):
            raise ValueError(f"unknown identity objects {sorted(bad)}; use {IDENTITY_KEYS}")
        for name, table in (("holding", self.holding), ("input", self.input)):
            for addr, value in table.items():
                if not (0 <= addr <= 0xFFFF and 0 <= value <= 0xFFFF):
                    raise ValueError(f"{name}[{addr}] = {value} is not a 16-bit register")
        self._refuse = [(READ_FCS[_fc_of(t)], a, a + n) for t, a, n in self.refuse]
        self._identity = ModbusDeviceIdentification(info_name=dict(self.identity or {}))
        tables: dict[str, Mapping[int, Any]] = {"coil": self.coils, "discrete": self.discrete}
        tables |= {"holding": self.holding, "input": self.input}
        self._bounds = {k: (min(t), max(t) + 1) if t else None for k, t in tables.items()}

    def sim_device(self) -> SimDevice:
        """Build the pymodbus datastore of this unit (four separate tables)."""

        def block(table: Mapping[int, Any], kind: DataType) -> list[SimData]:
            conv = bool if kind == DataType.BITS else int
            if not table:  # pymodbus needs a block; check_access refuses every address
                return [SimData(0, values=[conv(0)], datatype=kind)]
            lo, hi = min(table), max(table)
            values = [conv(table.get(a, 0)) for a in range(lo, hi + 1)]
            return [SimData(lo, values=values, datatype=kind)]

        bits, regs = DataType.BITS, DataType.REGISTERS
        tables = (block(self.coils, bits), block(self.discrete, bits))
        return SimDevice(
            id=self.unit_id, simdata=(*tables, block(self.holding, regs), block(self.input, regs))
        )

    def check_access(self, pdu: Any) -> int | None:
        """Return the exception code a read/write request earns from the tables, or None."""
        fc = pdu.function_code
        if fc in (1, 2, 3, 4):
            runs = [(pdu.address, pdu.count)]
        elif fc == 23:
            runs = [(pdu.read_address, pdu.read_count), (pdu.write_address, pdu.write_count)]
        else:
            runs = [(pdu.address, {15: len(pdu.bits), 16: len(pdu.registers)}.get(fc, 1))]
        table = READ_FCS.get(fc) or WRITE_FCS[fc]
        bounds = self._bounds[table]
        for start, count in runs:
            if bounds is None or start < bounds[0] or start + count > bounds[1]:
                return ExcCodes.ILLEGAL_ADDRESS
            if any(t == table and start < hi and lo < start + count for t, lo, hi in self._refuse):
                return ExcCodes.ILLEGAL_ADDRESS
        return None


@dataclass
class ServerSpec:
    """One TCP server: where it listens, its units and what unknown unit ids get."""

    host: str
    units: Sequence[SimUnit]
    port: int | None = None  # None: the farm's default port; 0: any free port
    unknown_unit: Unknown = "gateway"


@dataclass
class ServerStats:
    """Server-side counters of one server (or RTU bus)."""

    requests: Counter[tuple[int, int]] = field(default_factory=Counter)  # (unit, fc) -> n
    connections: int = 0  # accepted since start (or the last reset)
    open_connections: int = 0
    drops: int = 0  # connections closed by a "drop" unit

    def reads(self, unit: int | None = None, fc: int | None = None) -> int:
        """Return how many read requests (FC1-4) arrived, optionally for one unit/code."""
        return self._count(READ_FCS, unit, fc)

    def writes(self, unit: int | None = None, fc: int | None = None) -> int:
        """Return how many write requests (FC5/6/15/16/22/23) arrived."""
        return self._count(WRITE_FCS, unit, fc)

    def total(self, unit: int | None = None) -> int:
        """Return how many requests of any function arrived."""
        return sum(n for (u, _), n in self.requests.items() if unit in (None, u))

    def _count(self, fcs: Mapping[int, str], unit: int | None, fc: int | None) -> int:
        items = self.requests.items()
        return sum(n for (u, f), n in items if f in fcs and unit in (None, u) and fc in (None, f))


def loopback_hosts(n: int, first: str = "127.0.1.1") -> list[str]:
    """Return ``n`` distinct loopback addresses from ``first``, skipping .0 and .255."""
    ip, out = ipaddress.IPv4Address(first), list[str]()
    while len(out) < n:
        if not ip.is_loopback:
            raise ValueError(f"127.0.0.0/8 has no room for {n} hosts from {first}")
        if ip.packed[-1] not in (0, 255):
            out.append(str(ip))
        ip += 1
    return out


def _no_answer() -> NoReturn:
    # Ending the handler task as cancelled is the one way to make pymodbus's request
    # handler send nothing: any returned PDU or raised Exception produces a response.
    raise asyncio.CancelledError("smartbuild farm: no answer")


class _Node:
    """One listening server (or RTU bus): its units, counters and request dispatcher."""

    def __init__(self, farm: ModbusFarm, key: tuple[str, int], units: Sequence[SimUnit],
                 unknown: Unknown, serial: bool) -> None:  # fmt: skip
        ids = [u.unit_id for u in units]
        if not ids or len(set(ids)) != len(ids):
            raise ValueError(f"{key[0]}: needs units with distinct ids, got {ids}")
        if serial and any(u.behaviour == "drop" for u in units):
            raise ValueError("behaviour 'drop' needs a TCP connection; an RTU bus has none")
        self.farm, self.key, self.unknown, self.serial = farm, key, unknown, serial
        # Own copies: set_behaviour on one server must not reach a unit spec reused elsewhere.
        self.units = {u.unit_id: dataclasses.replace(u) for u in units}
        self.stats = ServerStats()
        self.server: Any = None

    def on_connect(self, connected: bool) -> None:
        """Count accepted and open connections (pymodbus ``trace_connect`` hook)."""
        self.stats.connections += connected
        self.stats.open_connections += 1 if connected else -1

    def on_pdu(self, handler: Any, sending: bool, pdu: ModbusPDU) -> ModbusPDU:
        """Count an incoming request and route it through the dispatcher."""
        if sending:
            return pdu
        self.stats.requests[(pdu.dev_id, pdu.function_code)] += 1
        original = pdu.datastore_update

        async def dispatch(context: Any, dev_id: int) -> ModbusPDU:
            task = asyncio.current_task()
            assert task is not None  # pymodbus runs every request in its own task
            self.farm._tasks.add(task)
            try:
                return await self._dispatch(handler, pdu, original, context, dev_id)
            finally:
                self.farm._tasks.discard(task)

        pdu.datastore_update = dispatch  # type: ignore[method-assign,assignment]
        return pdu

    async def _dispatch(
        self, handler: Any, pdu: ModbusPDU, original: Any, context: Any, dev_id: int
    ) -> ModbusPDU:
        unit = self.units.get(dev_id)
        if unit is None:
            if self.serial or self.unknown == "silent":
                _no_answer()  # nobody on an RS-485 bus answers for a missing unit
            if self.unknown == "gateway":
                return ExceptionResponse(pdu.function_code, ExcCodes.GATEWAY_NO_RESPONSE)
            unit = next(iter(self.units.values()))
        if unit.behaviour == "silent":
            _no_answer()
        if unit.behaviour == "drop":
            self.stats.drops += 1
            # Half an MBAP header, then EOF: the client sees the connection die mid-read.
            handler.transport.write(pdu.transaction_id.to_bytes(2, "big") + b"\x00")
            handler.transport.close()
            _no_answer()
        if unit.response_delay_s:
            await asyncio.sleep(unit.response_delay_s)
        response = await self._respond(unit, pdu, original, context)
        if handler.last_pdu is not pdu:
            # A newer request arrived meanwhile and pymodbus would stamp this answer with
            # its transaction id; answer like a slow device: late, under the old id.
            response.transaction_id, response.dev_id = pdu.transaction_id, pdu.dev_id
            handler.server_send(response, None)
            _no_answer()
        return response

    async def _respond(self, unit: SimUnit, pdu: ModbusPDU, original: Any, context: Any) -> Any:
        fc = pdu.function_code
        kind, _, code = unit.behaviour.partition(":")
        if kind == "exception":
            return ExceptionResponse(fc, int(code))
        if fc in READ_FCS or fc in WRITE_FCS:
            if (exc := unit.check_access(pdu)) is not None:
                return ExceptionResponse(fc, exc)
            around = self.farm.around
            if around is None:
                return await original(context, unit.unit_id)
            return await around(
                self.key, unit.unit_id, fc in WRITE_FCS, lambda: original(context, unit.unit_id)
            )
        if isinstance(pdu, ReadDeviceInformationRequest) and unit.identity:
            return _identification(unit._identity, pdu)
        if fc == 0x11 and unit.server_id is not None:
            tid = pdu.transaction_id
            return ReportDeviceIdResponse(unit.server_id, dev_id=pdu.dev_id, transaction_id=tid)
        return ExceptionResponse(fc, ExcCodes.ILLEGAL_FUNCTION)


def _identification(identity: ModbusDeviceIdentification, pdu: Any) -> ModbusPDU:
    """Answer FC43/14 from one unit's identity (the checks pymodbus itself makes)."""
    if not 1 <= pdu.read_code <= 4:
        return ExceptionResponse(pdu.function_code, ExcCodes.ILLEGAL_VALUE)
    block = type("IdentityBlock", (), {"Identity": identity})
    information = DeviceInformationFactory.get(block, pdu.read_code, pdu.object_id)
    if pdu.read_code == DeviceInformation.SPECIFIC and not information.get(pdu.object_id):
        return ExceptionResponse(pdu.function_code, ExcCodes.ILLEGAL_ADDRESS)
    return ReadDeviceInformationResponse(
        pdu.read_code, information, dev_id=pdu.dev_id, transaction_id=pdu.transaction_id
    )


async def _start(server: Any, node: _Node) -> None:
    """Hook every new connection handler of ``server`` to ``node``, then start listening."""
    new_connection = server.callback_new_connection

    def callback_new_connection() -> Any:
        # Per-connection trace_pdu: the dispatcher needs the handler to drop its connection.
        handler = new_connection()
        handler.trace_pdu = functools.partial(node.on_pdu, handler)
        return handler

    server.callback_new_connection = callback_new_connection
    node.server = server
    try:
        await server.serve_forever(background=True)
    except RuntimeError:
        where = node.key[0] if node.serial else f"{node.key[0]}:{node.key[1]}"
        raise SmartbuildError(
            f"cannot listen on {where}", hint="is it in use? For TCP, port=0 takes any free port"
        ) from None


class ModbusFarm:
    """Many real Modbus TCP servers (and RTU buses) with server-side request counters.

    ``async with ModbusFarm([ServerSpec("127.0.1.1", [SimUnit(1, holding={0: 42})])]) as farm``;
    servers are addressed by ``(host, port)``, RTU buses by ``(path, 0)``. ``around``, when set,
    wraps every read and write served from the tables (the simulator applies a client's write to
    its building before the write is answered).
    """

    def __init__(self, servers: Iterable[ServerSpec] = (), *, port: int = 5020) -> None:
        self.default_port = port
        self._initial = list(servers)
        self._nodes: dict[tuple[str, int], _Node] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self.around: Around | None = None

    async def __aenter__(self) -> ModbusFarm:
        """Start the servers given at construction."""
        import logging

        # a client that goes away mid-request is ordinary for a device; pymodbus reports it as
        # an error with a hex dump of the frames. Quiet unless someone set pymodbus's level.
        pymodbus_log = logging.getLogger("pymodbus")
        if pymodbus_log.level == logging.NOTSET:
            pymodbus_log.setLevel(logging.CRITICAL)
        try:
            for spec in self._initial:
                await self.add_server(spec)
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        """Stop every server."""
        await self.close()

    @property
    def endpoints(self) -> list[tuple[str, int]]:
        """Return the (host, port) of every server, (path, 0) for RTU buses."""
        return list(self._nodes)

    async def add_server(self, spec: ServerSpec) -> tuple[str, int]:
        """Start one TCP server and return the (host, port) it listens on."""
        port = self.default_port if spec.port is None else spec.port
        if (spec.host, port) in self._nodes:
            raise SmartbuildError(f"the farm already serves {spec.host}:{port}")
        node = _Node(self, (spec.host, port), spec.units, spec.unknown_unit, serial=False)
        devices = [u.sim_device() for u in node.units.values()]
        server: Any = ModbusTcpServer(devices, address=node.key, trace_connect=node.on_connect)
        await _start(server, node)
        node.key = (spec.host, server.transport.sockets[0].getsockname()[1])
        self._nodes[node.key] = node
        return node.key

    async def add_rtu_bus(
        self, path: str, units: Sequence[SimUnit], *, baudrate: int = 19200
    ) -> tuple[str, int]:
        """Serve ``units`` as RTU slaves on one serial port (e.g. a PtyBridge path)."""
        node = _Node(self, (path, 0), units, "silent", serial=True)
        devices = [u.sim_device() for u in node.units.values()]
        server = ModbusSerialServer(devices, framer=FramerType.RTU, port=path, baudrate=baudrate,
                                    trace_connect=node.on_connect)  # fmt: skip
        await _start(server, node)
        self._nodes[node.key] = node
        return node.key

    def _node(self, host: str, port: int) -> _Node:
        if (host, port) not in self._nodes:
            raise SmartbuildError(f"the farm has no server at {host}:{port}")
        return self._nodes[(host, port)]

    def _unit(self, host: str, port: int, unit: int) -> SimUnit:
        node = self._node(host, port)
        if unit not in node.units:
            raise SmartbuildError(f"{host}:{port} has no unit {unit}")
        return node.units[unit]

    def stats(self, host: str, port: int) -> ServerStats:
        """Return the live counters of one server."""
        return self._node(host, port).stats

    def total_requests(self) -> int:
        """Return how many requests all servers received together."""
        return sum(n.stats.total() for n in self._nodes.values())

    def reset_counters(self) -> None:
        """Zero request, connection and drop counters (open connections stay counted)."""
        for node in self._nodes.values():
            node.stats.requests.clear()
            node.stats.connections = node.stats.drops = 0

    def set_behaviour(self, host: str, port: int, unit: int, behaviour: str | None = None,
                      response_delay_s: float | None = None) -> None:  # fmt: skip
        """Change how a unit answers from now on."""
        spec = self._unit(host, port, unit)
        if behaviour is not None:
            if _check_behaviour(behaviour) == "drop" and self._node(host, port).serial:
                raise ValueError("behaviour 'drop' needs a TCP connection")
            spec.behaviour = behaviour
        if response_delay_s is not None:
            spec.response_delay_s = response_delay_s

    async def set_registers(
        self, host: str, port: int, unit: int, table: str, address: int, values: Values
    ) -> None:
        """Change a unit's registers or bits from the test side (not counted)."""
        await self._store(host, port, unit, table, address, len(values), list(values))

    async def get_registers(
        self, host: str, port: int, unit: int, table: str, address: int, count: int = 1
    ) -> list[int] | list[bool]:
        """Return a unit's registers or bits from the test side (not counted)."""
        return await self._store(host, port, unit, table, address, count, None)

    async def _store(self, host: str, port: int, unit: int, table: str, address: int,
                     count: int, values: list[Any] | None) -> Any:  # fmt: skip
        self._unit(host, port, unit)
        server, fc = self._node(host, port).server, _fc_of(table)
        try:
            if values is None:
                return await server.async_getValues(unit, fc, address, count)
            return await server.async_setValues(unit, fc, address, values)
        except TypeError:  # pymodbus's answer to an address outside the datastore
            last = address + count - 1
            raise SmartbuildError(
                f"{host}:{port} unit {unit} has no {table} {address}..{last}"
            ) from None

    async def close(self) -> None:
        """Stop every server and cancel answers still waiting on a delay."""
        for task in list(self._tasks):
            task.cancel()
        nodes, self._nodes = list(self._nodes.values()), {}
        for node in nodes:
            await node.server.shutdown()
        await asyncio.sleep(0)  # let cancelled handler tasks and closed transports unwind
        self._tasks.clear()
