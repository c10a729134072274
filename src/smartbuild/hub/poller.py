"""The hub's poller: each device on its own task, its due points read in one coalesced request.

A device that stops answering is retried with exponential backoff (simulated seconds, capped) and
resumes its normal intervals on the first good read; one silent device never delays another.
Every reading goes to each subscriber's bounded queue (a slow subscriber loses the oldest).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from smartbuild.hub.face import Clock
    from smartbuild.model.device import Device, Reading
    from smartbuild.services.session import Session

BACKOFF_MAX_S = 300.0  # a device that is down is tried at least every 5 (simulated) minutes
QUEUE_SIZE = 1000
# Devices read at once: a thousand devices due together would open a thousand connections in
# the same instant (a burst a gateway or a Raspberry Pi's memory does not need); the rest queue.
IN_FLIGHT = 32


@dataclass
class DeviceHealth:
    """What the poller knows about one device."""

    state: str = "unknown"  # unknown | ok | down
    failures: int = 0
    since: float | None = None  # clock time of the last state change
    last_ok: float | None = None
    last_error: str | None = None
    outages: int = 0  # how many times it went down
    recovered: int = 0  # how many times it came back

    def to_json(self) -> dict[str, Any]:
        """Return the health as JSON-ready data."""
        return {
            "state": self.state, "failures": self.failures, "since": self.since,
            "last_ok": self.last_ok, "last_error": self.last_error,
            "outages": self.outages, "recovered": self.recovered,
        }  # fmt: skip


class Poller:
    """Read what the hub and its faces want at their intervals; fan readings out."""

    def __init__(
        self,
        clock: Clock,
        warn: Callable[[str], None],
        on_recover: Callable[[str], None] | None = None,
    ) -> None:
        self.clock = clock
        self.warn = warn
        self.on_recover = on_recover
        self.base: dict[tuple[str, str], float] = {}  # from the configuration
        self.extra: dict[tuple[str, str], float] = {}  # from faces (want)
        self.health: dict[str, DeviceHealth] = {}
        self.reads = 0
        self._subscribers: list[asyncio.Queue[Reading]] = []
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._session: Session | None = None
        self._changed = asyncio.Event()
        self.first_round = asyncio.Event()
        self._in_flight = asyncio.Semaphore(IN_FLIGHT)

    # ---- what to read ---------------------------------------------------------------------------
    def configure(self, session: Session, polls: dict[tuple[str, str], float]) -> None:
        """Poll these points of this session's devices from now on (restarts the device tasks)."""
        self._session = session
        self.base = dict(polls)
        self._restart()

    def want(self, device: str, points: list[str], interval_s: float) -> None:
        """Read these points at least every ``interval_s`` simulated seconds."""
        if interval_s <= 0:
            raise ValueError(f"interval must be above 0, got {interval_s:g}")
        for point in points:
            key = (device, point)
            self.extra[key] = min(interval_s, self.extra.get(key, interval_s))
        self._restart()

    def intervals(self) -> dict[str, dict[str, float]]:
        """Return the interval of each polled point, by device."""
        out: dict[str, dict[str, float]] = {}
        for (dev, point), seconds in {**self.base, **self.extra}.items():
            merged = min(
                seconds, self.base.get((dev, point), seconds), self.extra.get((dev, point), seconds)
            )
            out.setdefault(dev, {})[point] = merged
        return out

    def _restart(self) -> None:
        if self._session is None:
            return
        for task in self._tasks.values():
            task.cancel()
        self._tasks.clear()
        devices = self._session.devices()
        plan = self.intervals()
        unknown = sorted(set(plan) - set(devices))
        if unknown:
            self.warn(f"poller: unknown devices ignored: {', '.join(unknown)}")
        self.health = {d: self.health.get(d, DeviceHealth()) for d in plan if d in devices}
        for dev_id, points in plan.items():
            device = devices.get(dev_id)
            if device is not None:
                task = asyncio.ensure_future(self._device_loop(device, points))
                self._tasks[dev_id] = task
        if not self._tasks:
            self.first_round.set()

    async def stop(self) -> None:
        """Cancel every device task and wait for them."""
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # ---- reading ----------------------------------------------------------------------------------
    async def _device_loop(self, device: Device, periods: dict[str, float]) -> None:
        session = self._session
        assert session is not None
        health = self.health[device.id]
        due = dict.fromkeys(periods, self.clock.time())
        while True:
            now = self.clock.time()
            todo = [p for p, when in due.items() if when <= now]
            if todo:
                try:
                    async with self._in_flight:
                        results = await session.conns.read_many([(device, todo)])
                    readings = results[device.id]
                except Exception as error:  # a transport failure is this device's outage
                    readings = []
                    self._down(device.id, health, f"{type(error).__name__}: {error}")
                self.reads += 1
                good = [r for r in readings if r.ok]
                if good:
                    self._up(device.id, health)
                elif readings:
                    self._down(device.id, health, readings[0].error or "no answer")
                now = self.clock.time()
                if health.state == "down":
                    wait = min(BACKOFF_MAX_S, min(periods.values()) * 2 ** min(health.failures, 16))
                    for point in todo:
                        due[point] = now + wait
                else:
                    for point in todo:
                        due[point] = now + periods[point]
                for reading in readings:
                    self._fan_out(reading)
                if len(self.health) and all(h.state != "unknown" for h in self.health.values()):
                    self.first_round.set()
            await self.clock.sleep(max(0.0, min(due.values()) - self.clock.time()))

    def _up(self, dev_id: str, health: DeviceHealth) -> None:
        now = self.clock.time()
        if health.state == "down":
            health.recovered += 1
            self.warn(f"{dev_id} answers again")
            if self.on_recover is not None:
                self.on_recover(dev_id)
        if health.state != "ok":
            health.since = now
        health.state, health.failures, health.last_ok = "ok", 0, now

    def _down(self, dev_id: str, health: DeviceHealth, error: str) -> None:
        health.failures += 1
        health.last_error = error
        if health.state != "down":
            if health.state == "ok":
                health.outages += 1
            health.state, health.since = "down", self.clock.time()
            self.warn(f"{dev_id} is not answering: {error}")

    # ---- subscribers ------------------------------------------------------------------------------
    def _fan_out(self, reading: Reading) -> None:
        for queue in self._subscribers:
            if queue.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()  # the oldest goes: a slow reader must not grow memory
            queue.put_nowait(reading)

    async def subscribe(self) -> AsyncIterator[Reading]:
        """Yield every reading taken from now on."""
        queue: asyncio.Queue[Reading] = asyncio.Queue(maxsize=QUEUE_SIZE)
        self._subscribers.append(queue)
        try:
            while True:
                yield await queue.get()
        finally:
            self._subscribers.remove(queue)

    def summary(self) -> dict[str, Any]:
        """Return the device health counts and the devices that are not answering."""
        counts: dict[str, int] = {}
        for health in self.health.values():
            counts[health.state] = counts.get(health.state, 0) + 1
        return {
            "counts": counts,
            "reads": self.reads,
            "down": {d: h.to_json() for d, h in self.health.items() if h.state == "down"},
            "devices": {d: h.to_json() for d, h in self.health.items()},
        }
