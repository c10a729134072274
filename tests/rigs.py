"""Run real protocol peers in a background thread, so synchronous CLI tests can talk to them."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

T = TypeVar("T")


class LoopThread:
    """An asyncio loop in a daemon thread; run coroutines on it from the test thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Awaitable[T], timeout: float = 30) -> T:
        """Run a coroutine on the loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)  # type: ignore[arg-type]

    def stop(self) -> None:
        """Stop the loop and join the thread."""
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


class FarmThread:
    """A ModbusFarm served from a background loop (the CLI under test owns the test thread)."""

    def __init__(self, specs: Sequence[Any] = ()) -> None:
        from smartbuild.sim.peers.modbus_farm import ModbusFarm

        self.lt = LoopThread()
        self.farm = ModbusFarm(port=0)
        for spec in specs:
            self.add(spec)

    @property
    def endpoints(self) -> list[tuple[str, int]]:
        """Return the (host, port) of every server."""
        return self.farm.endpoints

    def run(self, coro: Awaitable[T]) -> T:
        """Run a coroutine on the farm's loop and return its result."""
        return self.lt.run(coro)

    def call(self, fn: Callable[[Any], T]) -> T:
        """Run fn(farm) on the farm's loop (the farm is not thread-safe)."""

        async def go() -> T:
            return fn(self.farm)

        return self.lt.run(go())

    def add(self, spec: Any) -> str:
        """Start one server; return its "host:port"."""
        host, port = self.lt.run(self.farm.add_server(spec))
        return f"{host}:{port}"

    def add_rtu_bus(self, path: str, units: Sequence[Any]) -> None:
        """Serve units on an RTU bus at a serial path."""
        self.lt.run(self.farm.add_rtu_bus(path, units))

    def stats(self, endpoint: str) -> Any:
        """Return the server-side counters of "host:port" (or an RTU path)."""
        host, _, port = endpoint.rpartition(":") if ":" in endpoint else (endpoint, "", "0")
        return self.call(lambda f: f.stats(host, int(port)))

    def get(
        self, host: str, port: int, unit: int, table: str, address: int, count: int = 1
    ) -> list[Any]:
        """Return registers as the device holds them now."""
        return list(self.lt.run(self.farm.get_registers(host, port, unit, table, address, count)))

    def set(
        self, host: str, port: int, unit: int, table: str, address: int, values: list[Any]
    ) -> None:
        """Change registers from the test side (someone at the device)."""
        self.lt.run(self.farm.set_registers(host, port, unit, table, address, values))

    def stop(self) -> None:
        """Stop every server and the loop."""
        self.lt.run(self.farm.close())
        self.lt.stop()

    close = stop


@contextmanager
def farm_thread(specs: Sequence[Any]) -> Iterator[FarmThread]:
    """Serve ModbusFarm specs for the duration of a with-block."""
    farm = FarmThread(specs)
    try:
        yield farm
    finally:
        farm.close()
