"""Discovery at field speed against real servers: one request per silent unit id, adaptive
timeouts, a streaming sweep with its own concurrency, and the pure parts (targets, timing, limits).

Timing is never asserted (benchmarks measure it); request and connection counts are taken at
the servers, and the learned timeouts are read from the link's own figures.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from smartbuild.errors import UsageError
from smartbuild.sim.peers.modbus_farm import ModbusFarm, ServerSpec
from smartbuild.sim.peers.ptybridge import PtyBridge
from smartbuild.transports.base import Candidate
from smartbuild.transports.modbus.discovery import discover, sweep_limit
from smartbuild.transports.modbus.link import Link
from smartbuild.transports.modbus.targets import count_addresses, iter_targets
from smartbuild.transports.modbus.timing import AdaptiveTimeout, TimeoutSettings, frame_time
from smartbuild.transports.modbus.transport import ModbusRtuTransport, ModbusTcpTransport
from smartbuild.transports.modbus.units import unit_present
from tests.transports.modbus.test_devices import acme_co2, acme_hp

NET = f"127.{50 + os.getpid() % 50}.{os.getpid() % 250 + 1}"


@pytest.fixture(autouse=True)
def _no_pymodbus_noise() -> Iterator[None]:
    import logging

    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    yield


def test_an_rtu_sweep_sends_one_request_per_silent_id_and_learns_its_timeout() -> None:
    async def go() -> tuple[list[Candidate], Any, Any, list[str]]:
        async with PtyBridge(baudrate=19200) as bridge, ModbusFarm() as farm:
            await farm.add_rtu_bus(bridge.path_a, [acme_co2(1), acme_hp(6)])
            found: list[Candidate] = []
            timings: dict[str, AdaptiveTimeout] = {}
            said: list[str] = []
            options = {"ports": [bridge.path_b], "bauds": [19200], "parity": "N",
                       "units": [1, 2, 3, 4, 5, 6, 7], "timeout": 0.5, "timings": timings,
                       "timeout_floor": 0.25,  # a loaded test machine must not miss unit 6
                       "debug": said.append, "templates": {}}  # fmt: skip
            await discover(ModbusRtuTransport(), options, found.append)
            return found, farm.stats(bridge.path_a, 0), next(iter(timings.values())), said

    found, stats, timing, said = asyncio.run(go())
    assert sorted(c.unit for c in found) == [1, 6]
    assert [stats.total(u) for u in (2, 3, 4, 5, 7)] == [1, 1, 1, 1, 1]  # no retries
    assert timing.learned and timing.timeout(8, 7) == 0.25  # the floor, under the initial 0.5
    assert any("adaptive timeout" in line and "k=3" in line for line in said), said


def test_tcp_silent_ids_keep_the_connection_and_an_answered_id_earns_a_retry() -> None:
    async def go() -> tuple[list[Candidate], Any, int]:
        spec = ServerSpec(f"{NET}.20", [acme_co2(1)], port=0, unknown_unit="silent")
        async with ModbusFarm([spec]) as farm:
            host, port = farm.endpoints[0]
            found: list[Candidate] = []
            options = {"targets": [f"{host}:{port}"], "units": list(range(1, 9)), "timeout": 0.3,
                       "templates": {"acme-co2-100": _template("acme-co2-100")}}  # fmt: skip
            await discover(ModbusTcpTransport(), options, found.append)
            stats = farm.stats(host, port)
            connections = stats.connections
            # a unit that answered before gets one retry when it falls silent
            farm.set_behaviour(host, port, 1, "silent")
            link = _link(host, port)
            link.answered.add(1)
            before = stats.total(1)
            assert not await unit_present(link, 1)
            link.close()
            return found, stats.total(1) - before, connections

    found, retried, connections = asyncio.run(go())
    assert [(c.unit, c.identity.get("product_code")) for c in found] == [(1, "CO2-100")]
    # the sweep's connect check, then one link: seven silent ids in a row did not make
    # pymodbus drop the connection (it does after retries + 3 unanswered requests)
    assert connections == 2
    assert retried == 2


def test_the_tcp_sweep_streams_through_its_own_connect_pool() -> None:
    async def go() -> tuple[list[Candidate], list[str], list[str]]:
        async with ModbusFarm([ServerSpec(f"{NET}.30", [acme_hp(1)], port=0)]) as farm:
            port = farm.endpoints[0][1]  # .31-.33 have nothing on that port: RST
            found: list[Candidate] = []
            said: list[str] = []
            progress: list[str] = []
            options = {"targets": [f"{NET}.30-{NET}.33", f"{NET}.30"], "port": port, "units": [1],
                       "timeout": 0.3, "connect_timeout": 0.3, "sweep_concurrency": 2,
                       "concurrency": 1, "debug": said.append, "progress": progress.append,
                       "templates": {"acme-hp-50": _template("acme-hp-50")}}  # fmt: skip
            await discover(ModbusTcpTransport(), options, found.append)
            return found, said, progress

    found, said, progress = asyncio.run(go())
    assert [c.address for c in found] == [f"{NET}.30:{found[0].address.rsplit(':', 1)[1]}"]
    assert any("2 connects at once" in line and "connect timeout 300 ms" in line for line in said)
    assert progress[-1] == "hosts 4/5, 1 listening"  # the duplicate target is swept once


def _template(name: str) -> Any:
    from smartbuild.services.registry import load_template_file as load_template
    from smartbuild.templates import TEMPLATE_DIR

    return load_template(TEMPLATE_DIR / f"{name}.yaml")


def _link(host: str, port: int) -> Link:
    def factory() -> Any:
        from pymodbus.client import AsyncModbusTcpClient

        return AsyncModbusTcpClient(host, port=port, timeout=0.2, retries=0, reconnect_delay=0)

    timing = AdaptiveTimeout(TimeoutSettings(initial=0.2))
    return Link(f"{host}:{port}", factory, connect_delay_s=0, pause_s=0, timing=timing,
                tolerate_silence=True)  # fmt: skip


def test_targets_are_lazy_deduplicated_and_checked() -> None:
    targets = iter_targets(["10.0.0.0/8"], 502)
    assert next(targets) == ("10.0.0.1", 502)  # a /8 is not expanded up front
    got = list(iter_targets(["10.0.0.0/30", "10.0.0.1-3", "gw.local:1502", "gw.local:1502"], 502))
    assert got == [("10.0.0.1", 502), ("10.0.0.2", 502), ("10.0.0.3", 502), ("gw.local", 1502)]
    assert list(iter_targets(["[::1]:1502", "fd00::/126"], 502)) == [
        ("::1", 1502), ("fd00::1", 502), ("fd00::2", 502)]  # fmt: skip
    assert count_addresses(["10.0.0.0/16", "10.1.0.5-10"]) == 65_536 + 6
    for bad in ("10.0.0.9-1", "10.0.0.1:0", "10.0.0.0/33", "300.1.2.3"):
        with pytest.raises(UsageError):
            list(iter_targets(["10.0.0.1", bad], 502))  # checked before the first address


def test_adaptive_timeouts_follow_the_rules() -> None:
    rtu = AdaptiveTimeout(TimeoutSettings(initial=0.5, k=3, baudrate=19200))
    assert rtu.timeout() == 0.5 and "no answer seen yet" in rtu.describe()
    wire = frame_time(8, 19200) + frame_time(7, 19200)
    rtu.observe(wire + 0.005)
    assert rtu.timeout() == pytest.approx(3 * (wire + 0.005))
    assert rtu.timeout(8, 256) > rtu.timeout(8, 7)  # a long answer takes longer on the wire
    rtu.observe(wire)  # the largest recent turnaround counts
    assert rtu.turnaround == pytest.approx(0.005)
    fast = AdaptiveTimeout(TimeoutSettings(initial=0.5, k=1.5, baudrate=19200))
    fast.observe(wire)
    assert fast.timeout() == pytest.approx(fast.floor())  # never under the floor
    assert fast.floor() == pytest.approx(wire + 20 * 11 / 19200 + 0.02)
    tcp = AdaptiveTimeout(TimeoutSettings(initial=0.5, k=3))
    tcp.observe(0.001)
    assert tcp.timeout(8, 7) == 0.1 and tcp.timeout(8, 256) == 0.5  # FC43 behind a gateway
    fixed = AdaptiveTimeout(TimeoutSettings(initial=0.5, k=0))
    fixed.observe(0.001)
    assert fixed.timeout() == 0.5
    floor = AdaptiveTimeout(TimeoutSettings(initial=0.5, floor=0.1))
    floor.observe(0.001)
    assert floor.timeout() == 0.1


def test_the_sweep_pool_is_bounded_by_the_open_file_limit() -> None:
    code = ("import resource; resource.setrlimit(resource.RLIMIT_NOFILE, (200, 200)); "
            "from smartbuild.transports.modbus.discovery import sweep_limit; "
            "print(sweep_limit(256, 64), sweep_limit(100, 64))")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["136", "100"]
    assert sweep_limit(8) == 8


def test_the_connect_check_takes_addresses_and_names() -> None:
    from smartbuild.transports.modbus.discovery import _listening

    async def go() -> list[bool]:
        server = await asyncio.start_server(lambda r, w: w.close(), f"{NET}.40", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            return [
                await _listening(f"{NET}.40", port, 0.5),
                await _listening("localhost", port, 0.5) is False,  # bound to another address
                await _listening(f"{NET}.41", port, 0.5),  # refused: RST
                await _listening("no-such-host.invalid", port, 0.5),
            ]
        finally:
            server.close()
            await server.wait_closed()

    assert asyncio.run(go()) == [True, True, False, False]
