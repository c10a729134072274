"""The bacpypes3 side: one BACnet/IP application per transport, requests with timeouts, counted.

bacpypes3 is an optional extra (``smartbuild[bacnet]``) imported here only, on first use. Its
error, reject and abort answers are ``BaseException`` subclasses: every request goes through
``Stack.call``, which turns them (and timeouts) into ``BacnetAnswer``/``BacnetSilent``.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Awaitable, Callable
from typing import Any

from smartbuild.errors import UsageError

CLIENT_INSTANCE = 4_194_301  # our own device object (4194303 is the wildcard)
DEFAULT_PORT = 47808


class BacnetAnswer(Exception):
    """The device answered with an error, a reject or an abort: ``kind`` says which."""

    def __init__(self, kind: str, text: str) -> None:
        super().__init__(f"{kind}: {text}")
        self.kind = kind  # error, reject, abort
        self.text = text


class BacnetSilent(Exception):
    """No answer within the timeout (and its retries)."""


def require() -> Any:
    """Return the bacpypes3 package, or raise a UsageError saying how to install it."""
    try:
        import bacpypes3
    except ImportError:
        raise UsageError(
            "BACnet needs bacpypes3, which is not installed",
            hint="pip install 'smartbuild[bacnet]'",
        ) from None
    return bacpypes3


def split_address(text: str, default_port: int = DEFAULT_PORT) -> tuple[str, int]:
    """Return (IPv4 host, UDP port) of ``HOST[:PORT]``; raise ValueError when invalid."""
    host, _, port = text.strip().partition(":")
    ipaddress.IPv4Address(host)
    number = int(port) if port else default_port
    if not 0 < number < 65536:
        raise ValueError(f"port {number} is outside 1-65535")
    return host, number


def local_address(text: str | None) -> str:
    """Return the bacpypes3 local address for ``--interface`` (IP[/PREFIX][:PORT]); ephemeral."""
    if not text:
        return "0.0.0.0:0"
    address, _, port = text.partition(":")
    try:
        iface = ipaddress.IPv4Interface(address)
    except ValueError:
        raise UsageError(
            f"--interface {text!r} is not an IPv4 address (IP[/PREFIX][:PORT])",
            hint="e.g. --interface 192.168.1.20/24 (BACnet broadcasts on that subnet)",
        ) from None
    prefix = f"/{iface.network.prefixlen}" if "/" in address else ""
    return f"{iface.ip}{prefix}:{port or DEFAULT_PORT}"


def classify(error: BaseException) -> BacnetAnswer:
    """Return a BacnetAnswer for a bacpypes3 error/reject/abort."""
    name = type(error).__name__.lower()
    kind = "reject" if "reject" in name else "abort" if "abort" in name else "error"
    text = str(error) or type(error).__name__
    return BacnetAnswer(kind, text)


async def open_application(
    local: str, instance: int, name: str, objects: Any = (), **device: Any
) -> Any:
    """Return a bound bacpypes3 NormalApplication with a device object and other objects."""
    require()
    from bacpypes3.ipv4.app import NormalApplication
    from bacpypes3.local.device import DeviceObject
    from bacpypes3.pdu import IPv4Address

    settings = {"vendorIdentifier": 999, "segmentationSupported": "segmented-both",
                "maxApduLengthAccepted": 1476, **device}  # fmt: skip
    app = NormalApplication(
        DeviceObject(objectIdentifier=("device", instance), objectName=name, **settings),
        IPv4Address(local),
    )
    for obj in objects:
        app.add_object(obj)
    server = app.normal.server
    try:  # bacpypes3 retries a failed bind for ever in the background
        await asyncio.wait_for(server._local_transport_ready.wait(), 2.0)
    except asyncio.TimeoutError:
        app.close()
        raise UsageError(
            f"cannot bind BACnet/IP to {local}",
            hint="is the address on this machine, and the port free?",
        ) from None
    return app


class Stack:
    """A bacpypes3 NormalApplication bound to one local address, created on first use."""

    def __init__(self, local: str | None = None) -> None:
        self.local = local_address(local)
        self.app: Any = None
        self.requests = 0  # confirmed and unconfirmed requests sent, for the benchmarks

    async def start(self) -> Any:
        """Create the application in the running loop and wait until its socket is bound."""
        if self.app is None:
            self.app = await open_application(self.local, CLIENT_INSTANCE, "smartbuild")
        return self.app

    async def call(
        self, make: Callable[[Any], Awaitable[Any]], timeout: float, retries: int = 0
    ) -> Any:
        """Send one confirmed request (``make(app)``), retrying on silence; map bacpypes3 errors."""
        from bacpypes3.apdu import ErrorRejectAbortNack

        app = await self.start()
        for attempt in range(retries + 1):
            self.requests += 1
            try:
                return await asyncio.wait_for(make(app), timeout)
            except asyncio.TimeoutError:
                if attempt == retries:
                    raise BacnetSilent(f"no answer within {timeout:g} s") from None
            except ErrorRejectAbortNack as error:  # a BaseException: named on purpose
                raise classify(error) from None
        raise AssertionError("unreachable")

    async def who_is(
        self, address: str | None, low: int | None, high: int | None, timeout: float
    ) -> list[Any]:
        """Send a Who-Is (to an address, else a local broadcast); return the I-Am requests."""
        from bacpypes3.pdu import Address, LocalBroadcast

        app = await self.start()
        self.requests += 1
        target = Address(address) if address else LocalBroadcast()
        try:
            found = await app.who_is(low, high, target, timeout=timeout)
        except asyncio.TimeoutError:
            return []
        return list(found or [])

    def close(self) -> None:
        """Close the sockets."""
        if self.app is not None:
            app, self.app = self.app, None
            app.close()
