"""Watch points: each refreshed at its own interval, devices read concurrently, pushes merged."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from smartbuild.model.device import Device, Reading
    from smartbuild.services.connections import Connections


def _schedule(devices: Sequence[Device], interval: float | None) -> dict[tuple[str, str], float]:
    periods = {}
    for device in devices:
        default = device.template.defaults.poll_interval
        for name, point in device.template.points.items():
            periods[(device.id, name)] = interval or point.poll_interval or default
    return periods


async def watch_readings(
    conns: Connections,
    devices: Sequence[Device],
    *,
    interval: float | None = None,
    count: int | None = None,
    deadline: float | None = None,
) -> AsyncIterator[list[Reading]]:
    """Yield each refresh (and each pushed value) as a list of readings until count or deadline.

    ``deadline`` is a ``time.monotonic()`` value. Values that devices push (BLE adverts) arrive
    between refreshes as one-reading batches.
    """
    by_id = {d.id: d for d in devices}
    periods = _schedule(devices, interval)
    due = dict.fromkeys(periods, 0.0)
    pushed: asyncio.Queue[Reading] = asyncio.Queue(maxsize=1000)

    def emit(reading: Reading) -> None:
        if not pushed.full():  # a flood of adverts must not grow memory: refreshes catch up
            pushed.put_nowait(reading)

    groups: dict[str, list[Device]] = {}
    for device in devices:
        groups.setdefault(device.transport, []).append(device)
    followers = [
        asyncio.ensure_future(conns.transport(name).follow(group, emit))
        for name, group in groups.items()
    ]
    refreshes = 0
    try:
        while True:
            now = time.monotonic()
            todo: dict[str, list[str]] = {}
            for (dev_id, point), when in due.items():
                if when <= now:
                    todo.setdefault(dev_id, []).append(point)
                    due[(dev_id, point)] = now + periods[(dev_id, point)]
            if todo:
                results = await conns.read_many((by_id[d], pts) for d, pts in todo.items())
                yield [r for readings in results.values() for r in readings]
                refreshes += 1
            if count is not None and refreshes >= count:
                return
            wake = min(due.values())
            if deadline is not None:
                if time.monotonic() >= deadline:
                    return
                wake = min(wake, deadline)
            try:
                reading = await asyncio.wait_for(pushed.get(), max(0.0, wake - time.monotonic()))
            except asyncio.TimeoutError:
                continue
            yield [reading]
    finally:
        for task in followers:
            task.cancel()
        await asyncio.gather(*followers, return_exceptions=True)
