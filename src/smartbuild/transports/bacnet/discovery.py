"""BACnet discovery: Who-Is (broadcast on one interface, unicast to addresses), then each device.

For every I-Am: the device object's name, vendor, model and firmware (ReadPropertyMultiple, or
ReadProperty when the device rejects it), its object list (whole, or element by element when the
device cannot send it unsegmented), then each object's name, units, state texts and whether it
has a priority array. A device no template matches gets a template generated from its objects.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from smartbuild.errors import UsageError
from smartbuild.transports.bacnet.family import BacnetFamily, expand_targets, parse_instances
from smartbuild.transports.bacnet.generate import ObjectInfo, generate_template
from smartbuild.transports.bacnet.schema import ANALOG, MULTI_STATE, OBJECT_TYPES
from smartbuild.transports.bacnet.stack import CLIENT_INSTANCE, BacnetAnswer, BacnetSilent, Stack
from smartbuild.transports.bacnet.values import error_text
from smartbuild.transports.base import Candidate, DiscoverContext

DEVICE_PROPERTIES = ("object-name", "vendor-name", "model-name", "firmware-revision")
MAX_OBJECTS = 1000  # objects read per device (large controllers: the rest are left out)
CONCURRENCY = 64
RPM_OBJECTS = 10


class DeviceReader:
    """Reads one device through a stack, using RPM until the device refuses it."""

    def __init__(self, stack: Stack, address: str, timeout: float) -> None:
        self.stack, self.address, self.timeout = stack, address, timeout
        self.rpm = True

    async def read(self, obj: str, prop: str, index: int | None = None) -> Any:
        """Return one property (ReadProperty), raising BacnetAnswer / BacnetSilent."""
        return await self.stack.call(
            lambda app: app.read_property(self.address, obj, prop, index), self.timeout, 1
        )

    async def props(self, obj: str, names: list[str]) -> dict[str, Any]:
        """Return the properties of one object that it has (errors left out)."""
        return (await self.many([(obj, names)])).get(obj, {})

    async def many(self, wanted: list[tuple[str, list[str]]]) -> dict[str, dict[str, Any]]:
        """Return properties of several objects: one RPM, else ReadProperty each."""
        out: dict[str, dict[str, Any]] = {}
        if self.rpm:
            request: list[Any] = []
            for obj, names in wanted:
                request += [obj, list(names)]
            try:
                results = await self.stack.call(
                    lambda app: app.read_property_multiple(self.address, list(request)),
                    self.timeout,
                    1,
                )
            except BacnetAnswer as error:
                if error.kind in ("reject", "abort"):
                    self.rpm = error.kind == "abort"  # too long: smaller requests; unsupported: RP
                    if self.rpm and len(wanted) > 1:
                        for item in wanted:
                            out.update(await self.many([item]))
                        return out
                    self.rpm = False
                results = None
            if isinstance(results, list):
                for objid, prop, _index, value in results:
                    if value is not None and error_text(value) is None:
                        out.setdefault(f"{objid[0]},{objid[1]}", {})[str(prop)] = value
                return out
        for obj, names in wanted:
            for name in names:
                try:
                    value = await self.read(obj, name)
                except BacnetAnswer:
                    continue
                if value is not None and error_text(value) is None:
                    out.setdefault(obj, {})[name] = value
        return out

    async def object_list(self, device: str) -> list[tuple[str, int]]:
        """Return the device's objects: the whole list, or element by element."""
        try:
            items = await self.read(device, "object-list")
        except BacnetAnswer as error:
            if error.kind != "abort":  # segmentation-not-supported or buffer-overflow: by index
                raise
            count = await self.read(device, "object-list", 0)
            items = []
            for index in range(1, min(int(count), MAX_OBJECTS) + 1):
                items.append(await self.read(device, "object-list", index))
        return [(str(o[0]), int(o[1])) for o in list(items or [])[:MAX_OBJECTS]]


def _properties(kind: str) -> list[str]:
    names = ["object-name", "description"]
    if kind in ANALOG:
        names.append("units")
    if kind in MULTI_STATE:
        names.append("state-text")
    if kind.endswith("-value") or kind.endswith("-output"):
        names.append("priority-array")
    return names


async def read_device(
    stack: Stack, iam: Any, timeout: float
) -> tuple[dict[str, Any], list[ObjectInfo]]:
    """Return the identity and objects of a device that answered I-Am."""
    address = str(iam.pduSource)
    instance = int(iam.iAmDeviceIdentifier[1])
    reader = DeviceReader(stack, address, timeout)
    device = f"device,{instance}"
    props = await reader.props(device, list(DEVICE_PROPERTIES))
    identity: dict[str, Any] = {
        "instance": instance,
        "vendor_id": int(iam.vendorID),
        "vendor": _text(props.get("vendor-name")),
        "model": _text(props.get("model-name")),
        "firmware": _text(props.get("firmware-revision")),
        "segmentation": str(iam.segmentationSupported),
        "name": _text(props.get("object-name")),
    }
    objects: list[ObjectInfo] = []
    listed = [o for o in await reader.object_list(device) if o[0] in OBJECT_TYPES]
    for start in range(0, len(listed), RPM_OBJECTS):
        chunk = listed[start : start + RPM_OBJECTS]
        found = await reader.many([(f"{k},{i}", _properties(k)) for k, i in chunk])
        for kind, number in chunk:
            p = found.get(f"{kind},{number}", {})
            states = [str(s) for s in (p.get("state-text") or [])]
            objects.append(ObjectInfo(kind, number, _text(p.get("object-name")) or "",
                                      str(p["units"]) if "units" in p else None,
                                      "priority-array" in p, states,
                                      _text(p.get("description")) or ""))  # fmt: skip
    identity["objects"] = len(objects)
    identity["rpm"] = reader.rpm
    return identity, objects


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


async def discover(
    options: Any, context: DiscoverContext, found: Callable[[Candidate], None], transport: str
) -> None:
    """Run a BACnet discovery and report each device read."""
    low, high = parse_instances(options.instances)
    timeout = options.timeout or 1.0
    # --interface is shared with mDNS: BACnet broadcasts on it only when --bacnet asks for that
    interface = options.interfaces[0] if options.bacnet and options.interfaces else None
    targets = expand_targets(options.targets, 47808)
    out_dir = Path(options.templates_dir) if options.templates_dir else None
    stack = Stack(interface)
    try:
        await stack.start()
        iams: dict[str, Any] = {}
        limit = asyncio.Semaphore(CONCURRENCY)

        async def ask(address: str | None) -> None:
            async with limit:
                for iam in await stack.who_is(address, low, high, timeout):
                    if int(iam.iAmDeviceIdentifier[1]) != CLIENT_INSTANCE:  # not our own echo
                        iams.setdefault(str(iam.pduSource), iam)
                context.progress(f"bacnet: {len(iams)} answered")

        await asyncio.gather(*(ask(a) for a in ([None] if interface else []) + targets))
        context.debug(f"bacnet: {len(iams)} I-Am from {len(targets)} targets"
                      + (f" and a broadcast on {interface}" if interface else ""))  # fmt: skip

        async def one(address: str, iam: Any) -> None:
            async with limit:
                try:
                    identity, objects = await read_device(stack, iam, timeout)
                except (BacnetAnswer, BacnetSilent) as error:
                    context.debug(f"bacnet {address}: {error}")
                    found(Candidate(transport, address, identity={
                        "instance": int(iam.iAmDeviceIdentifier[1]), "error": str(error)}))  # fmt: skip
                    return
            found(_candidate(transport, address, identity, objects, context, out_dir))

        await asyncio.gather(*(one(a, i) for a, i in iams.items()))
        context.debug(f"bacnet: {stack.requests} requests")
    finally:
        stack.close()


def _candidate(
    transport: str, address: str, identity: dict[str, Any], objects: list[ObjectInfo],
    context: DiscoverContext, out_dir: Path | None,
) -> Candidate:  # fmt: skip
    """Return the candidate, with a generated template when no template matches."""
    name = identity.pop("name", None)
    candidate = Candidate(transport, address, name=name, identity=identity)
    known = [t for t in context.templates.values() if t.transport == BacnetFamily.name]
    if any(BacnetFamily.match(t, candidate) for t in known):
        return candidate
    doc = generate_template(identity, objects)
    extra: dict[str, Any] = {"generated_template": doc["template"]}
    if out_dir is None:
        return Candidate(transport, address, name=name, identity=identity, extra=extra)
    import yaml

    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / f"{doc['template']}.yaml"
        if not path.exists():  # never replace a template someone may have edited
            path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True))
    except OSError as error:
        raise UsageError(
            f"cannot write the generated template into {out_dir}: {error.strerror}"
        ) from None
    extra["template_file"] = str(path)
    return Candidate(transport, address, name=name, identity=identity, template=doc["template"],
                     matched_by=f"generated from its object list ({path})", extra=extra)  # fmt: skip
