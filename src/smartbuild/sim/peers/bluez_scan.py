"""Discovery of the simulated BlueZ: scan sessions, advertisement monitors, adverts.

BlueZ semantics kept here: each client (bus name) may hold one discovery session
and its own discovery filter; sessions and monitors die with their client; a device
is exported (``InterfacesAdded``) when first heard, then every advertisement is an
``RSSI`` ``PropertiesChanged`` (with advert data when it changed or a scan began).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from dbus_fast import Message, MessageFlag, MessageType, Variant

from smartbuild.sim.peers.adverts import normalize_uuid
from smartbuild.sim.peers.bluez_objects import advertised_uuids, bluez_error, device_iface

if TYPE_CHECKING:
    from smartbuild.sim.peers.bluez import BlueZService, _Dev

log = logging.getLogger(__name__)

MONITOR_IFACE = "org.bluez.AdvertisementMonitor1"


@dataclass
class _Monitor:
    patterns: list[tuple[int, int, bytes]] = field(default_factory=list)
    active: bool = False


def matches(patterns: list[tuple[int, int, bytes]], ads: list[tuple[int, bytes]]) -> bool:
    """Return True if any or-pattern matches an AD structure (BlueZ monitor semantics)."""
    for start, ad_type, content in patterns:
        for kind, data in ads:
            if kind == ad_type and data[start : start + len(content)] == content:
                return True
    return False


def filter_ok(flt: Mapping[str, Any], dev: _Dev) -> bool:
    """Return True if a device passes a client's SetDiscoveryFilter settings."""
    uuids = flt.get("UUIDs")
    if uuids and not uuids & set(advertised_uuids(dev.sim)):
        return False
    if "RSSI" in flt and dev.sim.rssi < flt["RSSI"]:
        return False
    pattern = flt.get("Pattern")
    if not pattern:
        return True
    return dev.sim.address.startswith(pattern.upper()) or (dev.sim.name or "").startswith(pattern)


class Discovery:
    """Scan sessions, monitors and the advertising schedule of one adapter."""

    def __init__(self, svc: BlueZService, first_advert_delay_s: float) -> None:
        self._svc = svc
        self._first_delay = first_advert_delay_s
        self.filters: dict[str, dict[str, Any]] = {}  # client -> discovery filter
        self.sessions: set[str] = set()  # clients that called StartDiscovery
        self.monitors: dict[tuple[str, str], _Monitor] = {}  # (client, object path)
        self._heap: list[tuple[float, int, str, int]] = []  # (due, seq, address, gen)
        self._seq = 0
        self._wake = asyncio.Event()

    # ---- D-Bus methods (client = caller's unique bus name) ----------------------

    def set_filter(self, client: str, properties: dict[str, Variant]) -> None:
        """Store a client's discovery filter (an empty dict clears it)."""
        flt = {k: v.value for k, v in properties.items()}
        if "UUIDs" in flt:
            flt["UUIDs"] = {normalize_uuid(u) for u in flt["UUIDs"]}
        self.filters[client] = flt

    def start(self, client: str) -> None:
        """Start a client's discovery session."""
        if not self._svc.powered:
            raise bluez_error("NotReady", "Resource Not Ready")
        if client in self.sessions:
            raise bluez_error("InProgress", "Operation already in progress")
        if not self.sessions:
            self._svc._push(lambda: self._svc._adapter_changed(Discovering=True))
        self.sessions.add(client)
        self.restart()

    def stop(self, client: str) -> None:
        """End a client's discovery session."""
        if client not in self.sessions:
            raise bluez_error("Failed", "No discovery started")
        self._end(client)

    def _end(self, client: str) -> None:
        self.sessions.discard(client)
        if not self.sessions:
            self._svc._push(lambda: self._svc._adapter_changed(Discovering=False))

    def register_monitor(self, client: str, path: str) -> None:
        """Register a client's monitor; it is activated once the client exported it."""
        if (client, path) in self.monitors:
            raise bluez_error("AlreadyExists", "Already Exists")
        self.monitors[(client, path)] = _Monitor()
        # bleak exports the monitor object only after RegisterMonitor returns
        self._svc._spawn(self._activate((client, path)))

    def unregister_monitor(self, client: str, path: str) -> None:
        """Drop a client's monitor."""
        if self.monitors.pop((client, path), None) is None:
            raise bluez_error("DoesNotExist", "Does Not Exist")

    def client_gone(self, client: str) -> None:
        """Forget everything a disconnected client had set up."""
        self.filters.pop(client, None)
        if client in self.sessions:
            self._end(client)
        for key in [k for k in self.monitors if k[0] == client]:
            del self.monitors[key]

    def power_off(self) -> None:
        """End all sessions because the adapter went down."""
        if self.sessions:
            self.sessions.clear()
            self._svc._push(lambda: self._svc._adapter_changed(Discovering=False))

    # ---- schedule --------------------------------------------------------------

    def scanning(self) -> bool:
        """Return True while anyone listens for adverts."""
        return self._svc.powered and (
            bool(self.sessions) or any(m.active for m in self.monitors.values())
        )

    def schedule(self, dev: _Dev, delay: float | None = None) -> None:
        """Schedule a device's next advert (default: a few ms from now)."""
        self._seq += 1
        when = asyncio.get_running_loop().time() + (self._first_delay if delay is None else delay)
        heapq.heappush(self._heap, (when, self._seq, dev.sim.address, dev.gen))
        self._wake.set()

    def restart(self) -> None:
        """Make every device advertise (in full) a few ms from now, as a new scan hears them."""
        for dev in self._svc._devs.values():
            dev.gen += 1
            dev.full_next = True
            self.schedule(dev)

    async def run(self) -> None:
        """Queue each device's adverts at its interval while anyone scans (until cancelled)."""
        loop = asyncio.get_running_loop()
        while True:
            if not self.scanning():
                self._wake.clear()
                await self._wake.wait()
                continue
            now = loop.time()
            while self._heap and self._heap[0][0] <= now:
                due, _, address, gen = heapq.heappop(self._heap)
                dev = self._svc._devs.get(address)
                if dev is None or dev.gen != gen:
                    continue
                if not dev.pending:  # at most one queued advert per device
                    dev.pending = True
                    self._svc._push(partial(self._send_advert, dev))
                # a late scheduler skips missed adverts instead of bursting them
                self._seq += 1
                nxt = max(now, due) + dev.sim.interval_s
                heapq.heappush(self._heap, (nxt, self._seq, address, gen))
            self._wake.clear()
            delay = self._heap[0][0] - now if self._heap else 1.0
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=max(delay, 0.001))

    def _listeners(self, dev: _Dev) -> list[tuple[str, str]]:
        """Return who hears a device: ("", "") for scans, plus each matching monitor."""
        scans = (filter_ok(self.filters.get(c, {}), dev) for c in self.sessions)
        who = [("", "")] if any(scans) else []
        who += [k for k, m in self.monitors.items() if m.active and matches(m.patterns, dev.ads)]
        return who

    def _send_advert(self, dev: _Dev) -> None:
        dev.pending = False
        bus = self._svc._bus
        if self._svc._devs.get(dev.sim.address) is not dev or bus is None or not self.scanning():
            return
        who = self._listeners(dev)
        if not who:
            return
        if dev.iface is None:
            dev.iface = device_iface(self._svc, dev)
            bus.export(dev.path, dev.iface)  # InterfacesAdded carries the whole advert
        else:
            changed: dict[str, Any] = {"RSSI": dev.sim.rssi}
            if dev.full_next:
                changed["ManufacturerData"] = dev.iface.ManufacturerData
                changed["ServiceData"] = dev.iface.ServiceData
                changed["UUIDs"] = dev.iface.UUIDs
                if dev.sim.tx_power is not None:
                    changed["TxPower"] = dev.sim.tx_power
            dev.iface.emit_properties_changed(changed)
        dev.full_next = False
        self._svc.stats.adverts += 1
        for key in who:
            if key[0] and key not in dev.found_by:
                dev.found_by.add(key)
                bus.send(
                    Message(
                        destination=key[0],
                        path=key[1],
                        interface=MONITOR_IFACE,
                        member="DeviceFound",
                        signature="o",
                        body=[dev.path],
                        flags=MessageFlag.NO_REPLY_EXPECTED,
                    )
                )

    async def _activate(self, key: tuple[str, str]) -> None:
        bus = self._svc._bus
        assert bus is not None
        client, path = key
        props: dict[str, Variant] = {}
        for _ in range(100):  # bounded: about 1 s for the client to export it
            await asyncio.sleep(0.01)
            if key not in self.monitors:
                return
            reply = await bus.call(
                Message(
                    destination=client,
                    path=path,
                    interface="org.freedesktop.DBus.Properties",
                    member="GetAll",
                    signature="s",
                    body=[MONITOR_IFACE],
                )
            )
            if reply.message_type == MessageType.METHOD_RETURN and "Patterns" in reply.body[0]:
                props = reply.body[0]
                break
        mon = self.monitors.get(key)
        if mon is None or not props:
            log.warning("simulated BlueZ: monitor %s of %s never appeared", path, client)
            return
        mon.patterns = [(int(s), int(t), bytes(c)) for s, t, c in props["Patterns"].value]
        await bus.call(
            Message(destination=client, path=path, interface=MONITOR_IFACE, member="Activate")
        )
        mon.active = True
        self.restart()
