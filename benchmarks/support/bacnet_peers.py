"""Shared by the BACnet benchmarks: devices on loopback and the transport's view of them."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent / "src"))

from smartbuild.config.schema import DeviceSpec
from smartbuild.model.device import Device

NET = "127.82.0"


def vav_boxes(count: int, port: int = 47809, rpm: bool = True) -> list[Any]:
    """Return VAV box controllers on NET.1.. (one per host, instance 1001..)."""
    from smartbuild.sim.peers.bacnet_devices import vav_box

    devices = [vav_box(f"{NET}.{i}", port, 1000 + i) for i in range(1, count + 1)]
    for device in devices:
        device.rpm = rpm
    return devices


def device(address: str, name: str = "vav", **defaults: Any) -> Device:
    """Return a site device of the VAV box template at an address (template defaults replaced)."""
    from smartbuild.services.registry import builtin_registry

    template = builtin_registry().template("acme-vav-b1")
    if defaults:  # a benchmark compresses time: values the schema keeps for real sites
        template = template.model_copy(
            update={"defaults": template.defaults.model_copy(update=defaults)}
        )
    spec = DeviceSpec(template="acme-vav-b1", transport="bacnet-ip", address=address)
    return Device(name, spec, template)
