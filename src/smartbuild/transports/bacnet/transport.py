"""The bacnet-ip transport: ReadPropertyMultiple reads, priority writes, relinquish, COV.

A device's address is ``HOST[:PORT]`` (UDP, 47808 by default). One bacpypes3 application per
session serves every device from an ephemeral local port. Reads coalesce a device's points into
ReadPropertyMultiple requests (``rpm_max_objects`` objects each) and fall back to ReadProperty,
per point, when a device rejects or aborts them. Writes go to present-value at the point's
priority (template default 16); rollback relinquishes (NULL at that priority).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from smartbuild.config.secret import reveal_text
from smartbuild.errors import DeviceError, DeviceRejected
from smartbuild.transports.bacnet.family import BacnetFamily, BacnetOptions
from smartbuild.transports.bacnet.schema import BacnetPoint
from smartbuild.transports.bacnet.stack import BacnetAnswer, BacnetSilent, Stack, split_address
from smartbuild.transports.bacnet.values import error_text, held_by, to_engineering, to_raw
from smartbuild.transports.base import (
    Candidate,
    Device,
    DiscoverContext,
    DiscoverOptions,
    Reading,
    Transport,
)

FALLBACK_KINDS = ("reject", "abort")  # an RPM the device cannot take: read point by point


def address_of(device: Device) -> str:
    """Return HOST:PORT of a device (its address may be a !secret)."""
    host, port = split_address(reveal_text(device.spec.address))
    return f"{host}:{port}"


class BacnetTransport(Transport):
    """BACnet/IP on bacpypes3 (``pip install 'smartbuild[bacnet]'``)."""

    name = "bacnet-ip"
    family = BacnetFamily
    discover_options: ClassVar[type[DiscoverOptions] | None] = BacnetOptions

    def __init__(self, warn: Callable[[str], None] | None = None) -> None:
        super().__init__(warn)
        self.stack = Stack()
        self.no_rpm: set[str] = set()  # devices that rejected ReadPropertyMultiple
        self.next_pid = 0  # COV subscriber process ids
        self.cov_notifications = 0

    @classmethod
    def check_device(cls, spec: Any) -> list[tuple[tuple[str, ...], str]]:
        """Return a problem when the address is not HOST[:PORT]."""
        try:
            split_address(reveal_text(spec.address))
        except ValueError as error:
            return [(("address",), f"not a BACnet/IP HOST[:PORT]: {error}")]
        return []

    # ---- requests ------------------------------------------------------------------------

    async def _call(self, device: Device, make: Callable[[Any], Any]) -> Any:
        stat = self.stat(device.id)
        retries = int(device.setting("retries") or 0)

        def counted(app: Any) -> Any:
            stat.requests += 1
            return make(app)

        try:
            return await self.stack.call(counted, float(device.setting("timeout")), retries)
        except BacnetSilent as error:
            stat.timeouts += 1
            stat.errors += 1
            stat.last_error = str(error)
            raise
        except BacnetAnswer as error:
            stat.errors += 1
            stat.last_error = str(error)
            raise

    async def read(self, device: Device, points: Sequence[str]) -> list[Reading]:
        """Read points, coalesced into ReadPropertyMultiple requests where the device takes them."""
        template = device.template
        address = address_of(device)
        wanted: dict[tuple[str, str], list[str]] = {}
        for name in points:
            spec = template.points[name]
            wanted.setdefault((spec.object, spec.property), []).append(name)
        values: dict[tuple[str, str], Any] = {}
        errors: dict[tuple[str, str], str] = {}
        keys = list(wanted)
        if template.defaults.rpm and device.id not in self.no_rpm and len(keys) > 1:
            size = template.defaults.rpm_max_objects
            objects = list(dict.fromkeys(obj for obj, _ in keys))
            for start in range(0, len(objects), size):
                chunk = objects[start : start + size]
                part = [k for k in keys if k[0] in chunk]
                await self._read_rpm(device, address, part, values, errors)
        for key in keys:
            if key not in values and key not in errors:
                await self._read_one(device, address, key, values, errors)
        out = []
        for key, names in wanted.items():
            for name in names:
                spec = template.points[name]
                if key in errors:
                    out.append(Reading(device.id, name, error=errors[key]))
                    continue
                try:
                    value, label = to_engineering(spec, values[key])
                except (TypeError, ValueError) as error:
                    out.append(
                        Reading(device.id, name, error=f"cannot decode {values[key]!r}: {error}")
                    )
                    continue
                out.append(
                    Reading(device.id, name, value, spec.unit, raw=_plain(values[key]), text=label)
                )
        order = {n: i for i, n in enumerate(points)}
        return sorted(out, key=lambda r: order[r.point])

    async def _read_rpm(
        self, device: Device, address: str, keys: list[tuple[str, str]],
        values: dict[tuple[str, str], Any], errors: dict[tuple[str, str], str],
    ) -> None:  # fmt: skip
        by_object: dict[str, list[str]] = {}
        for obj, prop in keys:
            by_object.setdefault(obj, []).append(prop)
        request: list[Any] = []
        for obj, props in by_object.items():
            request += [obj, props]
        try:
            results = await self._call(
                device, lambda app: app.read_property_multiple(address, list(request))
            )
        except BacnetSilent as error:
            for key in keys:
                errors[key] = f"no answer: {error}"
            return
        except BacnetAnswer as error:
            if error.kind in FALLBACK_KINDS:
                if "unrecognized-service" in error.text:
                    self.no_rpm.add(device.id)
                return  # read one by one below
            return
        if not isinstance(results, list):
            return
        for objid, prop, _index, value in results:
            key = (f"{objid[0]},{objid[1]}", str(prop))
            problem = error_text(value)
            if problem is not None:
                errors[key] = problem
            elif value is not None:
                values[key] = value

    async def _read_one(
        self, device: Device, address: str, key: tuple[str, str],
        values: dict[tuple[str, str], Any], errors: dict[tuple[str, str], str],
    ) -> None:  # fmt: skip
        obj, prop = key
        try:
            value = await self._call(device, lambda app: app.read_property(address, obj, prop))
        except BacnetSilent as error:
            errors[key] = f"no answer: {error}"
            return
        except BacnetAnswer as error:
            errors[key] = str(error)
            return
        problem = error_text(value)
        if problem is not None or value is None:
            errors[key] = problem or "no value"
        else:
            values[key] = value

    # ---- writes --------------------------------------------------------------------------

    def _priority(self, device: Device, point: str) -> int | None:
        spec: BacnetPoint = device.template.points[point]
        return int(device.template.priority(spec)) if spec.is_commandable() else None

    def write_details(self, device: Device, point: str) -> dict[str, Any]:
        """Return the priority a commandable point is written at (for the journal)."""
        priority = self._priority(device, point)
        return {"priority": priority} if priority is not None else {}

    async def _send(self, device: Device, point: str, raw: Any, what: str) -> None:
        spec: BacnetPoint = device.template.points[point]
        address, priority = address_of(device), self._priority(device, point)
        at = f" at priority {priority}" if priority is not None else ""
        try:
            await self._call(device, lambda app: app.write_property(
                address, spec.object, spec.property, raw, priority=priority))  # fmt: skip
        except BacnetAnswer as error:
            raise DeviceRejected(device.id, f"{what} {spec.object}{at}: {error}") from None
        except BacnetSilent as error:
            raise DeviceError(device.id, f"{what} {spec.object}{at}: {error}") from None

    async def write(self, device: Device, point: str, value: Any) -> None:
        """Write present-value (at the point's priority when it is commandable)."""
        await self._send(device, point, to_raw(device.template.points[point], value), "write")

    def releases(self, device: Device, point: str) -> bool:
        """Return True for commandable points: undo relinquishes our priority."""
        return self._priority(device, point) is not None

    async def release(self, device: Device, point: str) -> None:
        """Relinquish: write NULL at our priority (the next priority or the default governs)."""
        from bacpypes3.primitivedata import Null

        await self._send(device, point, Null(()), "relinquish")

    async def overridden_by(self, device: Device, point: str) -> str | None:
        """Return ``priority N`` when a higher priority than ours holds the point."""
        priority = self._priority(device, point)
        if priority is None or priority == 1:
            return None
        spec = device.template.points[point]
        address = address_of(device)
        try:
            array = await self._call(
                device, lambda app: app.read_property(address, spec.object, "priority-array")
            )
        except (BacnetAnswer, BacnetSilent):
            return None  # cannot tell: the read-back decides
        holder = held_by(array, priority)
        return None if holder is None else f"priority {holder}"

    # ---- discovery and change of value ---------------------------------------------------

    async def discover(
        self, options: DiscoverOptions, context: DiscoverContext, found: Callable[[Candidate], None]
    ) -> None:
        """Who-Is on an interface and/or to addresses; read and report each device."""
        from smartbuild.transports.bacnet.discovery import discover

        assert isinstance(options, BacnetOptions)
        await discover(options, context, found, self.name)

    async def follow(self, devices: Sequence[Device], emit: Callable[[Reading], None]) -> None:
        """Subscribe to change-of-value notifications (renewed); polling carries on beside it."""
        from smartbuild.transports.bacnet.cov import follow

        await follow(self, devices, emit)

    async def aclose(self) -> None:
        """Close the BACnet/IP socket."""
        self.stack.close()


def _plain(value: Any) -> Any:
    """Return a JSON-friendly raw value."""
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    return str(value)
