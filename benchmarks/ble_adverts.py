"""BLE adverts through smartbuild's decoding path, and time to find N devices.

The simulated BlueZ runs in a separate process on a private dbus-daemon; bleak (unmodified, BlueZ
backend) and smartbuild run here. Three measurements:

1. Throughput: the simulator offers about 4,000 adverts/s (200 sensors every 50 ms). For the same
   time window, count what a bare bleak callback receives (the baseline) and what a callback that
   decodes every advert (bleparser, no cache) and builds its discovery candidate receives, with
   the CPU time this process spent per advert in each case.
2. Decoding alone, offline: adverts/s of decode + candidate on 1,000 captured adverts (every
   advert decoded), and through the transport's per-device cache (repeats are not re-decoded).
3. Time to find N devices (10, 100, 500) with ``BleTransport.discover(until=N)``. Each device
   advertises at a realistic interval (100 ms beacons, 1 s, 1.285 s RuuviTag, 2.5 s pvvx
   thermometers, in equal shares) and is first heard at a random phase of its interval after
   the scan starts, as a scanning radio would hear it; no advert is lost (a real radio misses
   some, so real scans take longer).

Exit 1 when decoding keeps less than 90 % of the baseline's adverts/s or finding N devices
takes more than twice the slowest advertising interval.

    PYTHONPATH=src .venv/bin/python benchmarks/ble_adverts.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

SRC = Path(__file__).resolve().parent.parent / "src"
sys.path.insert(0, str(SRC))

from smartbuild.sim.peers.dbusd import PrivateBus  # noqa: E402

MIN_KEPT = 0.9  # decoding must keep up with what bleak delivers (baseline in the same run)
MAX_FIND_S = 5.0  # twice the slowest advertising interval (2.5 s) for 10, 100 and 500 devices

INTERVALS = (0.1, 1.0, 1.285, 2.5)  # seconds; see REFERENCE.md


def _sim(bus: PrivateBus, *args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    return subprocess.Popen(
        [sys.executable, *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


async def _wait_bluez(bus: PrivateBus) -> None:
    from smartbuild.sim.peers.bluez import wait_for_bluez

    await wait_for_bluez(bus.address, timeout=20)


# ---- 1 and 2: throughput ------------------------------------------------------------------


async def _window(callback: Any, seconds: float) -> tuple[int, float, float]:
    """Scan for seconds with a counting wrapper; return (adverts, wall s, cpu s)."""
    from bleak import BleakScanner

    count = 0

    def counted(device: Any, adv: Any) -> None:
        nonlocal count
        count += 1
        callback(device, adv)

    async with BleakScanner(counted):
        await asyncio.sleep(0.5)  # let the first burst of InterfacesAdded pass
        start_count, wall, cpu = count, time.perf_counter(), time.process_time()
        await asyncio.sleep(seconds)
        done = count - start_count
        return done, time.perf_counter() - wall, time.process_time() - cpu


async def throughput(seconds: float) -> dict[str, Any]:
    """Return adverts/s and CPU per advert for the bare callback and the decoding callback."""
    from smartbuild.transports.ble.decode import AdvertData, decode_advert, make_decoders
    from smartbuild.transports.ble.discovery import make_candidate

    decoders = make_decoders(["bleparser"])
    captured: list[tuple[Any, Any]] = []

    def bare(device: Any, adv: Any) -> None:
        if len(captured) < 1000:
            captured.append((device, adv))

    def decoding(device: Any, adv: Any) -> None:
        advert = AdvertData.from_bleak(device, adv)
        make_candidate(advert, decode_advert(advert, decoders))

    out: dict[str, Any] = {}
    for name, callback in (("baseline", bare), ("decoding", decoding), ("baseline2", bare)):
        n, wall, cpu = await _window(callback, seconds)
        out[name] = {"adverts_per_s": n / wall, "cpu_us_per_advert": cpu / max(n, 1) * 1e6}
    out["captured"] = captured
    return out


def offline(captured: list[tuple[Any, Any]], rounds: int = 5) -> dict[str, float]:
    """Return adverts/s of decoding captured adverts, uncached and through the transport cache."""
    from smartbuild.transports.ble.decode import AdvertData, decode_advert, make_decoders
    from smartbuild.transports.ble.discovery import make_candidate
    from smartbuild.transports.ble.transport import BleTransport

    decoders = make_decoders(["bleparser"])
    transport = BleTransport()
    results = {}
    for name, decode in (
        ("uncached", lambda a: decode_advert(a, decoders)),
        ("transport_cache", transport.decode),
    ):
        best = 0.0
        for _ in range(rounds):
            start = time.perf_counter()
            for device, adv in captured:
                advert = AdvertData.from_bleak(device, adv)
                make_candidate(advert, decode(advert))
            best = max(best, len(captured) / (time.perf_counter() - start))
        results[name] = best
    return results


# ---- 3: time to find N devices -------------------------------------------------------------


async def _serve_phased(bus_address: str, count: int, seed: int) -> None:
    """Simulator side: once a scan starts, bring each device in range at a random phase."""
    from smartbuild.sim.peers.bluez import BlueZService, demo_devices

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    rng = random.Random(seed)
    devices = demo_devices(count)
    for i, device in enumerate(devices):
        device.interval_s = INTERVALS[i % len(INTERVALS)]
    async with BlueZService(bus_address) as service:
        for _ in range(6000):  # bounded: 60 s for the client to start scanning
            if service.discovering or stop.is_set():
                break
            await asyncio.sleep(0.01)
        for device in devices:
            loop.call_later(rng.uniform(0, device.interval_s), service.add_device, device)
        await stop.wait()


async def find_n(count: int) -> float:
    """Return seconds from the start of discovery until count devices were reported."""
    from smartbuild.services.registry import load_template_file as load_template
    from smartbuild.templates import TEMPLATE_DIR
    from smartbuild.transports.ble.transport import BleTransport

    templates = {p.stem: load_template(p) for p in TEMPLATE_DIR.glob("*.yaml")}
    seen: set[str] = set()
    transport = BleTransport()
    start = time.perf_counter()
    await transport.discover(
        {"templates": templates, "until": count, "duration": 30.0},
        lambda c: seen.add(c.address),
    )
    elapsed = time.perf_counter() - start
    await transport.aclose()
    if len(seen) < count:
        raise RuntimeError(f"found {len(seen)} of {count} devices in 30 s")
    return elapsed


def run_find(bus: PrivateBus, count: int, seed: int) -> float:
    """Run one find-N measurement against a fresh phased simulator process."""
    from smartbuild.aio import run_sync

    proc = _sim(bus, __file__, "--serve-phased", bus.address, str(count), str(seed))
    try:
        run_sync(_wait_bluez(bus))
        return run_sync(find_n(count))
    finally:
        _stop(proc)


def main() -> int:
    """Run the three measurements, print a report; exit 1 when a target is missed."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="shorter windows, fewer repeats")
    parser.add_argument("--serve-phased", nargs=3, metavar=("BUS", "COUNT", "SEED"))
    args = parser.parse_args()
    if args.serve_phased:
        bus_address, count, seed = args.serve_phased
        asyncio.run(_serve_phased(bus_address, int(count), int(seed)))
        return 0
    from smartbuild.aio import run_sync

    seconds, repeats = (1.0, 1) if args.quick else (3.0, 3)
    with PrivateBus() as bus:
        os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = bus.address
        demo = _sim(bus, "-m", "smartbuild.sim.peers.bluez", "--bus-address", bus.address,
                    "--demo", "200", "--interval", "0.05")  # fmt: skip
        try:
            run_sync(_wait_bluez(bus))
            rates = run_sync(throughput(seconds))
        finally:
            _stop(demo)
        print(f"1. adverts through bleak, {seconds:g} s windows (200 sensors every 50 ms offered):")
        for name in ("baseline", "decoding", "baseline2"):
            r = rates[name]
            print(f"   {name:10s} {r['adverts_per_s']:8.0f} adverts/s   "
                  f"{r['cpu_us_per_advert']:6.0f} µs CPU per advert (this process)")  # fmt: skip
        extra = rates["decoding"]["cpu_us_per_advert"] - statistics.mean(
            [rates["baseline"]["cpu_us_per_advert"], rates["baseline2"]["cpu_us_per_advert"]]
        )
        print(f"   decoding adds about {extra:.0f} µs CPU per advert")
        kept = rates["decoding"]["adverts_per_s"] / statistics.mean(
            [rates["baseline"]["adverts_per_s"], rates["baseline2"]["adverts_per_s"]]
        )
        misses = [] if kept >= MIN_KEPT else [f"decoding kept {kept:.0%} of the adverts/s"]
        print(
            f"   decoding keeps {kept:.0%} of the baseline's adverts/s (target >= {MIN_KEPT:.0%})"
        )
        pure = offline(rates["captured"])
        print(f"2. decoding alone on {len(rates['captured'])} captured adverts: "
              f"{pure['uncached']:,.0f} adverts/s uncached, "
              f"{pure['transport_cache']:,.0f} adverts/s through the transport cache")  # fmt: skip
        print("3. time to find N devices (intervals 0.1/1/1.285/2.5 s, random phase):")
        for count in (10, 100, 500):
            samples = [run_find(bus, count, seed) for seed in range(repeats)]
            print(f"   N={count:3d}: median {statistics.median(samples):.2f} s, "
                  f"max {max(samples):.2f} s over {len(samples)} run(s)")  # fmt: skip
            if max(samples) > MAX_FIND_S:
                misses.append(f"finding {count} devices took {max(samples):.2f} s")
    print(f"targets (decoding keeps >= {MIN_KEPT:.0%} of adverts/s; N devices found within "
          f"{MAX_FIND_S:g} s, twice the slowest interval):", "NOT met: " + "; ".join(misses)
          if misses else "met")  # fmt: skip
    return 1 if misses else 0


if __name__ == "__main__":
    raise SystemExit(main())
