"""Read every point of every device a few times through the session: values and link figures."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from smartbuild.model.device import Device, Reading
    from smartbuild.services.session import Session


def percentile(values: Sequence[float], q: float) -> float | None:
    """Return the q-th percentile (0-100) by linear interpolation; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _requests(session: Session, device: Device) -> int:
    return int(session.conns.stats().get(device.id, {}).get("requests") or 0)


async def _timed_read(
    session: Session, device: Device, names: list[str], latencies: list[float]
) -> list[Reading]:
    """Read through the session; note the time per request the read took (a read of many
    points takes several requests: the figure is the link's, not the size of the map's)."""
    from smartbuild.errors import SmartbuildError
    from smartbuild.model.device import Reading

    sent = _requests(session, device)
    began = time.perf_counter()
    try:
        readings = (await session.read([(device, names)])).readings
    except SmartbuildError as error:  # the transport as a whole failed (no bus, no adapter)
        return [Reading(device.id, name, error=error.message) for name in names]
    elapsed = time.perf_counter() - began
    latencies.append(elapsed / max(1, _requests(session, device) - sent))
    return readings


async def _device_rounds(
    session: Session, device: Device, rounds: int
) -> tuple[list[Reading], dict[str, Any]]:
    names = list(device.template.points)
    latencies: list[float] = []
    first: dict[str, Reading] = {}
    errors = retries = 0
    last_error: str | None = None
    for index in range(rounds):
        readings = await _timed_read(session, device, names, latencies)
        failed = [r for r in readings if not r.ok]
        errors += len(failed)
        if failed:
            last_error = failed[-1].error
        if index == 0:
            first = {r.point: r for r in readings}
            if failed:  # one retry of what failed: a flaky link shows up as retries, not errors
                retries += 1
                again = await _timed_read(session, device, [r.point for r in failed], latencies)
                for reading in again:
                    if reading.ok:
                        first[reading.point] = reading
                    else:
                        errors += 1
                        last_error = reading.error
    stats = session.conns.stats().get(device.id, {})
    p50, p95 = percentile(latencies, 50), percentile(latencies, 95)
    figures = {
        "device": device.id,
        "transport": device.transport,
        "reads": len(latencies),
        "points": len(names),
        "requests": stats.get("requests"),
        "errors": errors,
        "timeouts": stats.get("timeouts", 0),
        "retries": retries,
        "p50_ms": None if p50 is None else round(p50 * 1000, 2),
        "p95_ms": None if p95 is None else round(p95 * 1000, 2),
        "max_ms": round(max(latencies) * 1000, 2) if latencies else None,
        "last_error": last_error,
        "timeout_s": session.conns.transport(device.transport).read_timeout(device),
    }
    return [first[n] for n in names], figures


async def sample_devices(
    session: Session, devices: Sequence[Device], rounds: int, concurrency: int = 16
) -> tuple[dict[str, list[Reading]], list[dict[str, Any]]]:
    """Read each device ``rounds`` times; return the first values and the link figures.

    At most ``concurrency`` devices are read at once: a thousand reads in flight would measure
    this process's own queue, not the devices' links.
    """
    gate = asyncio.Semaphore(concurrency)

    async def one(device: Device) -> tuple[list[Reading], dict[str, Any]]:
        async with gate:
            return await _device_rounds(session, device, rounds)

    results = await asyncio.gather(*(one(d) for d in devices))
    readings = {d.id: r for d, (r, _) in zip(devices, results, strict=True)}
    return readings, [figures for _, figures in results]
