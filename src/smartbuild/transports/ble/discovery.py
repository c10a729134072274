"""BLE discovery: scan (active, or passive with a fallback), decode each advert, report candidates.

A device is reported when first heard and whenever its advert data changes; an unchanged advert
is reported again at most once a second, to refresh its RSSI without flooding the live table.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from smartbuild.errors import UsageError
from smartbuild.transports.base import Candidate
from smartbuild.transports.ble.decode import DECODERS_ENV, AdvertData, Decoded, Measurement
from smartbuild.transports.ble.scan import (
    IN_PROGRESS,
    ble_error,
    default_duration,
    passive_patterns,
    start_scanner,
)

if TYPE_CHECKING:
    from smartbuild.transports.ble.transport import BleTransport

REREPORT_S = 1.0  # an unchanged advert is reported again at most this often (for its RSSI)


def make_candidate(advert: AdvertData, decoded: Decoded, adapter: str | None = None) -> Candidate:
    """Return the discovery candidate of an advert, with the identity keys identify.py matches."""
    identity: dict[str, Any] = {
        "name": advert.name,
        "manufacturer_ids": sorted(advert.manufacturer_data),
        "service_uuids": list(advert.service_uuids),
        "service_data_uuids": list(advert.service_data),
    }
    for key, value in (
        ("decoder", decoded.decoder),
        ("decoder_type", decoded.device_type),
        ("vendor", decoded.brand),
        ("model", decoded.device_type),
        ("firmware", decoded.firmware),
        ("adapter", adapter),
    ):
        if value is not None:
            identity[key] = value
    identity.update(decoded.ids)
    readings: dict[str, Measurement] = {}
    if advert.rssi is not None:
        readings["rssi"] = Measurement.of("rssi", advert.rssi)
    if decoded.known:
        readings.update(decoded.values())
    else:  # unknown or undecodable: list it raw rather than drop it
        readings["raw"] = Measurement(advert.raw_text())
    extra: dict[str, Any] = {"rssi": advert.rssi, "readings": readings, "raw": advert.raw()}
    if decoded.errors:
        extra["decode_errors"] = list(decoded.errors)
    return Candidate("ble", advert.address, name=advert.name, identity=identity, extra=extra)


async def discover(
    transport: BleTransport, options: dict[str, Any], found: Callable[[Candidate], None]
) -> None:
    """Scan (active, or passive with a fallback) for options["duration"] s or until N devices."""
    templates = list(options["templates"].values())
    duration = options.get("duration") or default_duration(templates)
    until = options.get("until")
    adapter = options.get("adapter")
    progress = options.get("progress") or (lambda text: None)
    if not transport.decoders:  # also reports a missing optional decoder before scanning
        raise UsageError("no BLE decoder is configured", hint=f"set {DECODERS_ENV}=bleparser")
    loop = asyncio.get_running_loop()
    reported: dict[str, tuple[tuple[Any, ...], float]] = {}
    enough = asyncio.Event()
    deadline = loop.time() + duration

    def on_advert(device: Any, adv: Any) -> None:
        if enough.is_set() and device.address not in reported:
            return  # --until N: adverts already queued must not add an N+1th device
        advert = AdvertData.from_bleak(device, adv)
        now = loop.time()
        payload = advert.payload()
        last = reported.get(advert.address)
        if last is not None and last[0] == payload and now - last[1] < REREPORT_S:
            return
        reported[advert.address] = (payload, now)
        found(make_candidate(advert, transport.decode(advert), adapter))
        progress(f"{len(reported)} devices, {max(0.0, deadline - now):.0f} s left")
        if until and len(reported) >= until:
            enough.set()

    passive = bool(options.get("passive"))
    scanner = await discovery_scanner(transport, on_advert, adapter, passive, templates, progress)
    try:
        await asyncio.wait_for(enough.wait(), max(0.0, deadline - loop.time()))
    except asyncio.TimeoutError:
        pass
    finally:
        try:
            await scanner.stop()
        except Exception as error:  # e.g. the adapter went away: what was found still counts
            transport.warn(f"ble: stopping the scan failed: {error}")


async def discovery_scanner(
    transport: BleTransport,
    callback: Callable[[Any, Any], None],
    adapter: str | None,
    passive: bool,
    templates: list[Any],
    progress: Callable[[str], None],
) -> Any:
    """Start the discovery scan: passive when asked and BlueZ agrees, else active."""
    try:
        if passive:
            scanner = await _passive_scanner(transport, callback, adapter, templates)
            if scanner is not None:
                return scanner
            progress("passive refused, scanning actively")
        return await start_scanner(callback, adapter)
    except Exception as error:
        mapped = ble_error(error, "BLE scan")
        if mapped is None:
            raise
        raise mapped from None


async def _passive_scanner(
    transport: BleTransport,
    callback: Callable[[Any, Any], None],
    adapter: str | None,
    templates: list[Any],
) -> Any:
    """Return a passive scanner, or None (with a notice) when BlueZ will not scan passively."""
    from bleak.exc import BleakBluetoothNotAvailableError, BleakDBusError, BleakError

    patterns = passive_patterns(templates)
    if not patterns:
        transport.warn("ble: no BLE template gives advert patterns; scanning actively")
        return None
    try:
        bluez = {"or_patterns": patterns}
        return await start_scanner(callback, adapter, scanning_mode="passive", bluez=bluez)
    except BleakBluetoothNotAvailableError:
        raise
    except BleakDBusError as error:
        # org.bluez errors (NotSupported, Failed, ...) refuse the monitor; D-Bus errors such as
        # ServiceUnknown and a lasting InProgress would fail an active scan as well
        if not error.dbus_error.startswith("org.bluez.Error.") or error.dbus_error == IN_PROGRESS:
            raise
        notice = f"BlueZ refused passive scanning ({error})"
    except BleakError as error:  # e.g. no AdvertisementMonitorManager1 (BlueZ < 5.56)
        if "not found" in str(error):  # a wrong --adapter: say that, not "passive"
            raise
        notice = f"BlueZ cannot scan passively ({error})"
    transport.warn(
        f"ble: {notice}; scanning actively instead (passive scanning needs "
        "BlueZ >= 5.56 started with --experimental)"
    )
    return None
