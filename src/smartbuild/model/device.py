"""Devices, readings and discovery candidates: the data that crosses every layer.

Free of protocol code: a transport family fills these in, services and faces read them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from smartbuild.config.schema import DeviceSpec, PointSpec

# the template class of a family (ModbusTemplate, ...); a plain `Device` is Device[Any]
T = TypeVar("T")


@dataclass(frozen=True)
class Device(Generic[T]):
    """A device of the site with its template resolved."""

    id: str
    spec: DeviceSpec
    template: T

    @property
    def transport(self) -> str:
        """Return the transport name (modbus-tcp, modbus-rtu, ble, mdns, ...)."""
        return self.spec.transport

    def point(self, name: str) -> PointSpec:
        """Return a point of the device's template or raise a helpful error."""
        from smartbuild.errors import UsageError
        from smartbuild.suggest import did_you_mean

        template: Any = self.template
        try:
            point: PointSpec = template.points[name]
            return point
        except KeyError:
            raise UsageError(
                f"{self.id}: no point {name!r} in template {template.template!r}."
                f"{did_you_mean(name, template.points)}",
                hint=f"`smartbuild templates show {template.template}` lists its points",
            ) from None

    def setting(self, name: str) -> Any:
        """Return a communication setting: the device's own, else the template default."""
        own = getattr(self.spec, name, None)
        template: Any = self.template
        return own if own is not None else getattr(template.defaults, name, None)


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
    extra: dict[str, Any] = field(default_factory=dict)  # readings, RSSI, services, endpoints
    family: str = ""  # the transport family (set by discovery): which templates can match

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
