"""The BLE template format: advert measurements and GATT characteristics, advert identification."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from smartbuild.config.schema import Closed, Defaults, PointSpec, Template, ValueKind, check_regex

BleFormat = Literal[
    "uint8", "int8", "uint16le", "int16le", "uint32le", "int32le", "float32le", "utf8"
]
INTEGER_FORMATS = frozenset({"uint8", "int8", "uint16le", "int16le", "uint32le", "int32le"})


class BleRules(Closed):
    """BLE advert properties that identify this template."""

    manufacturer_id: int | None = None
    service_uuid: str | None = None
    service_data_uuid: str | None = None
    name: str | None = None
    decoder_type: str | None = None  # the decoder's device type, e.g. "BTHome", "LYWSDCD02"

    _re = field_validator("name")(check_regex)


class BleIdentify(Closed):
    """The ``identify:`` block of a BLE template."""

    ble: BleRules | None = None


class BleDefaults(Defaults):
    """Defaults of a BLE template."""

    # the longest advertising interval of the device (s); sizes default scans and waits
    advert_interval: float | None = Field(None, gt=0, le=10.24)


class BlePoint(PointSpec):
    """A decoded advert measurement or a GATT characteristic."""

    service: str | None = None
    characteristic: str | None = None
    advert: str | None = None  # a decoded advert measurement, e.g. "temperature"
    ble_format: BleFormat | None = None

    def value_kind(self) -> ValueKind:
        """Return what the characteristic holds."""
        if self.ble_format == "utf8":
            return "text"
        if self.ble_format in INTEGER_FORMATS:
            return "integer"
        return "number"

    def step(self) -> float | None:
        """Return one raw step in engineering units for integer formats."""
        return abs(self.scale) if self.value_kind() == "integer" else None


class BleTemplate(Template):
    """A Bluetooth LE device template."""

    transport: Literal["ble"]
    identify: BleIdentify | None = None
    defaults: BleDefaults = BleDefaults()
    points: dict[str, BlePoint] = Field(default_factory=dict)  # type: ignore[assignment]

    family: ClassVar[Any] = None  # set by smartbuild.transports.ble.family

    @classmethod
    def check_points(cls, points: dict[str, Any], fields: dict[str, Any]) -> list[str]:
        """Return points that name neither an advert measurement nor a characteristic."""
        return [
            f"{name!r}: a BLE point needs 'advert' or 'characteristic'"
            for name, p in points.items()
            if not (p.advert or p.characteristic)
        ]
