"""Run the simulated building: Modbus servers, mDNS announcements, BLE sensors and physics ticks.

Everything listens on loopback only: one pymodbus TCP server per device address in 127.0.0.0/8
(the heat pump, AHU and meter as units of one gateway), one zeroconf responder pinned to
127.0.0.1 and a BlueZ-compatible service on a private dbus-daemon the simulator starts itself.
Each zone setpoint has one owner, the zone: a client's write through any device (a Modbus
thermostat, the BLE room sensor) is applied to the building before it is answered, and the
zone's other devices show the new value before they answer another read. Each tick applies
any write still unseen (found by comparing the register images), advances the physics by
``speed`` times the wall-clock time and pushes the new values.
A lock in SMARTBUILD_HOME keeps a second simulator of the same home from starting, and a state
file there tells other commands (and ``smartbuild demo``) where the simulator listens.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ipaddress
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from smartbuild.errors import SmartbuildError, UsageError
from smartbuild.sim.building.binding import SimDevice
from smartbuild.sim.building.site import SimBuilding, modbus_templates
from smartbuild.sim.peers.announce import MDNS_RULES, tag
from smartbuild.sim.state import SimLock, address_range, write_state

MAX_SPEED = 3600.0  # one simulated hour per wall-clock second
RTU_TURNAROUND_S = 0.0126  # one short read on an RS-485 bus at 19200 Bd (REFERENCE.md)


@dataclass
class SimOptions:
    """What `smartbuild sim` was asked for."""

    home: Path
    zones: int = 12
    kind: str = "office"
    speed: float = 60.0
    base: str = "127.0.2.1"
    port: int = 5020
    start: dt.datetime | None = None
    site_out: Path | None = None
    ble: bool | None = None  # None: when dbus-daemon is installed
    mdns: bool = True
    bacnet: bool | None = None  # None: when bacpypes3 is installed
    tick_s: float = 1.0
    seed: int | None = 0
    water: bool = False  # a water meter, shut-off valve and leak detector on the bus
    leak_lph: float = 0.0  # an injected continuous leak (litres per hour); implies water
    burst_m3h: float = 0.0  # an injected burst (m³/h); implies water

    def check(self) -> None:
        """Refuse values that cannot work, before anything starts."""
        from smartbuild.sim.building.site import MAX_ZONES

        if not 1 <= self.zones <= MAX_ZONES:
            raise UsageError(f"--zones must be between 1 and {MAX_ZONES}, got {self.zones}",
                             hint="12 zones show everything; 500 is the benchmark size")  # fmt: skip
        if not 0 < self.speed <= MAX_SPEED:
            raise UsageError(f"--speed must be above 0 and at most {MAX_SPEED:g}, got {self.speed:g}",
                             hint="60 runs a simulated hour in a minute")  # fmt: skip
        try:
            first = ipaddress.IPv4Address(self.base)
        except ValueError:
            raise UsageError(f"--base {self.base!r} is not an IPv4 address") from None
        if not first.is_loopback:
            raise UsageError(f"--base {self.base} is not a loopback address",
                             hint="the simulator listens on 127.0.0.0/8 only, e.g. --base 127.0.2.1")  # fmt: skip
        if not 0 <= self.port <= 65535:
            raise UsageError(f"--port {self.port} is not a TCP port")
        if not (0 <= self.leak_lph <= 10_000 and 0 <= self.burst_m3h <= 100):
            raise UsageError("--leak must be 0-10000 L/h and --burst 0-100 m³/h")
        if not 0.05 <= self.tick_s <= 60:
            raise UsageError(f"tick of {self.tick_s} s is outside 0.05-60 s")


@dataclass
class _Served:
    """A Modbus device as served: its endpoint and the last register image pushed."""

    dev: SimDevice
    host: str
    port: int
    unit: int
    bounds: dict[str, tuple[int, int]] = field(default_factory=dict)
    image: dict[str, list[Any]] = field(default_factory=dict)


class Simulator:
    """The running simulated building (use ``async with`` or start()/close())."""

    def __init__(self, options: SimOptions, notice: Callable[[str], None] | None = None) -> None:
        options.check()
        self.options = options
        self.notice = notice or (lambda text: None)
        self.building: SimBuilding | None = None
        self.farm: Any = None
        self.ble: Any = None
        self.bacnet: Any = None
        self.state: dict[str, Any] = {}
        self.refused: list[str] = []
        self.applied_writes = 0
        self._served: list[_Served] = []
        self._by_unit: dict[tuple[str, int, int], _Served] = {}
        self._writes_seen: dict[tuple[str, int], int] = {}
        self._dirty: set[str] = (
            set()
        )  # zones whose setpoint moved outside Modbus since the last push
        self._mutex = asyncio.Lock()  # a tick and a client's write never interleave
        self._stack = contextlib.AsyncExitStack()
        self._lock = SimLock(options.home)

    async def __aenter__(self) -> Simulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ---- start and stop ------------------------------------------------------------------

    async def start(self) -> dict[str, Any]:
        """Start everything (or nothing: a failure unwinds what started); return the state."""
        self._lock.acquire()
        self._stack.callback(self._lock.release)
        try:
            return await self._start()
        except BaseException:
            await self.close()
            raise

    async def _start(self) -> dict[str, Any]:
        from smartbuild.sim.peers.modbus_farm import loopback_hosts

        o = self.options
        t0 = time.monotonic()
        from smartbuild.services.registry import builtin_registry

        every = builtin_registry().template_values()  # mDNS and BLE devices are announced too
        templates = modbus_templates({n: t for n, t in every.items() if t.transport == "modbus"})
        count = 3 + 2 * o.zones + len(MDNS_RULES) + 1 + 2  # upper bound (+2: BACnet devices)
        try:
            hosts = loopback_hosts(count, o.base)
        except ValueError:
            raise UsageError(f"127.0.0.0/8 has no room for {count} addresses from {o.base}",
                             hint="use a lower --base, e.g. 127.0.2.1") from None  # fmt: skip
        water = None
        if o.water or o.leak_lph or o.burst_m3h:
            from smartbuild.sim.building.water import WaterModel

            water = WaterModel(leak_lph=o.leak_lph, burst_m3h=o.burst_m3h)
        b = SimBuilding.create(o.zones, kind=o.kind, hosts=hosts, port=o.port, start=o.start,
                               templates=templates, seed=o.seed, water=water)  # fmt: skip
        self.building = b
        for gap in b.missing:
            self.notice(f"no template for the {gap}: the building has none")
        await self._start_modbus(b)
        used = {d.address.rsplit(":", 1)[0] for d in b.devices}
        spare = [h for h in hosts if h not in used]
        extra: list[tuple[str, dict[str, Any]]] = []
        mdns = await self._start_mdns(b, spare) if o.mdns else []
        if mdns:
            from smartbuild.sim.peers.announce import site_entries

            extra += site_entries(mdns, every, [z.id for z in b.zones])
        ble = await self._start_ble(b)
        if ble is not None:
            extra += ble.site_entries(every)
        extra += await self._start_bacnet(spare[len(MDNS_RULES) :], b)
        site_text = b.site_yaml(extra)
        site_path = None
        if o.site_out is not None:
            site_path = Path(o.site_out).resolve()
            site_path.parent.mkdir(parents=True, exist_ok=True)
            tmp = site_path.with_name(site_path.name + ".tmp")
            tmp.write_text(site_text)
            tmp.replace(site_path)
        modbus_hosts = sorted({s.host for s in self._served}, key=ipaddress.IPv4Address)
        self.state = {
            "pid": os.getpid(),
            "started": time.time(),
            "start_seconds": round(time.monotonic() - t0, 3),
            "home": str(o.home),
            "zones": o.zones,
            "speed": o.speed,
            "sim_time": b.now.isoformat(),
            "base": o.base,
            "port": o.port,
            "site_file": str(site_path) if site_path else None,
            "devices": len(b.devices) + len(extra),
            "modbus": {
                "hosts": [modbus_hosts[0], modbus_hosts[-1]] if modbus_hosts else [],
                "range": address_range(modbus_hosts, o.port),
                "gateway": b.gateway,
                "units": sorted({s.unit for s in self._served}),
                "devices": len(self._served),
            },
            "water": {"leak_lph": o.leak_lph, "burst_m3h": o.burst_m3h} if water else None,
            "mdns": {"interface": "127.0.0.1", "services": [a.name for a in mdns]} if o.mdns else None,
            "ble": {"bus_address": self._bus_address, "devices": [s.address for s in ble.sensors]}
            if ble is not None else None,
            "bacnet": self.bacnet.state() if self.bacnet is not None else None,
        }  # fmt: skip
        path = write_state(o.home, self.state)
        self._stack.callback(path.unlink, missing_ok=True)
        return self.state

    async def _start_modbus(self, b: SimBuilding) -> None:
        from smartbuild.sim.peers.modbus_farm import ModbusFarm, ServerSpec, SimUnit

        by_host: dict[tuple[str, int], list[_Served]] = {}
        for dev in b.devices:
            host, port_text = dev.address.rsplit(":", 1)
            served = _Served(dev, host, int(port_text), dev.unit or 1)
            by_host.setdefault((host, int(port_text)), []).append(served)
            self._served.append(served)
            self._by_unit[(host, int(port_text), served.unit)] = served
        specs = []
        for (host, port), group in by_host.items():
            units = []
            for s in group:
                tables = b.tables(s.dev)
                s.bounds = {t: (min(v), max(v)) for t, v in tables.items() if v}
                s.image = {t: self._block(tables, t, s.bounds[t]) for t in s.bounds}
                pm = b.point_map(s.dev)
                delay = RTU_TURNAROUND_S if len(group) > 1 else 0.0
                units.append(SimUnit(
                    s.unit, holding=tables["holding"], input=tables["input"], coils=tables["coil"],
                    discrete=tables["discrete"], identity=pm.identity(), server_id=pm.server_id(),
                    response_delay_s=delay,
                ))  # fmt: skip
            specs.append(ServerSpec(host, units, port, unknown_unit="gateway"))
        farm = ModbusFarm(port=self.options.port)
        farm.around = self._around
        self._stack.push_async_callback(farm.close)
        self.farm = farm
        for spec in specs:
            try:
                await farm.add_server(spec)
            except SmartbuildError:
                raise SmartbuildError(
                    f"cannot listen on {spec.host}:{spec.port}: the address is in use",
                    hint="another simulator or program holds it; pick another --base or --port",
                ) from None

    async def _start_mdns(self, b: SimBuilding, spare: list[str]) -> list[Any]:
        from smartbuild.sim.peers.announce import announcements
        from smartbuild.sim.peers.mdns import MdnsResponder

        items = announcements(b, spare, tag(self.options.base, self.options.port))
        responder = MdnsResponder("127.0.0.1")
        await self._stack.enter_async_context(responder)
        await responder.add(*items)
        return items

    async def _start_ble(self, b: SimBuilding) -> Any:
        from smartbuild.sim.peers.ble_sensors import BleSensors

        self._bus_address = None
        wanted = self.options.ble
        if wanted is False:
            return None
        from smartbuild.sim.peers.dbusd import PrivateBus

        bus = PrivateBus()
        try:
            await bus.astart()
        except SmartbuildError as error:
            if wanted:
                raise
            self.notice(
                f"BLE skipped: {error.message}" + (f" ({error.hint})" if error.hint else "")
            )
            return None
        self._stack.callback(bus.stop)
        from smartbuild.sim.peers.bluez import BlueZService

        sensors = BleSensors(b)
        sensors.on_change = self._dirty.add
        service = BlueZService(bus.address)
        await self._stack.enter_async_context(service)
        for device in sensors.devices():
            service.add_device(device)
        sensors.service = service
        self.ble = sensors
        self._bus_address = bus.address
        return sensors

    async def _start_bacnet(
        self, spare: list[str], b: SimBuilding
    ) -> list[tuple[str, dict[str, Any]]]:
        """Serve the BACnet devices when bacpypes3 is installed (else say it is skipped)."""
        import importlib.util

        if self.options.bacnet is False:
            return []
        if importlib.util.find_spec("bacpypes3") is None:
            if self.options.bacnet:
                from smartbuild.errors import SmartbuildError

                raise SmartbuildError("--bacnet needs bacpypes3, which is not installed",
                                      hint="pip install 'smartbuild[bacnet]'")  # fmt: skip
            self.notice(
                "BACnet skipped: bacpypes3 is not installed (pip install 'smartbuild[bacnet]')"
            )
            return []
        if len(spare) < 2:
            self.notice("BACnet skipped: no spare loopback address")
            return []
        from smartbuild.sim.peers.bacnet_devices import BacnetPlant

        plant = BacnetPlant()
        self._stack.callback(plant.close)
        entries = await plant.start(spare[:2], b.zones[0].id if b.zones else None)
        self.bacnet = plant
        return entries

    async def close(self) -> None:
        """Stop everything that started, newest first; remove the state file."""
        await self._stack.aclose()

    # ---- ticks ------------------------------------------------------------------------

    @staticmethod
    def _block(tables: dict[str, dict[int, Any]], table: str, bounds: tuple[int, int]) -> list[Any]:
        blank: Any = False if table in ("coil", "discrete") else 0
        values = tables[table]
        return [values.get(a, blank) for a in range(bounds[0], bounds[1] + 1)]

    async def _around(
        self, key: tuple[str, int], unit: int, write: bool, serve: Callable[[], Awaitable[Any]]
    ) -> Any:
        """Serve one Modbus request: a write reaches the building before it is answered."""
        if not write:
            if self._dirty:  # a BLE write moved a zone setpoint: publish it before this read
                async with self._mutex:
                    await self._push_zones()
            return await serve()
        async with self._mutex:
            response = await serve()
            served = self._by_unit.get((*key, unit))
            if served is not None:
                self._writes_seen[key] = self.farm.stats(*key).writes()
                if await self._apply(served) and served.dev.zone is not None:
                    self._dirty.add(served.dev.zone)
                    await self._push_zones(skip=served)
            return response

    async def apply_writes(self) -> int:
        """Apply what clients wrote and is not applied yet; return how many points changed."""
        farm = self.farm
        changed_nodes = set()
        for key in farm.endpoints:
            writes = farm.stats(*key).writes()
            if writes != self._writes_seen.get(key, 0):
                self._writes_seen[key] = writes
                changed_nodes.add(key)
        count = 0
        for s in self._served:
            if (s.host, s.port) in changed_nodes:
                count += await self._apply(s)
        return count

    async def _apply(self, s: _Served) -> int:
        """Apply one device's written points to the building; return how many changed."""
        b, farm = self.building, self.farm
        assert b is not None
        before: dict[str, dict[int, Any]] = {}
        now: dict[str, dict[int, Any]] = {}
        for table in ("holding", "coil"):
            if table not in s.bounds:
                continue
            lo, hi = s.bounds[table]
            current = await farm.get_registers(s.host, s.port, s.unit, table, lo, hi - lo + 1)
            before[table] = dict(enumerate(s.image[table], lo))
            now[table] = dict(enumerate(current, lo))
            # the server holds what the client wrote: a refused value must be pushed back
            s.image[table] = list(current)
        changed = b.point_map(s.dev).changed_writes(before, now)
        if changed:
            refused = b.write(s.dev, changed)
            self.refused.extend(refused)
            for text in refused:
                self.notice(f"refused: {text}")
        self.applied_writes += len(changed)
        return len(changed)

    async def _push_zones(self, skip: _Served | None = None) -> None:
        """Publish the devices of the zones whose setpoint moved (not the device just written)."""
        zones = set(self._dirty)
        self._dirty.clear()  # the same set: the BLE sensors add to it
        await self._publish([s for s in self._served if s.dev.zone in zones and s is not skip])
        if self.ble is not None:
            for zone in zones:
                self.ble.refresh_setpoints(zone)

    async def push(self) -> int:
        """Write the building's current values into every unit; return registers blocks sent."""
        self._dirty.clear()
        sent = await self._publish(self._served)
        if self.ble is not None:
            self.ble.update()
        return sent

    async def _publish(self, served: list[_Served]) -> int:
        """Write the building's current values into these units; return register blocks sent."""
        b, farm = self.building, self.farm
        assert b is not None
        sent = 0
        for s in served:
            tables = b.tables(s.dev)
            for table, bounds in s.bounds.items():
                block = self._block(tables, table, bounds)
                if block != s.image[table]:
                    await farm.set_registers(s.host, s.port, s.unit, table, bounds[0], block)
                    s.image[table] = block
                    sent += 1
        return sent

    async def tick(self, sim_seconds: float) -> None:
        """Apply client writes, advance the physics by ``sim_seconds``, publish the values."""
        assert self.building is not None
        async with self._mutex:
            await self.apply_writes()
            self.building.advance(sim_seconds)
            await self.push()
            if self.bacnet is not None:
                self.bacnet.tick(sim_seconds, self.building.physics.outdoor_temperature_c)

    async def run(self, stop: asyncio.Event) -> None:
        """Tick until ``stop`` is set (simulated time runs ``speed`` times the wall clock)."""
        loop = asyncio.get_running_loop()
        last = loop.time()
        while not stop.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), self.options.tick_s)
            now = loop.time()
            await self.tick((now - last) * self.options.speed)
            last = now
