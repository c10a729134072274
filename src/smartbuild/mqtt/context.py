"""A minimal hub context: one session, a clock and a poller, for running the bridge on its own.

``hub run`` offers its faces the full context (schedules, overrides, routines); this one only
polls what faces ask for with ``Session.read`` and hands every reading to each subscriber.
The tests, ``benchmarks/mqtt_fleet.py`` and anyone trying the bridge against a broker use it:

    ctx = PollingContext(Session("site.yaml", home))
    await asyncio.gather(ctx.run(), MqttBridge().run(ctx))
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import TYPE_CHECKING, Any

from smartbuild.hub.face import Clock

if TYPE_CHECKING:
    from smartbuild.model.device import Reading
    from smartbuild.services.session import Session

QUEUE_SIZE = 10_000


class PollingContext:
    """Session, clock and a poller that reads each device when its points are due."""

    def __init__(self, session: Session, clock: Clock | None = None) -> None:
        self._session = session
        self._clock = clock or Clock()
        self._wants: dict[str, tuple[set[str], float]] = {}
        self._due: dict[str, float] = {}
        self._queues: list[asyncio.Queue[Reading]] = []
        self._changed = asyncio.Event()
        self.sections: dict[str, Callable[[], dict[str, Any]]] = {}
        self.polls = 0

    @property
    def session(self) -> Session:
        """Return the session every face shares."""
        return self._session

    @property
    def clock(self) -> Clock:
        """Return the clock."""
        return self._clock

    def want(self, device: str, points: Sequence[str], interval_s: float) -> None:
        """Read these points at least every ``interval_s`` simulated seconds."""
        have, interval = self._wants.get(device, (set(), interval_s))
        self._wants[device] = (have | set(points), min(interval, interval_s))
        self._due.setdefault(device, 0.0)
        self._changed.set()

    def status_section(self, name: str, provider: Callable[[], dict[str, Any]]) -> None:
        """Keep a face's status provider (``status()`` gathers them)."""
        self.sections[name] = provider

    def status(self) -> dict[str, Any]:
        """Return every face's status section."""
        return {name: provider() for name, provider in self.sections.items()}

    async def subscribe(self) -> AsyncIterator[Reading]:
        """Yield every reading from now on (a bounded queue; a slow reader loses the oldest)."""
        queue: asyncio.Queue[Reading] = asyncio.Queue(QUEUE_SIZE)
        self._queues.append(queue)
        try:
            while True:
                yield await queue.get()
        finally:
            self._queues.remove(queue)

    def publish(self, reading: Reading) -> None:
        """Hand a reading to every subscriber."""
        for queue in self._queues:
            if queue.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
            queue.put_nowait(reading)

    async def run(self) -> None:
        """Poll until cancelled: every due device in one concurrent read, then sleep to the next."""
        while True:
            now = time.monotonic()
            due = [d for d, at in self._due.items() if at <= now]
            if due:
                await self.poll(due)
                for device in due:
                    self._due[device] = now + self._clock.real_seconds(self._wants[device][1])
            wait = min(self._due.values(), default=now + 1.0) - time.monotonic()
            self._changed.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._changed.wait(), max(0.0, wait))

    async def poll(self, device_ids: Sequence[str]) -> None:
        """Read the wanted points of these devices once and publish the readings."""
        devices = self._session.devices()
        requests = [(devices[d], sorted(self._wants[d][0])) for d in device_ids if d in devices]
        if not requests:
            return
        result = await self._session.read(requests)
        self.polls += 1
        for reading in result.readings:
            self.publish(reading)
