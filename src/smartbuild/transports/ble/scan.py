"""Scanning with bleak: clear errors, one InProgress retry, passive patterns, and one shared scan.

bleak is imported inside the functions. BlueZ allows one discovery session per D-Bus client, so
every read and follower of a run shares one active scan per adapter (:class:`AdvertHub`) instead of
starting its own (a second StartDiscovery from the same client is answered InProgress).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from smartbuild.errors import SmartbuildError, UnreachableError, UsageError

IN_PROGRESS = "org.bluez.Error.InProgress"
IN_PROGRESS_PAUSE_S = 0.3  # long enough for another client's short operation to finish
# REFERENCE.md: scan for at least twice the longest advertising interval; 10 s covers up to 5 s.
DEFAULT_SCAN_S = 10.0
DEFAULT_BUS = "unix:path=/run/dbus/system_bus_socket"  # where libdbus and bleak look by default

Callback = Callable[[Any, Any], None]  # (BLEDevice, AdvertisementData)


def bus_address() -> str:
    """Return the system D-Bus address bleak uses."""
    return os.environ.get("DBUS_SYSTEM_BUS_ADDRESS") or DEFAULT_BUS


def default_duration(templates: Iterable[Any]) -> float:
    """Return a scan length of twice the longest advertising interval of the BLE templates (min 10 s)."""
    hints = [
        t.defaults.advert_interval
        for t in templates
        if t.transport == "ble" and t.defaults.advert_interval
    ]
    return max(DEFAULT_SCAN_S, 2 * max(hints)) if hints else DEFAULT_SCAN_S


def passive_patterns(templates: Iterable[Any]) -> list[tuple[int, int, bytes]]:
    """Return BlueZ advertisement-monitor or-patterns that match the BLE templates' identify rules."""
    from bleak.assigned_numbers import AdvertisementDataType as T

    patterns: dict[tuple[int, int, bytes], None] = {}
    for template in templates:
        rules = template.identify.ble if template.transport == "ble" and template.identify else None
        if rules is None:
            continue
        if rules.manufacturer_id is not None:
            company = rules.manufacturer_id.to_bytes(2, "little")
            patterns[(0, T.MANUFACTURER_SPECIFIC_DATA, company)] = None
        for uuid, short_type, long_type in (
            (rules.service_data_uuid, T.SERVICE_DATA_UUID16, T.SERVICE_DATA_UUID128),
            (rules.service_uuid, T.COMPLETE_LIST_SERVICE_UUID16, T.COMPLETE_LIST_SERVICE_UUID128),
        ):
            if uuid is None:
                continue
            text = uuid.lower().removeprefix("0x")
            if len(text) == 4:  # on air little-endian
                patterns[(0, short_type, bytes.fromhex(text)[::-1])] = None
            else:
                patterns[(0, long_type, bytes.fromhex(text.replace("-", ""))[::-1])] = None
    return list(patterns)


class BluetoothUnavailable(UnreachableError):
    """Bluetooth itself cannot be used (no D-Bus, no BlueZ, no usable adapter): every device fails alike."""


def ble_error(error: BaseException, what: str) -> SmartbuildError | None:
    """Return a SmartbuildError that says what to check for a bleak/D-Bus failure, else None."""
    from bleak.exc import (
        BleakBluetoothNotAvailableError,
        BleakBluetoothNotAvailableReason,
        BleakDBusError,
        BleakError,
    )

    if isinstance(error, SmartbuildError):
        return error
    if isinstance(error, (FileNotFoundError, ConnectionRefusedError)):
        return BluetoothUnavailable(
            f"{what}: no system D-Bus at {bus_address()}",
            hint="is the D-Bus daemon running, and bluetoothd (systemctl status bluetooth)? "
            "Is DBUS_SYSTEM_BUS_ADDRESS set to the right bus?",
        )
    if isinstance(error, BleakBluetoothNotAvailableError):
        reason = error.reason
        if reason == BleakBluetoothNotAvailableReason.POWERED_OFF:
            return BluetoothUnavailable(
                f"{what}: the Bluetooth adapter is powered off",
                hint="power it on (`bluetoothctl power on`) and check `rfkill list bluetooth`",
            )
        if reason == BleakBluetoothNotAvailableReason.DENIED_BY_SYSTEM:
            return BluetoothUnavailable(
                f"{what}: the system denied access to Bluetooth",
                hint="run as a user allowed to use BlueZ (e.g. in the 'bluetooth' group)",
            )
        return BluetoothUnavailable(
            f"{what}: no Bluetooth LE adapter found ({error})",
            hint="plug in or enable an adapter; `bluetoothctl list` shows what BlueZ sees",
        )
    if isinstance(error, BleakDBusError):
        name = error.dbus_error
        if name in (
            "org.freedesktop.DBus.Error.ServiceUnknown",
            "org.freedesktop.DBus.Error.NameHasNoOwner",
        ):
            return BluetoothUnavailable(
                f"{what}: BlueZ (org.bluez) is not on the system D-Bus",
                hint="is bluetoothd running? `systemctl status bluetooth` (Debian: apt install bluez)",
            )
        if name == IN_PROGRESS:
            return SmartbuildError(
                f"{what}: BlueZ is busy with another scan or connection (InProgress, also after a retry)",
                hint="stop other Bluetooth programs (bluetoothctl scan, Home Assistant) and retry",
            )
        if name == "org.freedesktop.DBus.Error.AccessDenied":
            return BluetoothUnavailable(
                f"{what}: the D-Bus policy denies access to BlueZ",
                hint="run as a user allowed to use BlueZ (e.g. in the 'bluetooth' group)",
            )
        return SmartbuildError(f"{what}: BlueZ answered {name}: {error.dbus_error_details or ''}")
    if isinstance(error, BleakError) and "adapter" in str(error) and "not found" in str(error):
        # a name the user gave (--adapter, a site's adapter:): a usage error, like an unknown
        # mDNS --interface, not "nothing reachable"
        return UsageError(
            f"{what}: {error}",
            hint="`bluetoothctl list` shows the adapters (hci0 is the usual one)",
        )
    if isinstance(error, BleakError):
        return SmartbuildError(f"{what}: {error}")
    if isinstance(error, (asyncio.TimeoutError, EOFError, ConnectionError)):
        return UnreachableError(f"{what}: {type(error).__name__} {error}".rstrip())
    return None


async def retry_in_progress(attempt: Callable[[], Awaitable[Any]]) -> Any:
    """Run attempt(); when BlueZ answers InProgress, pause briefly and try once more."""
    from bleak.exc import BleakDBusError

    try:
        return await attempt()
    except BleakDBusError as error:
        if error.dbus_error != IN_PROGRESS:
            raise
    await asyncio.sleep(IN_PROGRESS_PAUSE_S)
    return await attempt()


async def start_scanner(callback: Callback, adapter: str | None, **kwargs: Any) -> Any:
    """Start and return a BleakScanner (a fresh one for the retry after InProgress)."""
    from bleak import BleakScanner

    bluez = dict(kwargs.pop("bluez", {}))
    if adapter:
        bluez["adapter"] = adapter

    async def attempt() -> Any:
        scanner = BleakScanner(callback, bluez=bluez, **kwargs)  # type: ignore[arg-type]
        await scanner.start()
        return scanner

    return await retry_in_progress(attempt)


class AdvertHub:
    """One active scan of an adapter, shared by every listener of a run; stops with the last one."""

    def __init__(self, adapter: str | None) -> None:
        self.adapter = adapter
        self.devices: dict[str, Any] = {}  # upper-case address -> last BLEDevice heard
        self.adverts = 0
        self._listeners: dict[object, Callback] = {}
        self._scanner: Any = None
        self._lock = asyncio.Lock()

    def _on_advert(self, device: Any, adv: Any) -> None:
        self.adverts += 1
        self.devices[device.address.upper()] = device
        for listener in list(self._listeners.values()):
            listener(device, adv)

    async def add(self, key: object, listener: Callback) -> None:
        """Register a listener, starting the scan if it is the first."""
        async with self._lock:
            self._listeners[key] = listener
            if self._scanner is None:
                try:
                    self._scanner = await start_scanner(self._on_advert, self.adapter)
                except BaseException:
                    del self._listeners[key]
                    raise

    async def remove(self, key: object) -> None:
        """Unregister a listener, stopping the scan after the last one."""
        async with self._lock:
            self._listeners.pop(key, None)
            if not self._listeners:
                await self._stop()

    async def close(self) -> None:
        """Stop scanning whoever still listens."""
        async with self._lock:
            self._listeners.clear()
            await self._stop()

    async def _stop(self) -> None:
        scanner, self._scanner = self._scanner, None
        if scanner is not None:
            # the adapter may be gone or powered off by now; the scan has ended either way
            with contextlib.suppress(Exception):
                await scanner.stop()
