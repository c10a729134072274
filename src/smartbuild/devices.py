"""The devices of a site and the transports that reach them, for one command run."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from smartbuild.errors import UsageError
from smartbuild.transports.base import Device, Reading, Transport

if TYPE_CHECKING:
    from smartbuild.cli import App


def site_devices(app: App) -> dict[str, Device]:
    """Return every enabled device of the site with its template resolved."""
    loaded = app.site()
    registry = app.registry
    return {
        dev_id: Device(dev_id, spec, registry.template(spec.template))
        for dev_id, spec in loaded.site.devices.items()
        if spec.enabled
    }


def select_devices(app: App, ids: Sequence[str] = (), zones: Sequence[str] = ()) -> list[Device]:
    """Return the devices named, or those in the zones given, or all of them."""
    from smartbuild.suggest import did_you_mean

    devices = site_devices(app)
    site = app.site().site
    for zone in zones:
        if zone not in site.zones:
            raise UsageError(f"unknown zone {zone!r}.{did_you_mean(zone, site.zones)}")
    chosen: list[Device] = []
    for dev_id in ids:
        if dev_id not in devices:
            raise UsageError(
                f"unknown device {dev_id!r}.{did_you_mean(dev_id, devices)}",
                hint="`smartbuild devices` lists the devices of the site",
            )
        chosen.append(devices[dev_id])
    if zones:
        chosen.extend(d for d in devices.values() if d.spec.zone in zones and d not in chosen)
    if not ids and not zones:
        chosen = list(devices.values())
    return chosen


class Connections:
    """One transport instance per transport name for the duration of a run (async context)."""

    def __init__(self, app: App) -> None:
        self.app = app
        self._transports: dict[str, Transport] = {}

    def transport(self, name: str) -> Transport:
        """Return the transport instance for a name, creating it on first use."""
        if name not in self._transports:
            entry = self.app.registry.transports.get(name)
            if entry is None:
                from smartbuild.suggest import did_you_mean

                known = self.app.registry.transports
                raise UsageError(
                    f"no transport {name!r} is loaded.{did_you_mean(name, known)}",
                    hint="`smartbuild plugins` shows what is loaded",
                )
            self._transports[name] = entry.value(warn=self.app.output.warn)
        return self._transports[name]

    def provenance(self, name: str) -> tuple[str, str]:
        """Return (plugin, version) of the plugin that provides a transport."""
        entry = self.app.registry.transports[name]
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

    async def __aenter__(self) -> Connections:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.gather(
            *(t.aclose() for t in self._transports.values()), return_exceptions=True
        )
