"""P5: Modbus discovery time: a /24 sweep with 50 listening hosts, then 50 gateways x 247 unit ids.

The servers run in a child process (remote devices' work is not smartbuild's). Each of the 50
hosts is an RS-485 gateway with one ACME CO2-100 at unit 1 that answers exception 0x0B for every
absent unit id. Phase 1 sweeps the whole /24 (port 5020, unit 1 only); phase 2 probes unit ids
1-247 behind the 50 gateways. Both go through the same discovery code as `smartbuild discover`.

When nmap is installed and this runs as root, a subset of gateways is also served on port 502
(nmap's modbus-discover script only talks to 502) and the same unit sweep is timed with
`nmap -p 502 --script modbus-discover --script-args modbus-discover.aggressive=true`, beside
smartbuild's time on the same targets. Everything stays on the loopback.

    PYTHONPATH=src .venv/bin/python benchmarks/modbus_discovery.py [--nmap-hosts 5]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the peers of tests/

from tests.transports.modbus.test_devices import acme_co2

from smartbuild.services.registry import load_template_file as load_template
from smartbuild.sim.peers.modbus_farm import ModbusFarm, ServerSpec, loopback_hosts
from smartbuild.templates import TEMPLATE_DIR
from smartbuild.transports.base import Candidate
from smartbuild.transports.modbus.discovery import discover
from smartbuild.transports.modbus.transport import ModbusTcpTransport

NET = "127.81.7"
HOSTS = 50
UNITS = list(range(1, 248))
IDENTIFY_REQUESTS = 10  # requests allowed to identify the one unit behind each gateway


def _serve(conn: Connection, hosts: list[str], port502: list[str]) -> None:
    """Child process: one gateway per host (and on port 502 for port502); report counters."""
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)

    async def go() -> None:
        async with ModbusFarm() as farm:
            port = 0
            for host in hosts:
                port = (await farm.add_server(ServerSpec(host, [acme_co2(1)], port=port)))[1]
            for host in port502:
                await farm.add_server(ServerSpec(host, [acme_co2(1)], port=502))
            conn.send(port)
            loop = asyncio.get_running_loop()
            while (command := await loop.run_in_executor(None, conn.recv)) != "stop":
                if command == "reset":
                    farm.reset_counters()
                    conn.send(None)
                else:
                    conn.send(farm.total_requests())
            conn.send(None)

    asyncio.run(go())


class FarmProcess:
    """The gateways in a child process."""

    def __init__(self, hosts: list[str], port502: list[str]) -> None:
        self.conn, child = multiprocessing.Pipe()
        self.process = multiprocessing.Process(
            target=_serve, args=(child, hosts, port502), daemon=True
        )
        self.process.start()
        self.port: int = self.conn.recv()

    def ask(self, command: str) -> Any:
        """Send a command ("reset", "requests", "stop") and return the answer."""
        self.conn.send(command)
        return self.conn.recv()

    def close(self) -> None:
        """Stop the child."""
        self.ask("stop")
        self.process.join(10)


async def smartbuild_discover(targets: list[str], port: int, units: list[int]) -> tuple[float, int]:
    """Return (seconds, candidates found) of one discovery run."""
    template = load_template(TEMPLATE_DIR / "acme-co2-100.yaml")
    found: list[Candidate] = []
    transport = ModbusTcpTransport()
    options = {"targets": targets, "port": port, "units": units, "timeout": 0.5,
               "concurrency": 64, "templates": {"acme-co2-100": template}}  # fmt: skip
    start = time.perf_counter()
    await discover(transport, options, found.append)
    elapsed = time.perf_counter() - start
    await transport.aclose()
    assert all(c.template is None and c.identity.get("product_code") == "CO2-100" for c in found)
    return elapsed, len(found)


def nmap_time(hosts: list[str]) -> tuple[float, float, int] | None:
    """Return (wall seconds, nmap's own scan seconds, units identified) of nmap's unit sweep."""
    nmap = shutil.which("nmap")
    if nmap is None or os.geteuid() != 0:
        return None
    command = [nmap, "-n", "-Pn", "-p", "502", "--script", "modbus-discover",
               "--script-args", "modbus-discover.aggressive=true", *hosts]  # fmt: skip
    start = time.perf_counter()
    output = subprocess.run(command, capture_output=True, text=True, timeout=600).stdout
    elapsed = time.perf_counter() - start
    scanned = re.search(r"scanned in ([\d.]+) seconds", output)
    # nmap lists every sid with its error (it takes 0x0B for an answer); a unit that is there
    # shows its FC43 identification.
    return (
        elapsed,
        float(scanned.group(1)) if scanned else elapsed,
        output.count("Device identification"),
    )


def main() -> int:
    """Run P5, print the figures; exit 1 when a target is missed."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--nmap-hosts", type=int, default=5, help="gateways also served on 502")
    args = parser.parse_args()
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    hosts = loopback_hosts(HOSTS, first=f"{NET}.10")
    can_nmap = shutil.which("nmap") is not None and os.geteuid() == 0
    port502 = loopback_hosts(args.nmap_hosts, first="127.81.8.10") if can_nmap else []
    farm = FarmProcess(hosts, port502)
    misses: list[str] = []
    try:
        sweep, found = asyncio.run(smartbuild_discover([f"{NET}.0/24"], farm.port, [1]))
        print(f"P5 sweep: {NET}.0/24 (254 addresses, {HOSTS} listening) + unit 1 identified: "
              f"{sweep:.3f} s, {found} devices found")  # fmt: skip
        if found != HOSTS:
            misses.append(f"the sweep found {found} of {HOSTS} devices")
        farm.ask("reset")
        units, found = asyncio.run(smartbuild_discover(hosts, farm.port, UNITS))
        requests = farm.ask("requests")
        print(f"P5 units: {HOSTS} gateways x {len(UNITS)} unit ids (absent ones answer 0x0B): "
              f"{units:.3f} s, {found} devices found, {requests} requests at the servers "
              f"({requests / units:.0f}/s)")  # fmt: skip
        budget = HOSTS * (len(UNITS) + IDENTIFY_REQUESTS)
        if found != HOSTS or requests > budget:
            misses.append(f"the unit sweep found {found} of {HOSTS} devices with {requests} "
                          f"requests (budget {budget}: one per absent unit id)")  # fmt: skip
        if not can_nmap:
            why = "nmap is not installed" if shutil.which("nmap") is None else "not root"
            print(f"P5 nmap: no comparison ({why}; Debian package `nmap`, port 502 needs root)")
            return verdict(misses)
        ours, ours_found = asyncio.run(smartbuild_discover(port502, 502, UNITS))
        theirs = nmap_time(port502)
        assert theirs is not None
        print(f"P5 nmap: {len(port502)} gateways on port 502, unit ids 1-247 (nmap: 1-246): "
              f"smartbuild {ours:.3f} s ({ours_found} found); nmap modbus-discover aggressive "
              f"{theirs[0]:.3f} s wall, {theirs[1]:.2f} s by its own clock ({theirs[2]} "
              f"identified): nmap / smartbuild = {theirs[0] / ours:.1f}x wall, "
              f"{theirs[1] / ours:.1f}x scan")  # fmt: skip
        if theirs[0] < ours:
            misses.append("nmap was faster on the same gateways")
    finally:
        farm.close()
    return verdict(misses)


def verdict(misses: list[str]) -> int:
    """Print whether the targets were met; return the exit status."""
    print("P5 targets (every device found; one request per absent unit id; faster than nmap):",
          "NOT met: " + "; ".join(misses) if misses else "met")  # fmt: skip
    return 1 if misses else 0


if __name__ == "__main__":
    raise SystemExit(main())
