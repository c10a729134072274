"""P3 and P4: 50 Modbus TCP devices read concurrently, and one silent device among them.

The servers run in a child process, as remote devices would: their work is not the client's.
P3: 50 pymodbus servers on loopback, each answering after 10 ms (ACME CO2-100 template, three
points = one request). All devices read one after another, then all at once, on the same
warmed-up connections. Target: concurrent >= 20x faster; at most one connection per host:port,
counted at the servers.
P4: the same 50 with one unit silent (timeout 0.2 s, retries 1): the other 49 complete, and
the whole read takes <= 1.1 x (retries + 1) x timeout.

    PYTHONPATH=src .venv/bin/python benchmarks/modbus_concurrency.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import multiprocessing
import statistics
import sys
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the peers of tests/

from tests.transports.modbus.test_devices import acme_co2

from smartbuild.config.schema import DeviceSpec
from smartbuild.services.registry import load_template_file as load_template
from smartbuild.sim.peers.modbus_farm import ModbusFarm, ServerSpec, loopback_hosts
from smartbuild.templates import TEMPLATE_DIR
from smartbuild.transports.base import Device
from smartbuild.transports.modbus.transport import ModbusTcpTransport

DEVICES = 50
DELAY = 0.010
POINTS = ["co2", "temperature", "humidity"]
TIMEOUT, RETRIES = 0.2, 1


def devices_for(endpoints: list[tuple[str, int]]) -> list[Device]:
    """Return one CO2 sensor device per endpoint."""
    template = load_template(TEMPLATE_DIR / "acme-co2-100.yaml")
    return [
        Device(
            f"co2-{i}",
            DeviceSpec(
                template="acme-co2-100",
                transport="modbus-tcp",
                address=f"{h}:{p}",
                unit=1,
                timeout=TIMEOUT,
                retries=RETRIES,
            ),
            template,
        )
        for i, (h, p) in enumerate(endpoints)
    ]


def _serve(conn: Connection, hosts: list[str]) -> None:
    """Child process: serve one slow CO2 sensor per host until told to stop; report counters."""
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)

    async def go() -> None:
        async with ModbusFarm() as farm:
            endpoints, port = [], 0
            for host in hosts:
                unit = acme_co2(1, response_delay_s=DELAY)
                endpoint = await farm.add_server(ServerSpec(host, [unit], port=port))
                port = endpoint[1]
                endpoints.append(endpoint)
            conn.send(endpoints)
            loop = asyncio.get_running_loop()
            while True:
                command = await loop.run_in_executor(None, conn.recv)
                if command[0] == "silent":
                    farm.set_behaviour(*command[1], 1, "silent")
                    conn.send(None)
                elif command[0] == "stats":
                    conn.send(
                        [(farm.stats(*e).connections, farm.stats(*e).reads()) for e in endpoints]
                    )
                else:
                    conn.send(None)
                    return

    asyncio.run(go())


class FarmProcess:
    """The servers in a child process: their work must not run on the client's loop or core."""

    def __init__(self, hosts: list[str]) -> None:
        self.conn, child = multiprocessing.Pipe()
        self.process = multiprocessing.Process(target=_serve, args=(child, hosts), daemon=True)
        self.process.start()
        self.endpoints: list[tuple[str, int]] = [tuple(e) for e in self.conn.recv()]  # type: ignore[misc]

    def ask(self, *command: object) -> Any:
        """Send a command to the child and return its answer."""
        self.conn.send(command)
        return self.conn.recv()

    def close(self) -> None:
        """Stop the child."""
        self.ask("stop")
        self.process.join(10)


async def p3(rounds: int) -> bool:
    """Sequential vs concurrent reads; print the figures; return True when targets are met."""
    farm = FarmProcess(loopback_hosts(DEVICES, first="127.78.1.1"))
    try:
        devices = devices_for(farm.endpoints)
        transport = ModbusTcpTransport()
        await asyncio.gather(*(transport.read(d, POINTS) for d in devices))  # connect first
        sequential, concurrent = [], []
        for _ in range(rounds):
            start_s = time.perf_counter()
            for device in devices:
                await transport.read(device, POINTS)
            sequential.append(time.perf_counter() - start_s)
            start_c = time.perf_counter()
            results = await asyncio.gather(*(transport.read(d, POINTS) for d in devices))
            concurrent.append(time.perf_counter() - start_c)
            assert all(r.ok for rs in results for r in rs)
        await transport.aclose()
        counters = farm.ask("stats")
    finally:
        farm.close()
    connections = [c for c, _ in counters]
    reads = sum(r for _, r in counters)
    seq, con = statistics.median(sequential), statistics.median(concurrent)
    ratio = seq / con
    print(f"P3: {DEVICES} devices x {DELAY * 1000:.0f} ms response: sequential {seq * 1000:.0f} ms, "
          f"concurrent {con * 1000:.1f} ms -> {ratio:.1f}x (target >= 20x); "
          f"connections per host:port max {max(connections)} (target <= 1); "
          f"{reads} reads counted = {DEVICES} x {1 + 2 * rounds}")  # fmt: skip
    return ratio >= 20 and max(connections) <= 1 and reads == DEVICES * (1 + 2 * rounds)


async def p4() -> bool:
    """One silent unit among 50; print the figures; return True when targets are met."""
    farm = FarmProcess(loopback_hosts(DEVICES, first="127.79.1.1"))
    try:
        farm.ask("silent", farm.endpoints[17])
        devices = devices_for(farm.endpoints)
        transport = ModbusTcpTransport()
        begin = time.perf_counter()
        results = await asyncio.gather(*(transport.read(d, POINTS) for d in devices))
        wall = time.perf_counter() - begin
        await transport.aclose()
        silent_requests = farm.ask("stats")[17][1]
    finally:
        farm.close()
    complete = sum(all(r.ok for r in rs) for rs in results)
    bound = 1.1 * (RETRIES + 1) * TIMEOUT
    print(f"P4: one silent device among {DEVICES}: {complete} complete, silent one asked "
          f"{silent_requests}x (retries + 1); wall {wall * 1000:.0f} ms vs bound "
          f"1.1 x {RETRIES + 1} x {TIMEOUT * 1000:.0f} ms = {bound * 1000:.0f} ms "
          f"({wall / ((RETRIES + 1) * TIMEOUT):.3f}x (retries+1) x timeout)")  # fmt: skip
    return complete == DEVICES - 1 and wall <= bound


def main() -> int:
    """Run P3 and P4; exit 1 when a target is missed."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    ok3 = asyncio.run(p3(args.rounds))
    ok4 = asyncio.run(p4())
    return 0 if ok3 and ok4 else 1


if __name__ == "__main__":
    raise SystemExit(main())
