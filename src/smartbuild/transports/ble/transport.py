"""Bluetooth LE transport on bleak (BlueZ): decoded advert discovery, advert and GATT points, writes.

Advert points (``advert: temperature``) come from the device's advertisements, decoded through
:mod:`smartbuild.transports.ble.decode`; GATT points (``service:`` + ``characteristic:``) are read
over one connection per device per run, which writes reuse. Every read and follower of a run
shares one scan per adapter. bleak is imported lazily.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from smartbuild.config.secret import reveal_text
from smartbuild.errors import DeviceError, SafetyRefusal, SmartbuildError, UnreachableError
from smartbuild.transports.base import (
    Candidate,
    Device,
    DiscoverContext,
    DiscoverOptions,
    Reading,
    Transport,
)
from smartbuild.transports.ble.decode import (
    AdvertData,
    Decoded,
    Decoder,
    Measurement,
    advert_values,
    decode_advert,
    decoders_from_env,
)
from smartbuild.transports.ble.family import BleFamily, BleOptions
from smartbuild.transports.ble.scan import (
    DEFAULT_SCAN_S,
    AdvertHub,
    BluetoothUnavailable,
    ble_error,
    retry_in_progress,
)

CONNECT_TIMEOUT_S = 10.0  # bleak's default; real connections take 0.5-5 s


class BleTransport(Transport):
    """Bluetooth LE through BlueZ: address = the device's MAC address."""

    name = "ble"
    family = BleFamily
    discover_options = BleOptions

    def __init__(self, warn: Callable[[str], None] | None = None) -> None:
        super().__init__(warn)
        self._decoders: list[Decoder] | None = None
        self._decoded: dict[str, tuple[tuple[Any, ...], Decoded]] = {}
        self._hubs: dict[str, AdvertHub] = {}
        self._clients: dict[str, Any] = {}
        self._connect_lock = asyncio.Lock()  # adapters establish one connection at a time
        self._told: set[str] = set()  # Bluetooth-wide failures already warned about

    # ---- decoding -----------------------------------------------------------------

    @property
    def decoders(self) -> list[Decoder]:
        """Return the advert decoders (SMARTBUILD_BLE_DECODERS, default bleparser)."""
        if self._decoders is None:
            self._decoders = decoders_from_env()
        return self._decoders

    def decode(self, advert: AdvertData) -> Decoded:
        """Decode an advert, reusing the result while the device repeats the same payload."""
        payload = advert.payload()
        cached = self._decoded.get(advert.address)
        if cached is not None and cached[0] == payload:
            return cached[1]
        decoded = decode_advert(advert, self.decoders)
        self._decoded[advert.address] = (payload, decoded)
        return decoded

    # ---- discovery ----------------------------------------------------------------

    async def discover(
        self, options: DiscoverOptions, context: DiscoverContext, found: Callable[[Candidate], None]
    ) -> None:
        """Scan (active, or passive with a fallback) for the duration or until N devices."""
        import dataclasses

        from smartbuild.transports.ble.discovery import discover

        settings = {**dataclasses.asdict(options), "templates": context.templates,
                    "progress": context.progress}  # fmt: skip
        await discover(self, settings, found)

    # ---- adverts of known devices -------------------------------------------------

    def _hub(self, device: Device) -> AdvertHub:
        adapter = device.spec.adapter or None
        key = adapter or ""
        if key not in self._hubs:
            self._hubs[key] = AdvertHub(adapter)
        return self._hubs[key]

    def wait_s(self, device: Device) -> float:
        """Return how long to listen for a device: the site's timeout, else two advert intervals."""
        if device.spec.timeout is not None:
            return device.spec.timeout
        interval = device.template.defaults.advert_interval
        return 2 * interval if interval else DEFAULT_SCAN_S

    def read_timeout(self, device: Device) -> float | None:
        """Return the listen window: a read waits for the device's next advert."""
        return self.wait_s(device)

    async def listen(self, device: Device, keys: set[str]) -> tuple[Any, dict[str, Measurement]]:
        """Listen until the device's adverts gave every key (or one advert, for no keys)."""
        address = reveal_text(device.spec.address).upper()
        got: dict[str, Measurement] = {}
        heard: list[Any] = []
        done = asyncio.Event()

        def on_advert(ble_device: Any, adv: Any) -> None:
            if ble_device.address.upper() != address:
                return
            heard[:] = [ble_device]
            if keys:
                advert = AdvertData.from_bleak(ble_device, adv)
                values = advert_values(advert, self.decode(advert))
                got.update((k, v) for k, v in values.items() if k in keys)
            if keys <= got.keys():
                done.set()

        hub, token = self._hub(device), object()
        await hub.add(token, on_advert)
        try:
            await asyncio.wait_for(done.wait(), self.wait_s(device))
        except asyncio.TimeoutError:
            pass
        finally:
            await hub.remove(token)
        return (heard[0] if heard else None), got

    # ---- GATT ---------------------------------------------------------------------

    async def _client(self, device: Device, ble_device: Any) -> Any:
        from bleak import BleakClient

        address = reveal_text(device.spec.address).upper()
        client = self._clients.get(address)
        if client is not None and client.is_connected:
            return client
        timeout = device.spec.timeout or CONNECT_TIMEOUT_S

        async def attempt() -> Any:
            new = BleakClient(ble_device, timeout=max(timeout, 1.0))
            await new.connect()
            return new

        async with self._connect_lock:
            try:
                client = await retry_in_progress(attempt)
            except Exception as error:
                mapped = ble_error(error, "cannot connect")
                if mapped is None:
                    raise
                raise UnreachableError(
                    mapped.message,
                    hint=mapped.hint
                    or "is it in range, connectable (not a beacon), and not held by another "
                    "central such as a phone app?",
                ) from None
        self._clients[address] = client
        return client

    async def _characteristic(self, device: Device, point_name: str) -> tuple[Any, Any]:
        """Return (client, characteristic) of a GATT point, connecting on first use."""
        device.point(point_name)  # a helpful error for an unknown point
        point = device.template.points[point_name]
        address = reveal_text(device.spec.address).upper()
        client = self._clients.get(address)
        if client is None or not client.is_connected:
            ble_device = self._hub(device).devices.get(address)
            if ble_device is None:
                ble_device, _ = await self.listen(device, set())
            if ble_device is None:
                raise self._not_heard(device)
            client = await self._client(device, ble_device)
        services = client.services
        service = services.get_service(point.service) if point.service else None
        if point.service and service is None:
            raise DeviceError(
                device.id,
                f"{point_name}: the device has no GATT service {point.service}",
                hint=f"is it really a {device.template.template}?",
            )
        char = (service or services).get_characteristic(point.characteristic)
        if char is None:
            raise DeviceError(
                device.id,
                f"{point_name}: the device has no characteristic {point.characteristic}",
                hint=f"is it really a {device.template.template}?",
            )
        return client, char

    def _not_heard(self, device: Device) -> SmartbuildError:
        return DeviceError(
            device.id,
            f"not heard within {self.wait_s(device):g} s at {device.spec.address}",
            hint="is it in range and powered? `smartbuild discover --ble` lists what is heard",
        )

    # ---- points -------------------------------------------------------------------

    async def read(self, device: Device, points: Sequence[str]) -> list[Reading]:
        """Read advert points from a short scan and GATT points over one connection."""
        from smartbuild.transports.ble.values import decode_value

        stat = self.stat(device.id)
        specs = {name: device.template.points[name] for name in points}
        keys = {spec.advert for spec in specs.values() if spec.advert}
        values: dict[str, Measurement] = {}
        errors: dict[str, str] = {}
        readings: dict[str, Reading] = {}
        try:
            if keys:
                stat.requests += 1
                _, values = await self.listen(device, keys)
                if not values:
                    raise self._not_heard(device)
            for name, spec in specs.items():
                if spec.advert or not spec.characteristic:
                    continue
                stat.requests += 1
                client, char = await self._characteristic(device, name)
                try:
                    data = bytes(await client.read_gatt_char(char))
                    value, raw, label = decode_value(spec, data)
                except ValueError as error:
                    errors[name] = f"cannot decode: {error}"
                    continue
                except Exception as error:
                    errors[name] = self._describe(error, f"reading {name}")
                    continue
                readings[name] = Reading(device.id, name, value, spec.unit, raw, label)
        except Exception as error:
            text = self._describe(error, "read")
            errors.update({n: text for n in specs if n not in readings and n not in errors})
        out = []
        for name, spec in specs.items():
            if name in readings:
                out.append(readings[name])
            elif spec.advert and spec.advert in values:
                out.append(self._advert_reading(device, name, values[spec.advert]))
            else:
                error_text = errors.get(name) or (
                    f"its adverts carried no {spec.advert!r} within {self.wait_s(device):g} s"
                )
                out.append(Reading(device.id, name, unit=spec.unit, error=error_text))
        failed = sum(not r.ok for r in out)
        if failed:
            stat.errors += 1
            stat.last_error = next(r.error for r in out if not r.ok)
        else:
            self._told.clear()  # Bluetooth works again: a later failure is news
        return out

    def _describe(self, error: BaseException, what: str) -> str:
        mapped = ble_error(error, what)
        if mapped is None:
            raise error
        full = mapped.message + (f" ({mapped.hint})" if mapped.hint else "")
        if not isinstance(mapped, BluetoothUnavailable):
            return full
        # the same for every device and point: the hint once per run, each point says it briefly
        if mapped.message not in self._told:
            self._told.add(mapped.message)
            self.warn(full)
        return mapped.message

    def _advert_reading(self, device: Device, name: str, measurement: Measurement) -> Reading:
        spec = device.template.points[name]
        value = measurement.value
        if isinstance(value, (int, float)) and (spec.scale != 1 or spec.offset != 0):
            value = value * spec.scale + spec.offset
        label = spec.enum.get(int(value)) if spec.enum and isinstance(value, (int, float)) else None
        return Reading(
            device.id, name, value, spec.unit or measurement.unit, measurement.value, label
        )

    async def write(self, device: Device, point: str, value: Any) -> None:
        """Write one GATT characteristic with response (encoding per ble_format, scale, bounds)."""
        from bleak.exc import BleakGATTProtocolError

        from smartbuild.transports.ble.values import encode_value

        device.point(point)  # a helpful error for an unknown point
        spec = device.template.points[point]
        if not spec.characteristic or spec.advert:
            raise DeviceError(device.id, f"{point} comes from adverts and cannot be written")
        if not spec.writable:
            raise SafetyRefusal(f"{device.id}.{point} is read-only in its template")
        if isinstance(value, (int, float)) and (
            (spec.min is not None and value < spec.min)
            or (spec.max is not None and value > spec.max)
        ):
            raise SafetyRefusal(f"{value} is outside {spec.min}..{spec.max} of {device.id}.{point}")
        try:
            data = encode_value(spec, value)
        except ValueError as error:
            raise DeviceError(device.id, f"cannot encode {value!r} for {point}: {error}") from None
        stat = self.stat(device.id)
        stat.requests += 1
        try:
            client, char = await self._characteristic(device, point)
            if "write" not in char.properties:
                raise DeviceError(
                    device.id, f"{point}: characteristic {char.uuid} does not accept writes"
                )
            await client.write_gatt_char(char, data, response=True)
        except BleakGATTProtocolError as error:
            stat.errors += 1
            stat.last_error = str(error)
            raise DeviceError(
                device.id,
                f"the device refused writing {data.hex()} to {point}: ATT error "
                f"{int(error.code):#04x} ({error.code.name.lower().replace('_', ' ')})",
            ) from None
        except Exception as error:
            stat.errors += 1
            stat.last_error = str(error)
            mapped = ble_error(error, f"writing {point}")
            if mapped is None:
                raise
            if isinstance(mapped, DeviceError):
                raise mapped from None
            raise DeviceError(device.id, mapped.message, hint=mapped.hint) from None

    async def follow(self, devices: Sequence[Device], emit: Callable[[Reading], None]) -> None:
        """Emit advert point values as the devices advertise them (on change), until cancelled."""
        watched: dict[str, list[Device]] = {}
        for device in devices:
            if any(p.advert for p in device.template.points.values()):
                watched.setdefault(reveal_text(device.spec.address).upper(), []).append(device)
        last: dict[tuple[str, str], Any] = {}

        def on_advert(ble_device: Any, adv: Any) -> None:
            group = watched.get(ble_device.address.upper())
            if not group:
                return
            advert = AdvertData.from_bleak(ble_device, adv)
            values = advert_values(advert, self.decode(advert))
            for device in group:
                for name, spec in device.template.points.items():
                    if spec.advert in values and spec.advert != "rssi":
                        reading = self._advert_reading(device, name, values[spec.advert])
                        if last.get((device.id, name), object()) != reading.value:
                            last[(device.id, name)] = reading.value
                            emit(reading)

        if not watched:
            return
        hubs = {id(hub): hub for group in watched.values() if (hub := self._hub(group[0]))}
        token = object()
        try:
            for hub in hubs.values():
                await hub.add(token, on_advert)
            await asyncio.Event().wait()
        except Exception as error:  # a follower runs beside the watch loop: tell, do not crash it
            self.warn(f"ble: cannot follow adverts: {self._describe(error, 'scan')}")
        finally:
            for hub in hubs.values():
                await hub.remove(token)

    async def aclose(self) -> None:
        """Disconnect every device and stop every scan."""
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            try:
                await client.disconnect()
            except Exception as error:  # the adapter or bus may already be gone
                self.warn(f"ble: disconnecting {client.address} failed: {error}")
        for hub in self._hubs.values():
            await hub.close()
