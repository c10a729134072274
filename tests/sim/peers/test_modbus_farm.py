"""Real pymodbus async clients against the Modbus farm and the pty RTU bridge."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Iterator

import pytest
from pymodbus import FramerType
from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.constants import DeviceInformation
from pymodbus.exceptions import ConnectionException, ModbusIOException

from smartbuild.errors import SmartbuildError
from smartbuild.sim.peers.modbus_farm import ModbusFarm, ServerSpec, SimUnit, loopback_hosts
from smartbuild.sim.peers.ptybridge import PtyBridge, frame_gap, read_registers_time
from smartbuild.transports.modbus.plan import Span, plan_reads, split_window

# A per-process /24 keeps parallel test runs on this machine from colliding.
NET = f"127.{100 + os.getpid() % 100}.{os.getpid() % 250 + 1}"
ACME = {"VendorName": "Acme", "ProductCode": "TH-200", "MajorMinorRevision": "1.4"}
OTHER = {"VendorName": "Other GmbH", "ProductCode": "EM-3", "MajorMinorRevision": "2.0"}


@pytest.fixture(autouse=True)
def quiet_pymodbus() -> Iterator[None]:
    """Keep pymodbus's expected timeout/disconnect errors out of the test output."""
    logger = logging.getLogger("pymodbus")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    yield
    logger.setLevel(level)


def client(endpoint: tuple[str, int], timeout: float = 2, retries: int = 0) -> AsyncModbusTcpClient:
    """Return a client that never reconnects behind the test's back."""
    host, port = endpoint
    return AsyncModbusTcpClient(
        host, port=port, timeout=timeout, retries=retries, reconnect_delay=0
    )


def thermostat(unit: int, **kwargs: object) -> SimUnit:
    holding = {a: 1000 * unit + a for a in range(20)}
    return SimUnit(
        unit,
        holding=holding,
        input={0: 215, 1: 480},
        coils={0: True, 3: True},
        discrete={0: False, 1: True},
        **kwargs,
    )


async def test_reads_are_counted_per_unit_and_function_with_one_connection_each() -> None:
    hosts = [f"{NET}.1", f"{NET}.2"]
    specs = [ServerSpec(h, [thermostat(1), thermostat(2)], port=0) for h in hosts]
    async with ModbusFarm(specs) as farm:
        assert len(farm.endpoints) == 2
        for endpoint in farm.endpoints:
            c = client(endpoint)
            assert await c.connect()
            for i in range(20):
                r = await c.read_holding_registers(i, count=1, device_id=1 + i % 2)
                assert r.registers == [1000 * (1 + i % 2) + i]
            r = await c.read_input_registers(0, count=2, device_id=2)
            assert r.registers == [215, 480]
            r = await c.read_coils(0, count=4, device_id=1)
            assert r.bits[:4] == [True, False, False, True]
            r = await c.read_discrete_inputs(0, count=2, device_id=1)
            assert r.bits[:2] == [False, True]
            c.close()
        for endpoint in farm.endpoints:
            stats = farm.stats(*endpoint)
            assert stats.connections == 1
            assert stats.reads() == 23
            assert stats.reads(unit=1, fc=3) == 10
            assert stats.reads(unit=2, fc=3) == 10
            assert stats.requests[(2, 4)] == 1
            assert stats.reads(fc=1) == stats.reads(fc=2) == 1
            assert stats.writes() == 0
        assert farm.total_requests() == 46
        farm.reset_counters()
        assert farm.total_requests() == 0


async def test_fifty_servers_start_on_one_port_range_and_each_sees_one_connection() -> None:
    hosts = loopback_hosts(50, first=f"{NET}.10")
    async with ModbusFarm(
        [ServerSpec(h, [SimUnit(1, holding={0: i})], port=0) for i, h in enumerate(hosts)]
    ) as farm:
        clients = [client(e) for e in farm.endpoints]
        assert all(await asyncio.gather(*(c.connect() for c in clients)))
        results = await asyncio.gather(*(c.read_holding_registers(0, count=1) for c in clients))
        assert [r.registers[0] for r in results] == list(range(50))
        for c in clients:
            c.close()
        assert [farm.stats(*e).reads() for e in farm.endpoints] == [1] * 50
        assert [farm.stats(*e).connections for e in farm.endpoints] == [1] * 50


async def test_writes_are_counted_and_test_side_state_changes_are_not() -> None:
    async with ModbusFarm([ServerSpec(f"{NET}.3", [thermostat(1)], port=0)]) as farm:
        endpoint = farm.endpoints[0]
        c = client(endpoint)
        await c.connect()
        assert not (await c.write_register(2, 777, device_id=1)).isError()
        assert not (await c.write_registers(4, [1, 2, 3], device_id=1)).isError()
        assert not (await c.write_coil(1, True, device_id=1)).isError()
        assert await farm.get_registers(*endpoint, 1, "holding", 2, 5) == [777, 1003, 1, 2, 3]
        assert (await farm.get_registers(*endpoint, 1, "coil", 0, 4)) == [True, True, False, True]
        await farm.set_registers(*endpoint, 1, "input", 0, [199])
        await farm.set_registers(*endpoint, 1, "discrete", 0, [True])
        assert (await c.read_input_registers(0, count=1, device_id=1)).registers == [199]
        assert (await c.read_discrete_inputs(0, count=1, device_id=1)).bits[0] is True
        c.close()
        stats = farm.stats(*endpoint)
        assert (stats.writes(), stats.writes(fc=16), stats.reads(), stats.total()) == (3, 1, 2, 5)
        with pytest.raises(SmartbuildError, match=r"has no holding 500\.\.501"):
            await farm.set_registers(*endpoint, 1, "holding", 500, [1, 2])
        with pytest.raises(SmartbuildError, match="has no unit 9"):
            await farm.get_registers(*endpoint, 9, "holding", 0)


async def test_each_server_answers_fc43_and_fc17_with_its_own_identity() -> None:
    specs = [
        ServerSpec(
            f"{NET}.4", [thermostat(1, identity=ACME, server_id=b"TH-200"), thermostat(2)], port=0
        ),
        ServerSpec(f"{NET}.5", [thermostat(1, identity=OTHER, server_id=b"EM-3")], port=0),
    ]
    async with ModbusFarm(specs) as farm:
        seen = []
        for endpoint in farm.endpoints:
            c = client(endpoint)
            await c.connect()
            r = await c.read_device_information(read_code=DeviceInformation.BASIC, device_id=1)
            seen.append({k: v.decode() for k, v in r.information.items()})
            seen.append((await c.report_device_id(device_id=1)).identifier)
            if endpoint == farm.endpoints[0]:
                # A unit without identity refuses both, like most real devices (exception 01).
                assert (await c.read_device_information(device_id=2)).exception_code == 1
                assert (await c.report_device_id(device_id=2)).exception_code == 1
                specific = await c.read_device_information(
                    read_code=DeviceInformation.SPECIFIC, object_id=1, device_id=1
                )
                assert specific.information == {1: b"TH-200"}
            c.close()
        assert seen == [
            {0: "Acme", 1: "TH-200", 2: "1.4"},
            b"TH-200",
            {0: "Other GmbH", 1: "EM-3", 2: "2.0"},
            b"EM-3",
        ]
        assert farm.stats(*farm.endpoints[0]).requests[(1, 0x2B)] == 2


async def test_plain_pymodbus_identity_is_process_global_which_the_farm_works_around() -> None:
    # Contract test of the pinned pymodbus: if this starts failing, the work-around in
    # modbus_farm (answering FC43 per unit) may no longer be needed.
    from pymodbus.pdu.device import ModbusDeviceIdentification
    from pymodbus.server import ModbusTcpServer
    from pymodbus.simulator import DataType, SimData, SimDevice

    servers = []
    for n, ident in enumerate((ACME, OTHER)):
        device = SimDevice(id=1, simdata=[SimData(0, values=[0], datatype=DataType.REGISTERS)])
        s = ModbusTcpServer(
            device,
            address=(f"{NET}.{60 + n}", 0),
            identity=ModbusDeviceIdentification(info_name=ident),
        )
        await s.serve_forever(background=True)
        servers.append(s)
    vendors = []
    for s in servers:
        c = client((s.comm_params.source_address[0], s.transport.sockets[0].getsockname()[1]))
        await c.connect()
        vendors.append((await c.read_device_information(device_id=1)).information[0])
        c.close()
    for s in servers:
        await s.shutdown()
    assert vendors == [b"Other GmbH", b"Other GmbH"]


async def test_gateway_answers_0x0b_fast_and_other_unknown_unit_modes() -> None:
    specs = [
        ServerSpec(f"{NET}.6", [thermostat(1)], port=0),
        ServerSpec(f"{NET}.7", [thermostat(1)], port=0, unknown_unit="answer"),
        ServerSpec(f"{NET}.8", [thermostat(1)], port=0, unknown_unit="silent"),
    ]
    async with ModbusFarm(specs) as farm:
        gateway, answering, silent = farm.endpoints
        c = client(gateway)
        await c.connect()
        for unit in (2, 3, 247):
            assert (
                await c.read_holding_registers(0, count=1, device_id=unit)
            ).exception_code == 0x0B
        c.close()
        c = client(answering)
        await c.connect()
        assert (await c.read_holding_registers(5, count=1, device_id=255)).registers == [1005]
        c.close()
        c = client(silent, timeout=0.1)
        await c.connect()
        with pytest.raises(ModbusIOException):
            await c.read_holding_registers(0, count=1, device_id=2)
        assert (await c.read_holding_registers(0, count=1, device_id=1)).registers == [1000]
        c.close()
        assert farm.stats(*gateway).reads() == 3
        assert farm.stats(*silent).requests[(2, 3)] == 1


async def test_silent_unit_costs_retries_plus_one_requests_and_the_link_survives() -> None:
    async with ModbusFarm(
        [ServerSpec(f"{NET}.9", [thermostat(1), thermostat(2, behaviour="silent")], port=0)]
    ) as farm:
        endpoint = farm.endpoints[0]
        c = client(endpoint, timeout=0.1, retries=2)
        await c.connect()
        with pytest.raises(ModbusIOException):
            await c.read_holding_registers(0, count=1, device_id=2)
        with pytest.raises(ModbusIOException):  # silence covers FC43 too
            await c.read_device_information(device_id=2)
        assert (await c.read_holding_registers(3, count=1, device_id=1)).registers == [1003]
        c.close()
        stats = farm.stats(*endpoint)
        assert stats.reads(unit=2) == 3  # retries + 1
        assert stats.requests[(2, 0x2B)] == 3
        assert stats.connections == 1
        farm.set_behaviour(*endpoint, 2, "normal")
        c = client(endpoint)
        await c.connect()
        assert (await c.read_holding_registers(0, count=1, device_id=2)).registers == [2000]
        c.close()


async def test_a_unit_spec_shared_by_two_servers_changes_behaviour_on_one_only() -> None:
    shared = thermostat(1)
    specs = [ServerSpec(f"{NET}.17", [shared], port=0), ServerSpec(f"{NET}.18", [shared], port=0)]
    async with ModbusFarm(specs) as farm:
        first, second = farm.endpoints
        farm.set_behaviour(*first, 1, "exception:4")
        answers = []
        for endpoint in (first, second):
            c = client(endpoint)
            await c.connect()
            answers.append((await c.read_holding_registers(0, count=1, device_id=1)).exception_code)
            c.close()
        assert answers == [4, 0]
        assert shared.behaviour == "normal"


async def test_exception_behaviour_and_out_of_table_addresses() -> None:
    units = [thermostat(1), thermostat(2, behaviour="exception:6"), SimUnit(3, coils={0: True})]
    async with ModbusFarm([ServerSpec(f"{NET}.11", units, port=0)]) as farm:
        c = client(farm.endpoints[0])
        await c.connect()
        assert (await c.read_holding_registers(0, count=1, device_id=2)).exception_code == 6
        assert (await c.read_holding_registers(19, count=2, device_id=1)).exception_code == 2
        assert (await c.read_holding_registers(0, count=20, device_id=1)).registers[19] == 1019
        assert (await c.read_holding_registers(0, count=1, device_id=3)).exception_code == 2
        assert (await c.read_coils(1, count=1, device_id=3)).exception_code == 2
        assert (await c.write_register(30, 1, device_id=1)).exception_code == 2
        c.close()
    with pytest.raises(ValueError, match="unknown behaviour"):
        SimUnit(1, behaviour="flaky")
    with pytest.raises(ValueError, match="not a 16-bit register"):
        SimUnit(1, holding={0: 70000})
    with pytest.raises(ValueError, match="unknown identity objects"):
        SimUnit(1, identity={"Vendor": "x"})


async def test_refused_gap_gives_02_and_split_window_recovers() -> None:
    unit = SimUnit(1, holding={a: a for a in range(40)}, refuse=[("holding", 10, 4)])
    async with ModbusFarm([ServerSpec(f"{NET}.12", [unit], port=0)]) as farm:
        c = client(farm.endpoints[0])
        await c.connect()
        spans = [
            Span("t", "holding", 2, 2),
            Span("rh", "holding", 16, 2),
            Span("co2", "holding", 30, 1),
        ]
        (window,) = plan_reads(spans, max_gap=20)
        r = await c.read_holding_registers(window.address, count=window.count, device_id=1)
        assert r.exception_code == 2
        split = split_window(window)
        for piece in split.requests:
            r = await c.read_holding_registers(piece.address, count=piece.count, device_id=1)
            assert r.registers == list(range(piece.address, piece.end))
        replanned = plan_reads(spans, max_gap=20, no_bridge=split.no_bridge)
        # Not knowing which gap was refused, both are avoided from now on.
        assert [(q.address, q.count) for q in replanned] == [(2, 2), (16, 2), (30, 1)]
        for q in replanned:
            assert not (
                await c.read_holding_registers(q.address, count=q.count, device_id=1)
            ).isError()
        c.close()
        assert farm.stats(*farm.endpoints[0]).reads() == 1 + 3 + 3


async def test_drop_unit_closes_the_connection_mid_read() -> None:
    async with ModbusFarm(
        [ServerSpec(f"{NET}.13", [thermostat(1), thermostat(2, behaviour="drop")], port=0)]
    ) as farm:
        endpoint = farm.endpoints[0]
        c = client(endpoint, timeout=0.3)
        await c.connect()
        with pytest.raises((ModbusIOException, ConnectionException)):
            await c.read_holding_registers(0, count=1, device_id=2)
        stats = farm.stats(*endpoint)
        assert stats.drops == 1
        c.close()
        c = client(endpoint)
        await c.connect()
        assert (await c.read_holding_registers(0, count=1, device_id=1)).registers == [1000]
        c.close()
        for _ in range(100):  # the server learns of the client's close asynchronously
            if stats.open_connections == 0:
                break
            await asyncio.sleep(0.01)
        assert (stats.connections, stats.open_connections, stats.reads(unit=2)) == (2, 0, 1)


async def test_slow_unit_answers_late_without_leaking_into_the_next_request() -> None:
    unit = thermostat(1, response_delay_s=0.5)
    async with ModbusFarm([ServerSpec(f"{NET}.14", [unit], port=0)]) as farm:
        endpoint = farm.endpoints[0]
        c = client(endpoint, timeout=0.1)
        await c.connect()
        with pytest.raises(ModbusIOException):
            await c.read_holding_registers(0, count=1, device_id=1)  # answered after 0.5 s
        c.ctx.comm_params.timeout_connect = 2.0
        # Sent while the first answer is still pending: it must never come back as the
        # answer to this request (pymodbus alone would stamp it with the new id).
        try:
            r = await c.read_holding_registers(7, count=1, device_id=1)
        except ModbusIOException:
            pass
        else:
            assert r.registers == [1007]
        farm.set_behaviour(*endpoint, 1, response_delay_s=0.0)
        assert (await c.read_holding_registers(8, count=1, device_id=1)).registers == [1008]
        c.close()
        assert farm.stats(*endpoint).reads() == 3


async def test_farm_refuses_busy_addresses_and_uses_port_5020_by_default() -> None:
    host = f"{NET}.15"
    async with ModbusFarm([ServerSpec(host, [thermostat(1)])]) as farm:
        assert farm.endpoints == [(host, 5020)]
        with pytest.raises(SmartbuildError, match="already serves"):
            await farm.add_server(ServerSpec(host, [thermostat(2)]))
        with pytest.raises(SmartbuildError, match=f"cannot listen on {host}:5020"):
            async with ModbusFarm([ServerSpec(host, [thermostat(1)])]):
                pass
        with pytest.raises(ValueError, match="distinct ids"):
            await farm.add_server(ServerSpec(f"{NET}.16", [thermostat(1), thermostat(1)], port=0))


def test_loopback_hosts_skip_network_and_broadcast_octets() -> None:
    hosts = loopback_hosts(300, first="127.0.1.250")
    assert hosts[:6] == [
        "127.0.1.250",
        "127.0.1.251",
        "127.0.1.252",
        "127.0.1.253",
        "127.0.1.254",
        "127.0.2.1",
    ]
    assert len(set(hosts)) == 300
    with pytest.raises(ValueError, match="no room"):
        loopback_hosts(3, first="127.255.255.253")


def test_rtu_timing_matches_the_reference_figures() -> None:
    # REFERENCE.md: 125 registers ≈ 309 ms at 9600 Bd, 155 ms at 19200, 29 ms at 115200.
    assert read_registers_time(125, 9600) == pytest.approx(0.309, abs=0.002)
    assert read_registers_time(125, 19200) == pytest.approx(0.155, abs=0.002)
    assert read_registers_time(125, 115200) == pytest.approx(0.029, abs=0.002)
    assert frame_gap(38400) == 0.00175


async def test_rtu_bus_over_pty_bridge_with_two_units() -> None:
    async with PtyBridge() as bridge, ModbusFarm() as farm:
        bus = await farm.add_rtu_bus(bridge.path_a, [thermostat(1), thermostat(7, identity=ACME)])
        c = AsyncModbusSerialClient(
            bridge.path_b, framer=FramerType.RTU, baudrate=19200, timeout=0.2, retries=0
        )
        assert await c.connect()
        assert (await c.read_holding_registers(0, count=3, device_id=1)).registers == [
            1000,
            1001,
            1002,
        ]
        assert (await c.read_holding_registers(0, count=3, device_id=7)).registers == [
            7000,
            7001,
            7002,
        ]
        info = await c.read_device_information(device_id=7)
        assert info.information[0] == b"Acme"
        with pytest.raises(ModbusIOException):  # nobody on the bus answers for unit 9
            await c.read_holding_registers(0, count=1, device_id=9)
        assert (await c.read_input_registers(0, count=2, device_id=7)).registers == [215, 480]
        c.close()
        stats = farm.stats(*bus)
        assert (
            stats.reads(unit=1),
            stats.reads(unit=7),
            stats.reads(unit=9),
            stats.connections,
        ) == (1, 2, 1, 1)
        assert bridge.bytes_b_to_a == 4 * 8 + 7  # four 8-byte reads, one 7-byte FC43 request
        with pytest.raises(ValueError, match="needs a TCP connection"):
            await farm.add_rtu_bus(bridge.path_a, [thermostat(2, behaviour="drop")])


async def test_pty_bridge_emulates_wire_time_without_changing_the_bytes() -> None:
    async with PtyBridge(baudrate=115200) as bridge, ModbusFarm() as farm:
        await farm.add_rtu_bus(bridge.path_a, [thermostat(1)], baudrate=115200)
        c = AsyncModbusSerialClient(
            bridge.path_b, framer=FramerType.RTU, baudrate=115200, timeout=1, retries=0
        )
        await c.connect()
        assert (await c.read_holding_registers(0, count=20, device_id=1)).registers == list(
            range(1000, 1020)
        )
        c.close()
        assert (bridge.bytes_b_to_a, bridge.bytes_a_to_b) == (8, 5 + 2 * 20)
