"""What the hub offers the faces it runs (routines, the MQTT bridge), and the clock they all share.

The hub owns one :class:`~smartbuild.services.session.Session`, one clock and one polling loop. A face
is started by the hub with a :class:`HubContext` and runs until it is cancelled; it reads the clock
instead of ``time.time()`` so that simulated time (``hub run --start … --speed 60``) reaches it too.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from smartbuild.model.device import Reading
    from smartbuild.services.session import Session


class Clock:
    """Wall-clock or simulated time: ``speed`` simulated seconds pass per real second from ``start``."""

    def __init__(
        self, start: dt.datetime | None = None, speed: float = 1.0, tz: dt.tzinfo | None = None
    ):
        if speed <= 0:
            raise ValueError(f"speed must be above 0, got {speed:g}")
        self.speed = speed
        self.tz = tz
        self._real0 = time.time()
        self._mono0 = time.monotonic()
        self._sim0 = start.timestamp() if start is not None else self._real0

    def restart(self) -> None:
        """Start counting from ``start`` again (a simulated day begins when the hub is ready)."""
        # at 600x, three seconds of loading would otherwise be half an hour of simulated time
        real0 = time.time()
        if abs(self._sim0 - self._real0) <= 1.0 and self.speed == 1.0:
            self._sim0 = real0  # the wall clock stays the wall clock
        self._real0, self._mono0 = real0, time.monotonic()

    @property
    def simulated(self) -> bool:
        """Return True when this clock does not follow the wall clock."""
        return self.speed != 1.0 or abs(self._sim0 - self._real0) > 1.0

    def time(self) -> float:
        """Return the (possibly simulated) current time as a POSIX timestamp."""
        return self._sim0 + (time.monotonic() - self._mono0) * self.speed

    def now(self) -> dt.datetime:
        """Return the current time, aware, in the site's zone (or this machine's when none is set)."""
        return dt.datetime.fromtimestamp(self.time(), tz=self.tz or dt.timezone.utc).astimezone(
            self.tz
        )

    def real_seconds(self, simulated_seconds: float) -> float:
        """Return how many real seconds ``simulated_seconds`` take on this clock."""
        return max(0.0, simulated_seconds / self.speed)

    async def sleep(self, simulated_seconds: float) -> None:
        """Sleep for ``simulated_seconds`` of this clock's time."""
        await asyncio.sleep(self.real_seconds(simulated_seconds))

    async def sleep_until(self, when: dt.datetime | float) -> None:
        """Sleep until ``when`` (an aware datetime or a timestamp) on this clock; return at once if past."""
        target = when.timestamp() if isinstance(when, dt.datetime) else float(when)
        await self.sleep(target - self.time())


class HubContext(Protocol):
    """What a face may use: the hub's session, clock and readings, and a place in ``hub status``."""

    @property
    def session(self) -> Session: ...

    @property
    def clock(self) -> Clock: ...

    def subscribe(self) -> AsyncIterator[Reading]:
        """Yield every reading the hub's poller takes from now on (a bounded queue; slow readers lose the oldest)."""
        ...

    def want(self, device: str, points: Sequence[str], interval_s: float) -> None:
        """Ask the poller to read these points at least every ``interval_s`` simulated seconds."""
        ...

    def status_section(self, name: str, provider: Callable[[], dict[str, Any]]) -> None:
        """Add a section to ``hub status``: ``provider`` returns JSON-ready data when status is asked."""
        ...


class Face(Protocol):
    """A part of the hub that runs in its loop (the routine engine, the MQTT bridge)."""

    name: str

    async def run(self, ctx: HubContext) -> None:
        """Run until cancelled; errors are reported by the hub, which restarts the face with backoff."""
        ...
