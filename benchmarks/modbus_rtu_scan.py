"""P6: an RTU unit sweep (ids 1-247) at 19200 Bd with 3 devices: adaptive vs fixed timeouts.

The bus is a PtyBridge null modem that delivers each frame after its time on the wire (11 bits
per character, the 3.5-character gap, one half-duplex line); real pymodbus RTU servers answer
for units 1 (SDM630), 120 (ACME CO2-100) and 247 (ACME HP-50) and nobody answers for the other
244 ids, as on a real RS-485 bus. The sweep goes through the same discovery code as
`smartbuild discover --rtu PORT --units all`, every shipped Modbus template in play.

Target: total <= 1.2 x (244 x adaptive timeout + the present devices' wire time), where the
adaptive timeout is the one the link used for a silent id and the present devices' wire time is
the frame time of every request they answered (bytes counted at the bridge). Beside it, the
time a scanner with a fixed timeout needs: measured on --sample silent ids at 0.5 s and 1 s and
extrapolated to 244 (--full measures the whole sweep: about 6 minutes).

    PYTHONPATH=src .venv/bin/python benchmarks/modbus_rtu_scan.py [--sample 6] [--full]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the peers of tests/

from tests.transports.modbus.test_devices import acme_co2, acme_hp, sdm630

from smartbuild.services.registry import load_template_file as load_template
from smartbuild.sim.peers.modbus_farm import ModbusFarm
from smartbuild.sim.peers.ptybridge import PtyBridge
from smartbuild.templates import TEMPLATE_DIR
from smartbuild.transports.base import Candidate
from smartbuild.transports.modbus.discovery import discover
from smartbuild.transports.modbus.timing import char_time, frame_gap
from smartbuild.transports.modbus.transport import ModbusRtuTransport

BAUD = 19200
PRESENT = {1: sdm630, 120: acme_co2, 247: acme_hp}
EXPECTED = {1: "eastron-sdm630", 120: "acme-co2-100", 247: "acme-hp-50"}


def modbus_templates() -> dict[str, Any]:
    """Return every shipped Modbus template by name."""
    out = {}
    for path in sorted(TEMPLATE_DIR.glob("*.yaml")):
        template = load_template(path)
        if template.transport == "modbus":
            out[template.template] = template
    return out


async def sweep(units: list[int], options: dict[str, Any]) -> dict[str, Any]:
    """Run one RTU discovery on a fresh bus; return time, candidates and wire figures."""
    from smartbuild.transports.modbus.family import match_modbus

    templates = modbus_templates()
    async with PtyBridge(baudrate=BAUD) as bridge, ModbusFarm() as farm:
        await farm.add_rtu_bus(bridge.path_a, [make(u) for u, make in PRESENT.items()],
                               baudrate=BAUD)  # fmt: skip
        found: list[Candidate] = []
        timings: dict[str, Any] = {}
        transport = ModbusRtuTransport()
        options = {"ports": [bridge.path_b], "bauds": [BAUD], "parity": "N", "units": units,
                   "templates": templates, "timings": timings, **options}  # fmt: skip
        start = time.perf_counter()
        await discover(transport, options, found.append)
        elapsed = time.perf_counter() - start
        await transport.aclose()
        stats = farm.stats(bridge.path_a, 0)
        present = sum(stats.total(u) for u in PRESENT)
        silent_requests = sum(stats.total(u) for u in units if u not in PRESENT)
        # every request to a silent id is the 8-byte one-register probe
        present_bytes = bridge.bytes_a_to_b - 8 * silent_requests + bridge.bytes_b_to_a
        wire = present_bytes * char_time(BAUD) + 2 * present * frame_gap(BAUD)
    matched = {}
    for c in found:
        names = [n for n, t in templates.items()
                 if t.identify and t.identify.modbus and match_modbus(t.identify.modbus, c.identity, n)]  # fmt: skip
        matched[c.unit] = names
    timing = next(iter(timings.values()))
    return {"seconds": elapsed, "found": matched, "present_wire": wire, "present_requests": present,
            "silent_requests": silent_requests, "timeout": timing.timeout(8, 7),
            "describe": timing.describe()}  # fmt: skip


def main() -> int:
    """Run P6 and print the figures; exit 1 when the target is missed."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sample", type=int, default=6, help="silent ids timed at fixed timeouts")
    parser.add_argument("--full", action="store_true", help="time whole fixed-timeout sweeps")
    args = parser.parse_args()
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    units = list(range(1, 248))
    run = asyncio.run(sweep(units, {"timeout": 0.2}))
    silent = len(units) - len(PRESENT)
    bound = silent * run["timeout"] + run["present_wire"]
    ok_found = all(EXPECTED[u] in run["found"].get(u, []) for u in PRESENT) and set(
        run["found"]
    ) == set(PRESENT)
    print(f"P6 RTU sweep {BAUD} Bd, ids 1-247, 3 present: {run['seconds']:.2f} s; "
          f"{run['silent_requests']} requests to {silent} silent ids (one each), "
          f"{run['present_requests']} to the present units ({run['present_wire'] * 1000:.0f} ms "
          f"on the wire); {run['describe']}")  # fmt: skip
    print(
        "P6 found: "
        + ", ".join(f"unit {u}: {'/'.join(n) or '?'}" for u, n in sorted(run["found"].items()))
    )
    ratio = run["seconds"] / bound
    print(f"P6 target: {run['seconds']:.2f} s / (244 x {run['timeout'] * 1000:.1f} ms + "
          f"{run['present_wire'] * 1000:.0f} ms = {bound:.2f} s) = {ratio:.3f} (target <= 1.2)")  # fmt: skip
    sample = [u for u in units if u not in PRESENT][: args.sample]
    for fixed in (0.5, 1.0):
        ids = units if args.full else [1, *sample]
        fixed_run = asyncio.run(sweep(ids, {"timeout": fixed, "timeout_factor": 0}))
        per_id = (fixed_run["seconds"] - fixed_run["present_wire"]) / max(1, len(ids) - 1)
        estimate = fixed_run["seconds"] if args.full else silent * per_id + run["present_wire"]
        how = (
            "measured" if args.full else f"{per_id:.3f} s per silent id over {len(ids) - 1}, x 244"
        )
        print(f"P6 fixed {fixed:g} s timeout (one request per id, scanner-style): {estimate:.1f} s "
              f"({how}) = {estimate / run['seconds']:.1f}x the adaptive sweep")  # fmt: skip
    return 0 if ratio <= 1.2 and ok_found else 1


if __name__ == "__main__":
    raise SystemExit(main())
