"""BACnet/IP devices for tests: real bacpypes3 applications on loopback, in a background loop."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.rigs import LoopThread

pytest.importorskip("bacpypes3", reason="BACnet needs the bacnet extra")

from smartbuild.sim.peers import bacnet_devices as bd

_ports = itertools.count(47820)


def next_port() -> int:
    """Return a UDP port no other device of this test run uses."""
    return next(_ports)


class Rig:
    """Devices served from one background loop; helpers to poke them as an operator would."""

    def __init__(self) -> None:
        self.lt = LoopThread()
        self.devices: list[bd.SimBacnetDevice] = []

    def add(self, device: bd.SimBacnetDevice) -> bd.SimBacnetDevice:
        """Start serving a device."""
        self.devices.append(self.lt.run(bd.start(device)))
        return device

    def call(self, fn: Any, *args: Any) -> Any:
        """Run fn(*args) on the devices' loop."""

        async def go() -> Any:
            return fn(*args)

        return self.lt.run(go())

    def operator_write(
        self, device: bd.SimBacnetDevice, name: str, value: Any, priority: int
    ) -> None:
        """Write present-value at a priority as another workstation would (None: relinquish)."""
        from bacpypes3.primitivedata import Null, Real

        obj = device.by_name[name]
        payload = Null(()) if value is None else Real(value)
        self.lt.run(obj.write_property("presentValue", payload, None, priority))

    def slots(self, device: bd.SimBacnetDevice, name: str) -> dict[int, Any]:
        """Return the priority-array slots holding a value: {priority: value}."""

        async def go() -> dict[int, Any]:
            array = device.by_name[name].priorityArray
            return {
                i: getattr(pv, pv._choice) for i, pv in enumerate(array, start=1) if pv.null is None
            }

        return self.lt.run(go())

    def stop(self, device: bd.SimBacnetDevice) -> None:
        """Take a device off the network."""
        self.call(bd.stop, device)

    def close(self) -> None:
        """Stop every device and the loop."""
        for device in self.devices:
            self.call(bd.stop, device)
        self.lt.stop()


@contextmanager
def serving() -> Iterator[Rig]:
    """Yield a rig; stop its devices after."""
    rig = Rig()
    try:
        yield rig
    finally:
        rig.close()


class Relay:
    """A device seen through a UDP relay: Who-Is broadcasts on one port reach a device on another.

    bacpypes3 takes any 127.x destination on its own port for itself, so a client and devices on
    one loopback port can never talk; the relay listens for broadcasts on the client's port and
    answers from an address of its own, as a device on the same subnet would.
    """

    def __init__(self, device: tuple[str, int], port: int, host: str = "127.0.0.9") -> None:
        self.device, self.port, self.host = device, port, host
        self.client: Any = None
        self.transports: list[Any] = []

    async def start(self) -> None:
        """Listen on the broadcast address and on the relay's own address."""
        import asyncio
        import socket

        relay = self

        class Up(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: Any) -> None:
                if addr == relay.device:
                    relay.up.sendto(data, relay.client)
                else:
                    relay.client = addr
                    relay.up.sendto(data, relay.device)

        class Broadcast(Up):
            def datagram_received(self, data: bytes, addr: Any) -> None:
                relay.client = addr
                relay.up.sendto(data, relay.device)

        loop = asyncio.get_running_loop()
        self.up, _ = await loop.create_datagram_endpoint(Up, local_addr=(self.host, 0))
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(("127.255.255.255", self.port))
        broadcast, _ = await loop.create_datagram_endpoint(Broadcast, sock=sock)
        self.transports = [self.up, broadcast]

    async def stop(self) -> None:
        """Close both sockets."""
        for transport in self.transports:
            transport.close()


def site_with(path: Path, devices: dict[str, tuple[str, str]], templates: list[str] = ()) -> Path:  # type: ignore[assignment]
    """Write a site file with BACnet devices {id: (template, address)}."""
    lines = ["site: bacnet-test", "zones:", "  office: {tags: [office]}"]
    if templates:
        lines.append("templates: [" + ", ".join(templates) + "]")
    lines.append("devices:")
    for dev_id, (template, address) in devices.items():
        lines.append(f"  {dev_id}: {{template: {template}, transport: bacnet-ip, "
                     f"address: '{address}', zone: office}}")  # fmt: skip
    path.write_text("\n".join(lines) + "\n")
    return path
