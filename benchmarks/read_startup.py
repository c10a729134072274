"""`smartbuild read DEVICE` against `smartbuild read --raw` for the same registers, process vs process.

Serves one thermostat (acme-th200) on loopback and times, interleaved in this one run, N
subprocess runs of each of:

- `read --raw HOST:PORT --address 10 --count 3` (the baseline: no site, no template);
- `read th heating_setpoint cooling_setpoint hvac_mode` (the same three holding registers, one
  request) with the config cache warm, as every read after the first one is;
- the same with `SMARTBUILD_NO_CACHE=1` (full validation of the site and every template);
- `read th` (every point: three requests) with the cache warm, for information.

Prints the medians, the ratios to the baseline and the peak RSS of each. Goals (issue 13): the
cached `read DEVICE` takes at most 1.3x the raw read, and its peak RSS is at most 30 MB.
Exit 1 when either is missed. Run: python benchmarks/read_startup.py [--runs 15]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from tests.rigs import farm_thread  # noqa: E402

from smartbuild.sim.peers.modbus_farm import ServerSpec, SimUnit  # noqa: E402

RATIO = 1.3
RSS_MB = 30.0
HOST = "127.0.3.91"


def _time(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    if done.returncode:
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr[-500:]!r}")
    return time.perf_counter() - start


def _peak_rss_mb(argv: list[str], env: dict[str, str]) -> float:
    pid = os.fork()
    if pid == 0:  # child: exec the command and let the parent read its rusage
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        os.execve(argv[0], argv, env)
    _, _, usage = os.wait4(pid, 0)
    return usage.ru_maxrss / 1024  # KiB -> MiB


def main() -> int:
    """Run the benchmark, print the figures; exit 1 when a goal is missed."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    thermostat = SimUnit(1, input={0: 215, 1: 450}, holding={10: 200, 11: 260, 12: 1},
                         discrete={0: True})  # fmt: skip
    with (
        tempfile.TemporaryDirectory() as tmp,
        farm_thread([ServerSpec(HOST, [thermostat], port=0)]) as farm,
    ):
        ((host, port),) = farm.endpoints
        site = Path(tmp) / "site.yaml"
        site.write_text(
            "site: bench\nzones: {z1: {building: main, floor: 0}}\ndevices:\n"
            f'  th: {{template: acme-th200, transport: modbus-tcp, address: "{host}:{port}", '
            "unit: 1, zone: z1}\n"
        )
        env = {**os.environ, "SMARTBUILD_HOME": str(Path(tmp) / "home"), "NO_COLOR": "1"}
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
        nocache = {**env, "SMARTBUILD_NO_CACHE": "1"}
        smartbuild = [sys.executable, "-m", "smartbuild", "--site", str(site)]
        points = ["heating_setpoint", "cooling_setpoint", "hvac_mode"]
        commands = {
            "read --raw (3 registers)": ([*smartbuild, "read", "--raw", f"{host}:{port}", "--address", "10", "--count", "3"], env),
            "read DEVICE 3 points, cached": ([*smartbuild, "read", "th", *points], env),
            "read DEVICE 3 points, no cache": ([*smartbuild, "read", "th", *points], nocache),
            "read DEVICE (all points), cached": ([*smartbuild, "read", "th"], env),
        }  # fmt: skip
        for argv, e in commands.values():  # warm .pyc files, the page cache and the config cache
            _time(argv, e)
        samples: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.runs):  # interleaved: machine noise hits them alike
            for name, (argv, e) in commands.items():
                samples[name].append(_time(argv, e))
        rss = {name: _peak_rss_mb(argv, e) for name, (argv, e) in commands.items()}
    base = statistics.median(samples["read --raw (3 registers)"])
    print(f"{'command':<34} {'median ms':>10} {'vs raw':>8} {'peak RSS MiB':>12}")
    for name, values in samples.items():
        median = statistics.median(values)
        print(f"{name:<34} {median * 1000:>10.1f} {median / base:>7.2f}x {rss[name]:>12.1f}")
    ratio = statistics.median(samples["read DEVICE 3 points, cached"]) / base
    peak = rss["read DEVICE 3 points, cached"]
    ok_ratio, ok_rss = ratio <= RATIO, peak <= RSS_MB
    print(f"\nread DEVICE / read --raw = {ratio:.2f}x (target <= {RATIO}x: "
          f"{'met' if ok_ratio else 'NOT met'})")  # fmt: skip
    print(f"peak RSS of read DEVICE = {peak:.1f} MiB (target <= {RSS_MB:.0f} MiB: "
          f"{'met' if ok_rss else 'NOT met'})")  # fmt: skip
    return 0 if ok_ratio and ok_rss else 1


if __name__ == "__main__":
    raise SystemExit(main())
