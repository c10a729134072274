"""A kv transport with the optional release hooks: proves they are generic (no BACnet in sight).

``kv-release`` speaks the kv protocol (tests/plugins/kv.py) to the same peer and adds what a
protocol with a notion of ownership would: a key ``lock`` whose non-zero value means another
writer holds every point (``overridden_by``), and a release that hands a point back to its
default (``release``: SET key to the value of ``KEY0``), recorded as ``{"owner": "app"}``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from smartbuild.errors import DeviceError, DeviceRejected
from smartbuild.hookspecs import hookimpl
from smartbuild.transports.base import Device
from tests.plugins.kv import KvTransport, ask


class KvReleaseTransport(KvTransport):
    """kv with release, overridden_by and write_details."""

    name = "kv-release"

    def write_details(self, device: Device, point: str) -> dict[str, Any]:
        """Record who wrote."""
        return {"owner": "app"}

    def releases(self, device: Device, point: str) -> bool:
        """Every point is released, not written back."""
        return True

    async def release(self, device: Device, point: str) -> None:
        """SET the key to its default (KEY0)."""
        key = device.template.points[point].key
        try:
            default = await ask(device.spec.address, f"GET {key}0")
            answer = await ask(device.spec.address, f"SET {key} {default.removeprefix('OK ')}")
        except OSError as error:
            raise DeviceError(device.id, f"no answer: {error}") from None
        if answer != "OK":
            raise DeviceRejected(device.id, answer)

    async def overridden_by(self, device: Device, point: str) -> str | None:
        """Return ``lock N`` when the device's lock key is set."""
        answer = await ask(device.spec.address, "GET lock")
        value = float(answer.removeprefix("OK ")) if answer.startswith("OK ") else 0.0
        return f"lock {value:g}" if value else None


@hookimpl
def register_transports(register: Any) -> None:
    """Register kv-release."""
    register("kv-release", KvReleaseTransport)


@hookimpl
def register_device_templates(register: Any) -> None:
    """Register the kv templates."""
    register(Path(__file__).parent / "kv_templates")
