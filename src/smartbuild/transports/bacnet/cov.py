"""Change-of-value subscriptions for ``watch``: subscribe, renew at half the lifetime, emit.

Each watched object is subscribed (unconfirmed notifications, the template's ``cov_lifetime``)
and renewed at half its lifetime, so a device that restarted and forgot its subscriptions is
subscribed again within half a lifetime. A device that refuses or does not answer is polled only
(the watch keeps reading every point at its interval in any case): one warning says so.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from smartbuild.transports.bacnet.stack import BacnetAnswer, BacnetSilent
from smartbuild.transports.bacnet.values import to_engineering
from smartbuild.transports.base import Device, Reading

if TYPE_CHECKING:
    from smartbuild.transports.bacnet.transport import BacnetTransport


class Subscription:
    """One object of one device: its bacpypes3 notification queue and the points it feeds."""

    def __init__(self, device: Device, address: str, obj: str, points: list[str], pid: int) -> None:
        self.device, self.address, self.obj, self.points, self.pid = (
            device,
            address,
            obj,
            points,
            pid,
        )
        self.context: Any = None


async def subscribe(transport: BacnetTransport, sub: Subscription, lifetime: int) -> None:
    """Send SubscribeCOV (raises BacnetAnswer / BacnetSilent) and route notifications to us."""
    from bacpypes3.apdu import SubscribeCOVRequest
    from bacpypes3.pdu import Address
    from bacpypes3.primitivedata import ObjectIdentifier
    from bacpypes3.service.cov import SubscriptionContextManager

    app = await transport.stack.start()
    address, objid = Address(sub.address), ObjectIdentifier(sub.obj)
    if sub.context is None:
        sub.context = SubscriptionContextManager(app, address, objid, sub.pid, False, lifetime)
        app._cov_contexts[(address, sub.pid)] = sub.context

    def request(app: Any) -> Any:
        return app.request(SubscribeCOVRequest(
            subscriberProcessIdentifier=sub.pid, monitoredObjectIdentifier=objid,
            issueConfirmedNotifications=False, lifetime=lifetime, destination=address))  # fmt: skip

    await transport._call(sub.device, request)


async def _pump(
    transport: BacnetTransport, sub: Subscription, emit: Callable[[Reading], None]
) -> None:
    while True:
        prop, value = await sub.context.get_value()
        if str(prop) != "present-value":
            continue  # status flags arrive in the same notification
        transport.cov_notifications += 1
        for name in sub.points:
            spec = sub.device.template.points[name]
            try:
                number, label = to_engineering(spec, value)
            except (TypeError, ValueError):
                continue
            emit(Reading(sub.device.id, name, number, spec.unit, text=label))


async def follow(
    transport: BacnetTransport, devices: Sequence[Device], emit: Callable[[Reading], None]
) -> None:
    """Subscribe every present-value point of devices whose template allows COV; renew; emit."""
    from smartbuild.transports.bacnet.transport import address_of

    subs: list[Subscription] = []
    for device in devices:
        if not device.template.defaults.cov:
            continue
        by_object: dict[str, list[str]] = {}
        for name, spec in device.template.points.items():
            if spec.property == "present-value":
                by_object.setdefault(spec.object, []).append(name)
        for obj, names in by_object.items():
            transport.next_pid = (transport.next_pid + 1) % (1 << 22)
            subs.append(Subscription(device, address_of(device), obj, names, transport.next_pid))
    if not subs:
        return
    pumps: list[asyncio.Task[None]] = []
    refused: set[str] = set()
    warned: set[str] = set()  # one warning per device, however often it refuses
    try:
        while True:
            lifetime = min(s.device.template.defaults.cov_lifetime for s in subs)
            for sub in subs:
                if sub.device.id in refused:
                    continue
                try:
                    await subscribe(transport, sub, sub.device.template.defaults.cov_lifetime)
                except (BacnetAnswer, BacnetSilent) as error:
                    refused.add(sub.device.id)
                    if sub.device.id not in warned:
                        warned.add(sub.device.id)
                        transport.warn(f"{sub.device.id}: no change-of-value subscription "
                                       f"({error}); its values are polled")  # fmt: skip
                    continue
                if not any(p.get_name() == f"cov-{sub.pid}" for p in pumps):
                    pumps.append(asyncio.ensure_future(_pump(transport, sub, emit)))
                    pumps[-1].set_name(f"cov-{sub.pid}")
            refused.clear()  # a device that came back is subscribed again at the next renewal
            await asyncio.sleep(lifetime / 2)
    finally:
        for task in pumps:
            task.cancel()
        for task in pumps:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        app = transport.stack.app
        for sub in subs:
            if app is not None and sub.context is not None:
                app._cov_contexts.pop((sub.context.address, sub.pid), None)
