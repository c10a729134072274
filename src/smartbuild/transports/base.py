"""What every transport provides, and the data that crosses the transport boundary.

A transport is created once per command run, shared by all devices it serves (so Modbus TCP devices
behind one gateway share one connection), and closed at the end. All methods are async; the CLI
reaches them through ``smartbuild.aio.run_sync`` only.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from smartbuild.config.schema import DeviceSpec, PointSpec, Template


@dataclass(frozen=True)
class Device:
    """A device of the site with its template resolved."""

    id: str
    spec: DeviceSpec
    template: Template

    @property
    def transport(self) -> str:
        """Return the transport name (modbus-tcp, modbus-rtu, ble, mdns, ...)."""
        return self.spec.transport

    def point(self, name: str) -> PointSpec:
        """Return a point of the device's template or raise a helpful error."""
        from smartbuild.errors import UsageError
        from smartbuild.suggest import did_you_mean

        try:
            return self.template.points[name]
        except KeyError:
            raise UsageError(
                f"{self.id}: no point {name!r} in template {self.template.template!r}."
                f"{did_you_mean(name, self.template.points)}",
                hint=f"`smartbuild templates show {self.template.template}` lists its points",
            ) from None

    def setting(self, name: str) -> Any:
        """Return a communication setting: the device's own, else the template default."""
        own = getattr(self.spec, name, None)
        return own if own is not None else getattr(self.template.defaults, name)


@dataclass(frozen=True)
class Reading:
    """One point value read from a device, in engineering units, or the error that prevented it."""

    device: str
    point: str
    value: Any = None
    unit: str | None = None
    raw: Any = None
    text: str | None = None  # enum label, when the template has one
    error: str | None = None
    time: float = field(default_factory=time.time)

    @property
    def ok(self) -> bool:
        """Return True when the value was read."""
        return self.error is None

    def to_json(self) -> dict[str, Any]:
        """Return JSON-ready data."""
        data = {"device": self.device, "point": self.point, "value": self.value, "unit": self.unit}
        if self.text is not None:
            data["text"] = self.text
        if self.raw is not None:
            data["raw"] = self.raw
        if self.error is not None:
            data["error"] = self.error
        data["time"] = self.time
        return data


@dataclass(frozen=True)
class Candidate:
    """Something discovery found, before or after it is matched to a template."""

    transport: str  # modbus-tcp, modbus-rtu, ble, mdns
    address: str  # host:port, serial port, BLE address, mDNS host:port
    unit: int | None = None
    name: str | None = None
    identity: dict[str, Any] = field(default_factory=dict)  # what the device said about itself
    template: str | None = None
    matched_by: str | None = None  # how the template was chosen, for people
    serial: dict[str, Any] | None = None  # baud rate etc. for RTU
    extra: dict[str, Any] = field(default_factory=dict)  # readings, RSSI, services, ...

    @property
    def key(self) -> str:
        """Return the identity of the candidate in an inventory (merge key)."""
        unit = f"#{self.unit}" if self.unit is not None else ""
        return f"{self.transport}:{self.address}{unit}"

    def to_json(self) -> dict[str, Any]:
        """Return JSON-ready data."""
        from dataclasses import asdict

        return asdict(self)


@dataclass
class DeviceStats:
    """Per-device request counters shown in `--json` output."""

    requests: int = 0
    errors: int = 0
    timeouts: int = 0
    last_error: str | None = None


class Transport:
    """Base class of transports; a plugin registers subclasses with register_transports."""

    name: ClassVar[str] = ""
    family: ClassVar[str] = ""  # the template transport it serves: modbus, ble or mdns

    def __init__(self, warn: Callable[[str], None] | None = None) -> None:
        self.warn = warn or (lambda message: None)
        self.stats: dict[str, DeviceStats] = {}

    def stat(self, device_id: str) -> DeviceStats:
        """Return the counters of one device."""
        return self.stats.setdefault(device_id, DeviceStats())

    async def read(self, device: Device, points: Sequence[str]) -> list[Reading]:
        """Read points of a device; failures come back as Readings with an error."""
        raise _unsupported(self.name, "read points")

    async def write(self, device: Device, point: str, value: Any) -> None:
        """Write one point (engineering units); raise DeviceError on failure."""
        raise _unsupported(self.name, "write points")

    async def discover(self, options: dict[str, Any], found: Callable[[Candidate], None]) -> None:
        """Find devices and report each Candidate through found()."""
        raise _unsupported(self.name, "discover devices")

    async def aclose(self) -> None:
        """Release connections, sockets and buses."""


def _unsupported(transport: str, what: str) -> Exception:
    from smartbuild.errors import UsageError

    return UsageError(f"the {transport} transport cannot {what}")
