"""The mDNS transport: `smartbuild discover --mdns` and TXT-derived points for `smartbuild read`.

Discovery browses the catalogue types (plus ``--type``, plus every announced type with
``--all-types``) and reports one Candidate per device as its services resolve, so the live
table fills while the browse runs. Reading re-resolves the device's service and returns points
taken from its TXT record. mDNS devices cannot be written (the base class says so).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from smartbuild.config.secret import reveal_text
from smartbuild.errors import SmartbuildError, UsageError
from smartbuild.transports.base import (
    Candidate,
    Device,
    DiscoverContext,
    DiscoverOptions,
    Reading,
    Transport,
)
from smartbuild.transports.mdns.family import MdnsFamily, MdnsOptions
from smartbuild.transports.mdns.schema import MdnsPoint

if TYPE_CHECKING:
    from smartbuild.transports.mdns.catalogue import Identity
    from smartbuild.transports.mdns.records import MdnsDevice, MdnsService

DEFAULT_BROWSE_S = 3.0


def short_type(service_type: str) -> str:
    """Return a DNS-SD type as people write it: ``_hap._tcp.local.`` -> ``_hap._tcp``."""
    return service_type.rstrip(".").removesuffix(".local")


def host_port(host: str, port: int) -> str:
    """Return host:port, bracketing IPv6 addresses."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def split_address(address: str) -> tuple[str, int | None]:
    """Split "host:port", "[v6]:port" or a bare host into (host, port)."""
    if address.startswith("["):
        host, _, rest = address[1:].partition("]")
        port = rest.removeprefix(":")
        return host, int(port) if port.isdigit() else None
    host, sep, port = address.rpartition(":")
    if sep and port.isdigit() and ":" not in host:
        return host, int(port)
    return address, None


def _score(identity: Identity) -> int:
    return sum(v is not None for v in (identity.vendor, identity.model, identity.firmware))


def main_service(device: MdnsDevice) -> tuple[MdnsService, Identity]:
    """Return the service that best represents a device, with its catalogue identity.

    The most informative identity wins; among equals a catalogue type beats an unknown one and
    the catalogue order puts specific types before generic ones such as _http._tcp.
    """
    from smartbuild.transports.mdns.catalogue import catalogue_types, identify

    order = {t.lower(): i for i, t in enumerate(catalogue_types())}
    ranked = sorted(
        ((s, identify(s)) for s in device.services),
        key=lambda p: (-_score(p[1]), order.get(p[0].type.lower(), len(order)), p[0].name),
    )
    return ranked[0]


def modbus_endpoint(device: MdnsDevice) -> str | None:
    """Return host:port of a service that offers Modbus (IPv4 preferred), or None."""
    from smartbuild.transports.mdns.catalogue import identify

    for service in device.services:
        if "modbus" in identify(service).offers and service.addresses:
            v4 = [a for a in service.addresses if ":" not in a]
            return host_port((v4 or list(service.addresses))[0], service.port)
    return None


def device_candidate(device: MdnsDevice, address: str | None = None) -> Candidate:
    """Build the Candidate of a merged device (address defaults to its main service)."""
    from smartbuild.transports.mdns.catalogue import identify_device

    main, _ = main_service(device)
    ident = identify_device(device)
    txt_by_type: dict[str, dict[str, str]] = {}
    for service in (main, *device.services):
        txt_by_type.setdefault(short_type(service.type), dict(service.txt))
    merged_txt: dict[str, str] = {}
    for txt in txt_by_type.values():  # the main service's keys first, then the others'
        merged_txt.update({k: v for k, v in txt.items() if k not in merged_txt})
    identity: dict[str, Any] = {
        k: v
        for k, v in (
            ("vendor", ident.vendor),
            ("model", ident.model),
            ("firmware", ident.firmware),
            ("kind", ident.kind),
            ("rule", ident.rule),
        )
        if v is not None
    }
    identity |= {
        "type": short_type(main.type),
        "types": list(txt_by_type),
        "name": main.instance,
        "host": main.host,
        "service": main.name,
        "interface": device.interfaces[0],
        "txt": merged_txt,
        "txt_by_type": txt_by_type,
        "details": dict(ident.details),
        "offers": list(ident.offers),
    }
    services = [
        {"type": short_type(s.type), "name": s.instance, "host": s.host, "port": s.port,
         "addresses": list(s.addresses), "interface": s.interface}
        for s in device.services
    ]  # fmt: skip
    extra: dict[str, Any] = {
        "services": services,
        "addresses": list(device.addresses),
        "interfaces": list(device.interfaces),
    }
    endpoint = modbus_endpoint(device)
    if endpoint:
        extra["endpoints"] = {"modbus-tcp": [endpoint]}
    if address is None:
        address = host_port(main.host or main.addresses[0], main.port)
    name = ident.details.get("name") or main.instance
    return Candidate("mdns", address, name=name, identity=identity, extra=extra)


class MdnsTransport(Transport):
    """Discover DNS-SD services and read TXT-derived points; cannot write."""

    name = "mdns"
    family = MdnsFamily
    discover_options = MdnsOptions

    async def discover(
        self, options: DiscoverOptions, context: DiscoverContext, found: Callable[[Candidate], None]
    ) -> None:
        """Browse, identify and report one Candidate per device as its services resolve.

        ``MdnsOptions``: interfaces (names or addresses; default every non-loopback one), types
        (added to the catalogue's), all_types, timeout (browse window, s), expect (stop once that
        many devices are known and it is quiet); ``context.stop`` ends the browse early.
        """
        from smartbuild.transports.mdns.browser import browse, device_key, merge_services
        from smartbuild.transports.mdns.catalogue import catalogue_types, normalise_type
        from smartbuild.transports.mdns.interfaces import resolve_interfaces

        assert isinstance(options, MdnsOptions)
        progress = context.progress
        warnings: list[str] = []
        interfaces = resolve_interfaces(list(options.interfaces), warnings=warnings)
        for warning in warnings:
            self.warn(f"mdns: {warning}")
        try:
            extra_types = [normalise_type(t) for t in options.types]
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        types = list(dict.fromkeys([*catalogue_types(), *extra_types]))
        timeout = float(options.timeout or DEFAULT_BROWSE_S)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        live: dict[tuple[str, str], MdnsService] = {}
        # A device keeps the address it was first reported with: the address is the merge key
        # of discovery and inventory, and a later service must not split the device in two.
        addresses: dict[str, str] = {}

        def report(device: MdnsDevice) -> None:
            candidate = device_candidate(device, addresses.get(device.key))
            addresses.setdefault(device.key, candidate.address)
            found(candidate)

        def on_update(event: str, service: MdnsService) -> None:
            key = (service.interface, service.name.lower())
            if event == "removed":
                live.pop(key, None)
            else:
                live[key] = service
                group = device_key(service)
                report(merge_services(s for s in live.values() if device_key(s) == group)[0])
            left = max(0.0, deadline - loop.time())
            progress(f"{len(addresses)} devices, {len(live)} services, {left:.0f} s left")

        progress(f"browsing {len(types)} types on {', '.join(interfaces)}")
        result = await browse(
            interfaces,
            types,
            all_types=options.all_types,
            timeout=timeout,
            expect=options.expect,
            on_update=on_update,
            stop=context.stop,
        )
        for warning in result.warnings:
            self.warn(f"mdns: {warning}")
        final = {device.key for device in result.devices}
        for device in result.devices:
            report(device)
        for key, address in addresses.items():
            if key not in final:
                self.warn(f"mdns: {address} withdrew its services during the browse")
        progress(f"{len(result.devices)} devices, {len(result.services)} services")

    async def read(self, device: Device, points: Sequence[str]) -> list[Reading]:
        """Re-resolve the device's service and return points taken from its TXT record."""
        for name in points:
            device.point(name)  # a helpful error for an unknown point
        specs: dict[str, MdnsPoint] = {name: device.template.points[name] for name in points}
        stat = self.stat(device.id)
        stat.requests += 1
        try:
            service = await self._resolve(device)
        except SmartbuildError as error:
            stat.errors += 1
            stat.last_error = error.message
            return [Reading(device.id, name, error=error.message) for name in specs]
        if service is None:
            timeout = float(device.setting("timeout"))
            message = (
                f"no {self._type(device)} service of {device.spec.address} within {timeout:g} s"
            )
            stat.errors += 1
            stat.timeouts += 1
            stat.last_error = message
            return [Reading(device.id, name, error=message) for name in specs]
        return [txt_reading(device.id, name, spec, service.txt) for name, spec in specs.items()]

    def _type(self, device: Device) -> str:
        rules = device.template.identify.mdns if device.template.identify else None
        service_type = rules.type if rules else device.spec.identity.get("type")
        if not service_type:
            raise UsageError(
                f"{device.id}: template {device.template.template!r} names no mDNS service type",
                hint="give the template an identify: {mdns: {type: _foo._tcp}} block",
            )
        return str(service_type)

    async def _resolve(self, device: Device) -> MdnsService | None:
        """Browse the template's service type until the device's service answers."""
        from smartbuild.transports.mdns.browser import browse
        from smartbuild.transports.mdns.interfaces import resolve_interfaces

        service_type = self._type(device)
        # Only the host identifies the device: its services may listen on other ports.
        host, _port = split_address(reveal_text(device.spec.address))
        wanted_host = host.lower().rstrip(".").removesuffix(".local")
        known_name = str(device.spec.identity.get("service") or "").lower()
        where = device.spec.adapter or device.spec.identity.get("interface")
        interfaces = resolve_interfaces([str(where)] if where else [])
        hit: list[MdnsService] = []
        stop = asyncio.Event()

        def on_update(event: str, service: MdnsService) -> None:
            if event == "removed" or hit:
                return
            own_host = (service.host or "").lower().removesuffix(".local")
            if (
                own_host == wanted_host
                or host in service.addresses
                or service.name.lower() == known_name
            ):
                hit.append(service)
                stop.set()

        await browse(
            interfaces, [service_type], timeout=float(device.setting("timeout")), stop=stop,
            on_update=on_update,
        )  # fmt: skip
        return hit[0] if hit else None


def txt_reading(device_id: str, name: str, spec: MdnsPoint, txt: dict[str, str]) -> Reading:
    """Turn one TXT value into a Reading: text for string points, else a scaled number."""
    from smartbuild.transports.mdns.catalogue import txt_get

    key = spec.txt or name
    raw = txt_get(txt, key)
    if raw is None:
        return Reading(device_id, name, error=f"the device announces no TXT key {key!r}")
    if spec.type == "string":
        return Reading(device_id, name, value=raw, unit=spec.unit, raw=raw)
    number: float
    try:
        number = int(raw, 0)  # TXT flags are often hex, e.g. HomeKit ff=0x1, AirPlay 0x18644
    except ValueError:
        try:
            number = float(raw)
        except ValueError:
            return Reading(device_id, name, raw=raw, error=f"TXT {key}={raw!r} is not a number")
    text = spec.enum.get(int(number)) if spec.enum and number == int(number) else None
    value: float = number * spec.scale + spec.offset
    if isinstance(number, int) and spec.scale == 1 and spec.offset == 0:
        value = number
    return Reading(device_id, name, value=value, unit=spec.unit, raw=raw, text=text)
