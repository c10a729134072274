"""Simulator at scale: start time, memory and steady CPU with 10, 100 and 500 zones, and the cost
per device of `smartbuild discover` and `smartbuild read` against it.

Each size runs `smartbuild sim` as a child process (Modbus, mDNS, BLE when dbus-daemon exists) at
speed 60 with one tick per second. Start = spawn to state file (Python start-up and imports
included), the simulator's own start time beside it; RSS from /proc; steady CPU = CPU seconds
used over a quiet window / window length. Discovery sweeps the simulator's address range (units
1-3); read reads every zone's Modbus devices (thermostat and CO2 sensor) in one command. Both
run as separate processes, as a user would run them. Exit 1 unless every size finds and reads
every device and stops cleanly, and the cost per device at the largest size stays within 1.5x
of the smallest's. Run: PYTHONPATH=src python benchmarks/sim_scale.py [--sizes 10,100,500]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from smartbuild.sim.launch import SimProcess, free_base  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")
MAX_GROWTH = 1.5  # ms per device at the largest size vs the smallest


def cpu_seconds(pid: int) -> float:
    """Return user + system CPU seconds of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_mb(pid: int) -> float:
    """Return the resident set size of a process in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def smartbuild(home: Path, *args: str) -> tuple[float, Any]:
    """Run a smartbuild command as a process with --json; return (wall seconds, its JSON)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "SMARTBUILD_HOME": str(home)}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "smartbuild", "--json", *args], capture_output=True,
                          text=True, env=env, timeout=600)  # fmt: skip
    wall = time.perf_counter() - started
    if done.returncode not in (0, 4):
        raise SystemExit(
            f"smartbuild {' '.join(args)} failed ({done.returncode}): {done.stderr[-800:]}"
        )
    return wall, json.loads(done.stdout)


def modbus_only(site: Path, out: Path) -> tuple[int, list[str]]:
    """Write a copy of the site file with only its Modbus devices; return their count and zones."""
    data = yaml.safe_load(site.read_text())
    data["devices"] = {
        k: v for k, v in data["devices"].items() if v["transport"].startswith("modbus")
    }
    out.write_text(yaml.safe_dump(data, sort_keys=False))
    zoned = [v for v in data["devices"].values() if v.get("zone")]
    return len(zoned), list(data["zones"])


def measure(zones: int, window_s: float, tmp: Path) -> dict[str, Any]:
    """Start a simulator of ``zones`` zones and measure it and the commands against it."""
    home = tmp / f"sim-{zones}"
    sim = SimProcess(home, zones=zones, speed=60, base=free_base(), site_out=home / "site.yaml")
    started = time.perf_counter()
    state = sim.start(timeout=120)
    start_s = time.perf_counter() - started
    assert sim.proc is not None
    pid = sim.proc.pid
    try:
        rss_start = rss_mb(pid)
        time.sleep(1.0)  # let the first ticks pass
        cpu0, t0 = cpu_seconds(pid), time.perf_counter()
        time.sleep(window_s)
        cpu = (cpu_seconds(pid) - cpu0) / (time.perf_counter() - t0)
        client_home = tmp / f"client-{zones}"
        client_home.mkdir(parents=True, exist_ok=True)
        modbus = state["modbus"]
        units = ",".join(map(str, modbus["units"]))
        disc_s, disc = smartbuild(client_home, "discover", "--modbus", modbus["range"], "--units", units,
                                  "--timeout", "0.5", "--concurrency", "64")  # fmt: skip
        found = sum(1 for c in disc["candidates"] if c.get("template"))
        site = client_home / "modbus-site.yaml"
        devices, zone_ids = modbus_only(Path(state["site_file"]), site)
        zone_args = [a for z in zone_ids for a in ("--zone", z)]
        read_s, readings = smartbuild(client_home, "--site", str(site), "read", *zone_args)
        ok = sum(1 for r in readings["readings"] if "error" not in r)
        rss_steady = rss_mb(pid)
    finally:
        report = sim.stop()
    return {
        "zones": zones, "devices": state["devices"], "modbus_devices": modbus["devices"],
        "start_s": round(start_s, 2), "sim_start_s": state["start_seconds"],
        "rss_start_mb": round(rss_start, 1), "rss_steady_mb": round(rss_steady, 1),
        "cpu_steady_pct": round(100 * cpu, 1),
        "discover_s": round(disc_s, 2), "discovered": found,
        "discover_ms_per_device": round(1000 * disc_s / max(found, 1), 1),
        "read_s": round(read_s, 2), "points_read": ok, "read_devices": devices,
        "read_ms_per_device": round(1000 * read_s / max(devices, 1), 1),
        "clean_stop": report["exit_status"] == 0 and not report["leftovers"],
    }  # fmt: skip


def misses(rows: list[dict[str, Any]]) -> list[str]:
    """Return the targets the measured rows miss (empty when every one is met)."""
    out = []
    for r in rows:
        if r["discovered"] != r["modbus_devices"]:
            out.append(f"{r['zones']} zones: discovered {r['discovered']}/{r['modbus_devices']}")
        if r["points_read"] == 0 or not r["clean_stop"]:
            out.append(f"{r['zones']} zones: nothing read or not stopped cleanly")
    small, large = rows[0], rows[-1]
    for key in ("discover_ms_per_device", "read_ms_per_device"):
        # the cost per device must not grow with the building (baseline: the smallest size)
        if len(rows) > 1 and large[key] > MAX_GROWTH * small[key]:
            out.append(f"{key} grew from {small[key]} at {small['zones']} zones to "
                       f"{large[key]} at {large['zones']} (target <= {MAX_GROWTH}x)")  # fmt: skip
    return out


def main() -> int:
    """Measure each size, print a table (and JSON with --json); exit 1 when a target is missed."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="10,100,500")
    parser.add_argument("--window", type=float, default=5.0, help="CPU measurement window (s)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sb-sim-scale-") as tmp:
        rows = [measure(int(n), args.window, Path(tmp)) for n in args.sizes.split(",")]
    missed = misses(rows)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 1 if missed else 0
    base = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    python_s = time.perf_counter() - base
    print(f"python -c pass: {python_s * 1000:.0f} ms; one tick per second at speed 60")
    head = (
        "zones",
        "devices",
        "start s",
        "(sim)",
        "RSS MiB",
        "CPU %",
        "discover s",
        "ms/dev",
        "read s",
        "ms/dev",
        "clean",
    )
    print(" ".join(f"{h:>10}" for h in head))
    for r in rows:
        cells = (r["zones"], r["devices"], r["start_s"], r["sim_start_s"], r["rss_steady_mb"],
                 r["cpu_steady_pct"], r["discover_s"], r["discover_ms_per_device"], r["read_s"],
                 r["read_ms_per_device"], r["clean_stop"])  # fmt: skip
        print(" ".join(f"{c!s:>10}" for c in cells))
    for r in rows:
        print(f"{r['zones']} zones: discovered {r['discovered']}/{r['modbus_devices']} Modbus devices, "
              f"read {r['points_read']} points from {r['read_devices']} devices")  # fmt: skip
    for miss in missed:
        print(f"target NOT met: {miss}")
    print("targets (every device found and read, clean stops, per-device cost not growing):",
          "NOT met" if missed else "met")  # fmt: skip
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
