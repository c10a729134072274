"""The transports of a session: one instance per transport name, created on first use."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from smartbuild.model.device import Device, Reading
    from smartbuild.services.registry import Entry
    from smartbuild.transports.base import Transport


class Connections:
    """One transport instance per transport name (an async context that closes them all).

    ``entry`` returns a transport's registry entry (class and provenance) by name, or raises a
    UsageError for one that is not loaded (``Registry.transport_entry``).
    """

    def __init__(self, entry: Callable[[str], Entry], warn: Callable[[str], None]) -> None:
        self.entry = entry
        self.warn = warn
        self._transports: dict[str, Transport] = {}

    def transport(self, name: str) -> Transport:
        """Return the transport instance for a name, creating it on first use."""
        if name not in self._transports:
            cls: type[Transport] = self.entry(name).value
            self._transports[name] = cls(warn=self.warn)
        return self._transports[name]

    def provenance(self, name: str) -> tuple[str, str]:
        """Return (plugin, version) of the plugin that provides a transport."""
        entry = self.entry(name)
        return entry.plugin, entry.version

    async def read(self, device: Device, points: Sequence[str]) -> list[Reading]:
        """Read points of one device."""
        for name in points:
            device.point(name)  # unknown point names are a usage error, before any I/O
        return await self.transport(device.transport).read(device, points)

    async def read_many(
        self, requests: Iterable[tuple[Device, Sequence[str]]]
    ) -> dict[str, list[Reading]]:
        """Read several devices concurrently; one slow device does not hold up the others."""
        pairs = list(requests)
        results = await asyncio.gather(*(self.read(d, pts) for d, pts in pairs))
        return {d.id: r for (d, _), r in zip(pairs, results, strict=True)}

    async def write(self, device: Device, point: str, value: Any) -> None:
        """Write one point of one device (engineering units)."""
        await self.transport(device.transport).write(device, point, value)

    def stats(self) -> dict[str, Any]:
        """Return per-device counters of every transport used."""
        out: dict[str, Any] = {}
        for transport in self._transports.values():
            for dev_id, st in transport.stats.items():
                out[dev_id] = {
                    "requests": st.requests,
                    "errors": st.errors,
                    "timeouts": st.timeouts,
                    "last_error": st.last_error,
                }
        return out

    async def aclose(self) -> None:
        """Close every transport opened so far."""
        transports = list(self._transports.values())
        self._transports.clear()
        await asyncio.gather(*(t.aclose() for t in transports), return_exceptions=True)

    async def __aenter__(self) -> Connections:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
