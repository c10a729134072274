"""A BlueZ-compatible D-Bus service that bleak's BlueZ backend runs against unmodified.

Start a private bus (:class:`smartbuild.sim.peers.dbusd.PrivateBus`), point
``DBUS_SYSTEM_BUS_ADDRESS`` at it and run :class:`BlueZService` on it, in the same
event loop as bleak (two bus connections) or as a separate process
(``python -m smartbuild.sim.peers.bluez --bus-address ADDRESS --demo 20``).

Like BlueZ, devices appear (``InterfacesAdded``) when first heard during a scan and
then report each advertisement as an ``RSSI``/advert-data ``PropertiesChanged``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from collections import Counter, deque
from collections.abc import Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from dbus_fast import Message, MessageType, NameFlag, RequestNameReply
from dbus_fast.aio import MessageBus
from dbus_fast.service import ServiceInterface

from smartbuild.errors import SmartbuildError
from smartbuild.sim.peers.adverts import Advert, ad_structures, normalize_uuid
from smartbuild.sim.peers.bluez_devices import (
    AttError,
    SimBleDevice,
    SimGattChar,
    SimGattService,
    demo_devices,
    sensor_device,
)
from smartbuild.sim.peers.bluez_objects import (
    CCCD_UUID,
    USER_DESCRIPTION_UUID,
    AdapterIface,
    DeviceIface,
    GattCharIface,
    GattDescIface,
    GattServiceIface,
    MonitorManagerIface,
    bluez_error,
)
from smartbuild.sim.peers.bluez_scan import Discovery
from smartbuild.sim.peers.dbusd import SignalPacer, wait_for_name

__all__ = [
    "AttError",
    "BlueZService",
    "BlueZStats",
    "SimBleDevice",
    "SimGattChar",
    "SimGattService",
    "demo_devices",
    "sensor_device",
    "wait_for_bluez",
]

BLUEZ_NAME = "org.bluez"


@dataclass
class BlueZStats:
    """What clients did to the simulated BlueZ, for tests to assert on."""

    calls: Counter[str] = field(default_factory=Counter)  # D-Bus method -> calls
    reads: Counter[tuple[str, str]] = field(default_factory=Counter)  # (address, char uuid)
    writes: Counter[tuple[str, str]] = field(default_factory=Counter)  # (address, char uuid)
    adverts: int = 0  # advertisement signals sent (InterfacesAdded or PropertiesChanged)
    notifications: int = 0


@dataclass(eq=False)
class _Dev:
    """Runtime state of one simulated device (the BlueZ side of it)."""

    sim: SimBleDevice
    path: str
    iface: DeviceIface | None = None  # exported Device1 object, None until first heard
    connected: bool = False
    services_resolved: bool = False
    paired: bool = False
    trusted: bool = False
    blocked: bool = False
    gen: int = 0  # invalidates stale advertiser heap entries
    full_next: bool = True  # next advert carries all advert data, not just RSSI
    pending: bool = False  # an advert is queued in the pacer
    ads: list[tuple[int, bytes]] = field(default_factory=list)
    found_by: set[tuple[str, str]] = field(default_factory=set)  # monitors told DeviceFound
    gatt: list[tuple[str, ServiceInterface]] = field(default_factory=list)
    chars: dict[str, GattCharIface] = field(default_factory=dict)


class BlueZService:
    """Serve ``org.bluez`` with one adapter and simulated BLE devices on a D-Bus bus."""

    def __init__(
        self,
        bus_address: str,
        adapter: str = "hci0",
        powered: bool = True,
        *,
        adapter_address: str = "00:1A:7D:DA:71:13",
        first_advert_delay_s: float = 0.005,
    ) -> None:
        self.bus_address = bus_address
        self.adapter_path = f"/org/bluez/{adapter}"
        self.adapter_address = adapter_address
        self.powered = powered
        self.stats = BlueZStats()
        self.discovery = Discovery(self, first_advert_delay_s)
        self._devs: dict[str, _Dev] = {}
        self._by_path: dict[str, _Dev] = {}
        self._injected: dict[str, deque[tuple[str, str]]] = {}
        self.caller = ""  # unique bus name of the client whose method call is running
        self._bus: MessageBus | None = None
        self._pacer: SignalPacer | None = None
        self._adapter_iface: AdapterIface | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # ---- lifecycle -------------------------------------------------------------

    async def start(self) -> None:
        """Connect to the bus, export the adapter and own ``org.bluez``."""
        bus = await MessageBus(bus_address=self.bus_address).connect()
        self._bus = bus
        self._pacer = SignalPacer(bus)
        bus.add_message_handler(self._on_message)
        await bus.call(
            Message(
                destination="org.freedesktop.DBus",
                path="/org/freedesktop/DBus",
                interface="org.freedesktop.DBus",
                member="AddMatch",
                signature="s",
                body=["type='signal',sender='org.freedesktop.DBus',member='NameOwnerChanged'"],
            )
        )
        self._adapter_iface = AdapterIface(self)
        bus.export(self.adapter_path, self._adapter_iface)
        bus.export(self.adapter_path, MonitorManagerIface(self))
        # own the name last, so a client never sees a half-built object tree
        reply = await bus.request_name(BLUEZ_NAME, NameFlag.DO_NOT_QUEUE)
        if reply != RequestNameReply.PRIMARY_OWNER:
            await self.stop()
            raise SmartbuildError(
                f"{BLUEZ_NAME} is already owned on {self.bus_address}",
                hint="stop the other BlueZ (real or simulated) on that bus",
            )
        self._spawn(self._pacer.run())
        self._spawn(self.discovery.run())

    async def stop(self) -> None:
        """Cancel background work and disconnect from the bus."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        bus, self._bus = self._bus, None
        if bus is not None:
            bus.disconnect()
            with contextlib.suppress(Exception):
                await bus.wait_for_disconnect()

    async def __aenter__(self) -> BlueZService:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ---- test and simulator API -----------------------------------------------

    @property
    def discovering(self) -> bool:
        """Return True while at least one client runs an active scan."""
        return bool(self.discovery.sessions)

    @property
    def devices(self) -> Mapping[str, SimBleDevice]:
        """Return the simulated devices by upper-case address."""
        return {addr: d.sim for addr, d in self._devs.items()}

    def device_path(self, address: str) -> str:
        """Return the D-Bus object path BlueZ uses for a device address."""
        return f"{self.adapter_path}/dev_{address.upper().replace(':', '_')}"

    def add_device(self, device: SimBleDevice) -> None:
        """Put a device in range; scans hear it from its next advert on."""
        if device.address in self._devs:
            raise ValueError(f"device {device.address} already exists")
        d = _Dev(device, self.device_path(device.address))
        self._refresh_ads(d)
        self._devs[device.address] = d
        self._by_path[d.path] = d
        if self._bus is not None:
            self.discovery.schedule(d)

    def remove_device(self, address: str) -> None:
        """Take a device out of range and out of BlueZ (InterfacesRemoved)."""
        d = self._devs.pop(address.upper())
        del self._by_path[d.path]
        self._forget(d)

    def update_advert(
        self,
        address: str,
        *,
        manufacturer_data: Mapping[int, bytes] | None = None,
        service_data: Mapping[str, bytes] | None = None,
        service_uuids: Iterable[str] | None = None,
        rssi: int | None = None,
    ) -> None:
        """Change what a device advertises; it goes out with the device's next advert."""
        d = self._devs[address.upper()]
        if manufacturer_data is not None:
            d.sim.manufacturer_data = {int(k): bytes(v) for k, v in manufacturer_data.items()}
        if service_data is not None:
            d.sim.service_data = {normalize_uuid(k): bytes(v) for k, v in service_data.items()}
        if service_uuids is not None:
            d.sim.service_uuids = [normalize_uuid(u) for u in service_uuids]
        if rssi is not None:
            d.sim.rssi = rssi
        d.full_next = True
        self._refresh_ads(d)

    def set_char_value(self, address: str, char_uuid: str, value: bytes) -> bool:
        """Set a characteristic value and notify a subscribed client; return True if notified."""
        d = self._devs[address.upper()]
        uuid = normalize_uuid(char_uuid)
        specs = [c for s in d.sim.gatt for c in s.characteristics if c.uuid == uuid]
        if not specs:
            raise KeyError(f"{address} has no characteristic {uuid}")
        specs[0].value = bytes(value)
        char = d.chars.get(uuid)
        if char is None or not char.notifying or not d.connected:
            return False
        self.stats.notifications += 1
        self._push(lambda: char.emit_properties_changed({"Value": bytes(value)}))
        return True

    def set_powered(self, powered: bool) -> None:
        """Power the adapter on or off (off ends scans and connections, like BlueZ)."""
        if powered == self.powered:
            return
        self.powered = powered
        if not powered:
            self.discovery.power_off()
            for d in self._devs.values():
                if d.connected:
                    self._push(partial(self._drop_connection, d))
        self._push(lambda: self._adapter_changed(Powered=powered))
        if powered:
            self.discovery.restart()

    def inject_error(
        self,
        method: str,
        error: str = "org.bluez.Error.InProgress",
        message: str = "Operation already in progress",
        count: int = 1,
    ) -> None:
        """Make the next ``count`` calls of a D-Bus method (e.g. StartDiscovery) fail."""
        self._injected.setdefault(method, deque()).extend([(error, message)] * count)

    async def wait_idle(self) -> None:
        """Wait until every queued signal has been handed to the bus."""
        if self._pacer is not None:
            await self._pacer.flush()

    # ---- called by the D-Bus objects ------------------------------------------

    def _count(self, method: str) -> None:
        self.stats.calls[method] += 1

    def _take_injected(self, method: str) -> None:
        queue = self._injected.get(method)
        if queue:
            name, text = queue.popleft()
            raise bluez_error(name.removeprefix("org.bluez.Error."), text)

    def _call(self, method: str) -> str:
        """Count a discovery/monitor call, apply injected errors, return the caller."""
        self._count(method)
        self._take_injected(method)
        return self.caller

    def _remove_device_object(self, path: str) -> None:
        d = self._by_path.get(path)
        if d is None or d.iface is None:
            raise bluez_error("DoesNotExist", "Does Not Exist")
        self._forget(d)  # still in range: a later scan hears it again

    async def _connect(self, d: _Dev) -> None:
        self._count("Connect")
        self._take_injected("Connect")
        await self._establish(d)

    async def _establish(self, d: _Dev) -> None:
        if not self.powered:
            raise bluez_error("NotReady", "Resource Not Ready")
        if not d.sim.connectable:
            raise bluez_error("Failed", "le-connection-timeout")
        if not d.connected:
            assert self._pacer is not None
            # Connected must reach the client before the reply, as with BlueZ:
            # bleak checks it right after Connect returns.
            await self._pacer.run_now(lambda: self._bring_up(d))

    async def _disconnect(self, d: _Dev) -> None:
        self._count("Disconnect")
        if d.connected and self._pacer is not None:
            await self._pacer.run_now(lambda: self._drop_connection(d))

    async def _pair(self, d: _Dev) -> None:
        self._count("Pair")
        self._take_injected("Pair")
        if d.paired:
            raise bluez_error("AlreadyExists", "Already Exists")
        await self._establish(d)  # BlueZ pairs over a connection
        d.paired = True
        iface = d.iface
        if iface is not None and self._pacer is not None:
            await self._pacer.run_now(
                lambda: iface.emit_properties_changed({"Paired": True, "Bonded": True})
            )

    # ---- internals ---------------------------------------------------------------

    def _on_message(self, msg: Message) -> bool:
        if msg.message_type == MessageType.METHOD_CALL:
            # dbus-fast dispatches to the (synchronous) method right after this
            # handler, so discovery and monitor methods can tell clients apart.
            self.caller = msg.sender or ""
        elif msg.member == "NameOwnerChanged" and len(msg.body) == 3 and not msg.body[2]:
            self.discovery.client_gone(msg.body[0])
        return False

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _push(self, fn: Callable[[], None]) -> None:
        if self._pacer is not None:
            self._pacer.push(fn)

    def _adapter_changed(self, **changed: bool) -> None:
        if self._adapter_iface is not None:
            self._adapter_iface.emit_properties_changed(changed)

    def _refresh_ads(self, d: _Dev) -> None:
        s = d.sim
        advert = Advert(
            s.name, s.manufacturer_data, s.service_data, tuple(s.service_uuids), s.tx_power
        )
        d.ads = ad_structures(advert)

    def _bring_up(self, d: _Dev) -> None:
        if self._bus is None or d.iface is None:
            return
        d.connected = True
        d.iface.emit_properties_changed({"Connected": True})
        if not d.gatt:
            self._build_gatt(d)
        for path, iface in d.gatt:
            self._bus.export(path, iface)
        d.services_resolved = True
        d.iface.emit_properties_changed({"ServicesResolved": True})

    def _build_gatt(self, d: _Dev) -> None:
        handle = 1  # bleak takes handles from the last four hex digits of the paths
        for service in d.sim.gatt:
            spath = f"{d.path}/service{handle:04x}"
            d.gatt.append((spath, GattServiceIface(service, d.path)))
            handle += 1
            for spec in service.characteristics:
                cpath = f"{spath}/char{handle:04x}"
                char = GattCharIface(self, d, spec, spath)
                d.gatt.append((cpath, char))
                d.chars.setdefault(spec.uuid, char)
                handle += 2  # declaration + value
                descs = [USER_DESCRIPTION_UUID] if spec.description else []
                if {"notify", "indicate"} & set(spec.flags):
                    descs.append(CCCD_UUID)
                for uuid in descs:
                    desc = GattDescIface(self, uuid, char, cpath)
                    d.gatt.append((f"{cpath}/desc{handle:04x}", desc))
                    handle += 1

    def _drop_connection(self, d: _Dev) -> None:
        if not d.connected or d.iface is None or self._bus is None:
            return
        d.connected = d.services_resolved = False
        d.iface.emit_properties_changed({"ServicesResolved": False})
        d.iface.emit_properties_changed({"Connected": False})
        for char in d.chars.values():
            char.notifying = False
        for path, _ in reversed(d.gatt):
            self._bus.unexport(path)

    def _forget(self, d: _Dev) -> None:
        d.gen += 1  # cancels its scheduled adverts
        d.paired = d.trusted = False
        d.found_by.clear()

        def send() -> None:
            # queued behind adverts already pending, so those still find the object
            self._drop_connection(d)
            if d.iface is not None and self._bus is not None:
                self._bus.unexport(d.path)
            d.iface = None

        self._push(send)
        if self._devs.get(d.sim.address) is d:
            self.discovery.schedule(d, d.sim.interval_s)


async def wait_for_bluez(bus_address: str, timeout: float = 5.0) -> None:
    """Wait until something owns ``org.bluez`` on a bus (e.g. a service in another process)."""
    await wait_for_name(bus_address, BLUEZ_NAME, timeout)


async def _serve(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with BlueZService(args.bus_address, powered=not args.powered_off) as service:
        for device in demo_devices(args.demo, interval_s=args.interval):
            service.add_device(device)
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    """Run the simulated BlueZ until SIGTERM (``python -m smartbuild.sim.peers.bluez``)."""
    parser = argparse.ArgumentParser(
        prog="python -m smartbuild.sim.peers.bluez", description=__doc__
    )
    parser.add_argument("--bus-address", required=True, help="D-Bus address to serve on")
    parser.add_argument("--demo", type=int, default=0, help="number of demo sensors")
    parser.add_argument("--interval", type=float, default=1.0, help="advertising interval (s)")
    parser.add_argument("--powered-off", action="store_true", help="start with the adapter off")
    asyncio.run(_serve(parser.parse_args(argv)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
