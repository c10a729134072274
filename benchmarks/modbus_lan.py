"""P7-P9: Modbus TCP discovery on a realistic LAN inside a private network namespace.

The script re-executes itself under `unshare -n` (root needed; otherwise it says so and skips),
brings up `lo` and makes 127.0.9.0/24 behave like an office LAN: `iptables -A INPUT -d
127.0.9.0/24 -p tcp --syn -j DROP` so absent hosts drop SYNs (a connect times out), while the
present hosts are let through first: 8 RS-485 gateways on port 502 (real pymodbus servers; unit
ids they do not have get exception 0x0B at once) with 1-2 devices each, 2 TCP-native devices
that answer on unit 1 and ignore other unit ids (as many do: no answer at all), and 4 hosts
whose port 502 is closed (RST). nmap's script waits 2 s for each silent unit id, so its run
takes about 8 minutes; `--no-silent` leaves the 2 devices out. Everything stays inside the namespace.

P7  the /24 sweep (unit 1): total <= 1.3 x one connect timeout (0.5 s), beside the v0.1 setting
    (64 connects at once, shared with unit probing).
P8  process against process, same targets and unit ids 1-246: `smartbuild discover` vs
    `nmap -n -Pn -p 502 --script modbus-discover --script-args modbus-discover.aggressive=true`
    (Debian `nmap`; skipped with a message when absent). Target: smartbuild >= 10x faster.
P9  peak RSS of `smartbuild discover` over a /16 (127.0.0.0/16: the LAN above inside it, every
    other address refusing) beside a /24. Target: /16 <= 60 MB.

    .venv/bin/python benchmarks/modbus_lan.py [--skip-nmap] [--skip-16]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))  # the peers of tests/

MARK = "SMARTBUILD_BENCH_NETNS"
NET = "127.0.9"
CONNECT_TIMEOUT = 0.5
GATEWAYS = {f"{NET}.{10 + i}": units for i, units in enumerate(
    [[1], [1, 2], [3], [1, 17], [5], [1], [2, 9], [100]])}  # fmt: skip
CLOSED = [f"{NET}.{40 + i}" for i in range(4)]
# TCP-native devices that answer on unit 1 and ignore every other unit id (no answer at all)
SILENT = {f"{NET}.{30 + i}": [1] for i in range(2)}


def enter_namespace() -> int | None:
    """Re-run this script in a new network namespace; return its status, or None when inside."""
    if os.environ.get(MARK):
        return None
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        print("P7-P9 skipped: needs root and `unshare` to create a private network namespace")
        return 0
    command = f'ip link set lo up && exec {sys.executable} {Path(__file__).resolve()} "$@"'
    argv = ["unshare", "-n", "sh", "-c", command, "sh", *sys.argv[1:]]
    return subprocess.run(argv, env={**os.environ, MARK: "1"}).returncode


def firewall() -> str | None:
    """Let present hosts through and drop SYNs to the rest of the /24; return why not, or None."""
    iptables = shutil.which("iptables")
    if iptables is None:
        return "Debian `iptables` is not installed (apt-get install -y iptables)"
    for host in [*GATEWAYS, *SILENT, *CLOSED]:
        subprocess.run([iptables, "-A", "INPUT", "-d", host, "-j", "ACCEPT"], check=True)
    subprocess.run([iptables, "-A", "INPUT", "-d", f"{NET}.0/24", "-p", "tcp", "--syn", "-j",
                    "DROP"], check=True)  # fmt: skip
    return None


def smartbuild_command(targets: str, units: str) -> list[str]:
    """Return the `smartbuild discover` command line used for the process runs."""
    return [sys.executable, "-m", "smartbuild", "--json", "discover", "--modbus", targets,
            "--port", "502", "--units", units, "--timeout", "0.5",
            "--connect-timeout", str(CONNECT_TIMEOUT)]  # fmt: skip


async def timed(argv: list[str], env: dict[str, str]) -> tuple[float, str, int]:
    """Run a process to the end; return (seconds, stdout, peak RSS in kB of the process)."""
    wrapper = [sys.executable, str(Path(__file__).resolve()), "--measure-child", "--", *argv]
    start = time.perf_counter()
    process = await asyncio.create_subprocess_exec(
        *wrapper, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env
    )
    out, err = await process.communicate()
    elapsed = time.perf_counter() - start
    match = re.search(rb"maxrss=(\d+) seconds=([\d.]+)", err)
    if match is None:
        raise RuntimeError(f"{argv[0]} failed: {err.decode()[-500:]}")
    return float(match.group(2)) or elapsed, out.decode(), int(match.group(1))


def measure_child(argv: list[str]) -> int:
    """Run argv, then print its own peak RSS and wall time on stderr (for `timed`)."""
    start = time.perf_counter()
    child = subprocess.Popen(argv)
    _, status, usage = os.wait4(child.pid, 0)
    elapsed = time.perf_counter() - start
    print(f"maxrss={usage.ru_maxrss} seconds={elapsed:.4f}", file=sys.stderr)
    return os.waitstatus_to_exitcode(status)


async def in_process_sweep(sweep_concurrency: int, concurrency: int) -> tuple[float, int]:
    """Time one in-process discovery of the /24, unit 1; return (seconds, candidates)."""
    from benchmarks.modbus_rtu_scan import modbus_templates

    from smartbuild.transports.base import Candidate
    from smartbuild.transports.modbus.discovery import discover
    from smartbuild.transports.modbus.transport import ModbusTcpTransport

    found: list[Candidate] = []
    transport = ModbusTcpTransport()
    options = {"targets": [f"{NET}.0/24"], "port": 502, "units": [1], "timeout": 0.5,
               "connect_timeout": CONNECT_TIMEOUT, "sweep_concurrency": sweep_concurrency,
               "concurrency": concurrency, "templates": modbus_templates()}  # fmt: skip
    start = time.perf_counter()
    await discover(transport, options, found.append)
    elapsed = time.perf_counter() - start
    await transport.aclose()
    return elapsed, len(found)


def nmap_found(output: str) -> tuple[dict[str, list[str]], dict[str, int]]:
    """Return nmap's identified units per host, and how many sids it listed with an error."""
    identified: dict[str, list[str]] = {}
    errors: dict[str, int] = {}
    host = ""
    sid = ""
    for line in output.splitlines():
        if m := re.match(r"Nmap scan report for (\S+)", line):
            host = m.group(1)
        elif m := re.search(r"sid (0x[0-9a-f]+):", line):
            sid = str(int(m.group(1), 16))
        elif "Device identification:" in line or "Slave ID data:" in line:
            identified.setdefault(host, [])
            if sid not in identified[host]:
                identified[host].append(sid)
        elif "error:" in line:
            errors[host] = errors.get(host, 0) + 1
    return identified, errors


async def run(args: argparse.Namespace) -> int:
    """Serve the LAN, run P7-P9, print the figures; return the exit status."""
    from tests.transports.modbus.test_devices import acme_co2, acme_hp, acme_th200

    from smartbuild.sim.peers.modbus_farm import ModbusFarm, ServerSpec

    makers = [acme_co2, acme_hp, acme_th200]
    specs = [ServerSpec(host, [makers[(i + u) % 3](u) for u in units], port=502)
             for i, (host, units) in enumerate(GATEWAYS.items())]  # fmt: skip
    if not args.no_silent:
        specs += [
            ServerSpec(host, [acme_hp(1)], port=502, unknown_unit="silent") for host in SILENT
        ]
    present = {**GATEWAYS, **({} if args.no_silent else SILENT)}
    expected = {(h, u) for h, units in present.items() for u in units}
    status = 0
    async with ModbusFarm(specs):
        seconds, found = await in_process_sweep(256, 64)
        old, _ = await in_process_sweep(64, 64)
        ratio = seconds / CONNECT_TIMEOUT
        print(f"P7 /24 sweep ({len(GATEWAYS)} gateways, {len(present) - len(GATEWAYS)} TCP devices "
              f"silent for other unit ids, {len(CLOSED)} closed ports, "
              f"{254 - len(present) - len(CLOSED)} hosts dropping SYNs), unit 1: {seconds:.3f} s "
              f"= {ratio:.2f}x the {CONNECT_TIMEOUT} s connect timeout (target <= 1.3); "
              f"{found} found; v0.1 setting (64 connects at once): {old:.3f} s")  # fmt: skip
        status |= ratio > 1.3
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "SMARTBUILD_LOAD_PLUGINS": ""}
        home = tempfile.mkdtemp(prefix="sb-bench-")
        env.update(SMARTBUILD_HOME=home, SMARTBUILD_SITE=os.path.join(home, "site.yaml"))
        ours, out, rss24 = await timed(smartbuild_command(f"{NET}.0/24", "1-246"), env)
        candidates = json.loads(out)["candidates"]
        got = {(c["address"].rsplit(":", 1)[0], c["unit"]) for c in candidates}
        listed = ", ".join(sorted(f"{c['address'].rsplit(':', 1)[0]}/{c['unit']}="
                                  f"{c.get('template') or '?'}" for c in candidates))  # fmt: skip
        print(f"P8 smartbuild discover --modbus {NET}.0/24 --port 502 --units 1-246 "
              f"--connect-timeout {CONNECT_TIMEOUT}: {ours:.2f} s (process), {len(candidates)} "
              f"units identified{' (all expected)' if got == expected else ' (EXPECTED ' + str(sorted(expected)) + ')'}: {listed}")  # fmt: skip
        status |= got != expected
        nmap = shutil.which("nmap")
        if args.skip_nmap or nmap is None:
            print(
                "P8 nmap: skipped ("
                + ("--skip-nmap" if nmap else "Debian `nmap` is not installed")
                + ")"
            )
        else:
            argv = [nmap, "-n", "-Pn", "-p", "502", "--script", "modbus-discover",
                    "--script-args", "modbus-discover.aggressive=true", f"{NET}.0/24"]  # fmt: skip
            theirs, output, _ = await timed(argv, env)
            identified, errors = nmap_found(output)
            print(f"P8 nmap ({' '.join(argv[1:])}): {theirs:.2f} s (process); identified "
                  + "; ".join(f"{h}: sids {','.join(s)}" for h, s in sorted(identified.items()))
                  + f"; plus {sum(errors.values())} sids listed with an exception (0x0B from "
                  f"gateways for absent units, 0x01 where FC17 is missing) on {len(errors)} hosts")  # fmt: skip
            print(f"P8 nmap / smartbuild = {theirs / ours:.1f}x (target >= 10)")
            status |= theirs / ours < 10
        if not args.skip_16:
            wide, out16, rss16 = await timed(smartbuild_command(f"{NET[:-2]}.0.0/16", "1"), env)
            n16 = len(json.loads(out16)["candidates"])
            print(f"P9 peak RSS: /16 ({wide:.1f} s, {n16} found) {rss16 / 1024:.1f} MB; /24 with "
                  f"unit ids 1-246 {rss24 / 1024:.1f} MB (target /16 <= 60 MB)")  # fmt: skip
            status |= rss16 / 1024 > 60
    return int(status)


def main() -> int:
    """Enter the namespace, set up the LAN and run the benchmarks."""
    if len(sys.argv) > 2 and sys.argv[1] == "--measure-child":
        return measure_child(sys.argv[3:])
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--skip-nmap", action="store_true")
    parser.add_argument("--no-silent", action="store_true",
                        help="only gateways answering 0x0B (nmap then needs no 2 s timeouts)")  # fmt: skip
    parser.add_argument("--skip-16", action="store_true", help="leave out the /16 RSS run")
    args = parser.parse_args()
    outer = enter_namespace()
    if outer is not None:
        return outer
    why = firewall()
    if why:
        print(f"P7-P9 skipped: {why}")
        return 0
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    return asyncio.run(run(args))


if __name__ == "__main__":
    raise SystemExit(main())
