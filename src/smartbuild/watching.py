"""The watch loop: each point refreshed at its own interval; devices read concurrently."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from smartbuild.cli import App
    from smartbuild.transports.base import Device, Reading


def _schedule(devices: list[Device], interval: float | None) -> dict[tuple[str, str], float]:
    periods = {}
    for device in devices:
        default = device.template.defaults.poll_interval
        for name, point in device.template.points.items():
            periods[(device.id, name)] = interval or point.poll_interval or default
    return periods


async def watch_loop(
    app: App,
    devices: list[Device],
    *,
    interval: float | None = None,
    count: int | None = None,
    deadline: float | None = None,
) -> int:
    """Refresh points until count refreshes or the deadline; return the number of refreshes."""
    from smartbuild.devices import Connections

    by_id = {d.id: d for d in devices}
    periods = _schedule(devices, interval)
    due = dict.fromkeys(periods, 0.0)
    latest: dict[tuple[str, str], Reading] = {}
    out = app.output
    live = None
    if not out.json_mode:
        from rich.live import Live

        live = Live(_table(latest), console=out.out, auto_refresh=False, transient=False)
        live.start()

    def emit(reading: Reading) -> None:
        latest[(reading.device, reading.point)] = reading
        if out.json_mode:
            out.emit_jsonl([reading])

    refreshes = 0
    try:
        async with Connections(app) as conns:
            follow_tasks = _start_followers(conns, devices, emit)
            while True:
                now = time.monotonic()
                todo: dict[str, list[str]] = {}
                for (dev_id, point), when in due.items():
                    if when <= now:
                        todo.setdefault(dev_id, []).append(point)
                        due[(dev_id, point)] = now + periods[(dev_id, point)]
                if todo:
                    results = await conns.read_many((by_id[d], pts) for d, pts in todo.items())
                    for readings in results.values():
                        for reading in readings:
                            emit(reading)
                    refreshes += 1
                    if live is not None:
                        live.update(_table(latest), refresh=True)
                if count is not None and refreshes >= count:
                    break
                wake = min(due.values())
                if deadline is not None:
                    if time.monotonic() >= deadline:
                        break
                    wake = min(wake, deadline)
                await asyncio.sleep(max(0.0, wake - time.monotonic()))
            for task in follow_tasks:
                task.cancel()
    finally:
        if live is not None:
            live.stop()
    return refreshes


def _start_followers(
    conns: Any, devices: list[Device], emit: Callable[[Reading], None]
) -> list[asyncio.Task[Any]]:
    """Start advert/notification streams for transports that can push values."""
    groups: dict[str, list[Device]] = {}
    for device in devices:
        groups.setdefault(device.transport, []).append(device)
    tasks = []
    for name, group in groups.items():
        transport = conns.transport(name)
        follow = getattr(transport, "follow", None)
        if follow is not None:
            tasks.append(asyncio.ensure_future(follow(group, emit)))
    return tasks


def _table(latest: dict[tuple[str, str], Reading]) -> Any:
    from rich.table import Table

    from smartbuild.commands.points import format_value

    table = Table(title=f"watching {len(latest)} points (Ctrl-C to stop)", title_justify="left")
    for column in ("device", "point", "value", "age"):
        table.add_column(column)
    now = time.time()
    for (device, point), reading in sorted(latest.items()):
        table.add_row(device, point, format_value(reading), f"{now - reading.time:.0f}s")
    return table
