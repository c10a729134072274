"""Closed pydantic schemas of the site file and device templates."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from smartbuild.transports.modbus import codec as modbus_codec
from smartbuild.transports.modbus.codec import pdu_address

Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", max_length=80)]
Table = Literal["holding", "input", "coil", "discrete"]
DataType = Literal[
    "int16", "uint16", "int32", "uint32", "int64", "uint64", "float32", "float64", "string", "bits"
]
WordOrder = Literal["ABCD", "CDAB", "BADC", "DCBA"]
Transport = Literal["modbus", "ble", "mdns"]

# registers per fixed-size type, from the codec's table; a bits point is one register of flags
REGISTERS: dict[str, int] = {t.lower(): n for t, n in modbus_codec.REGISTERS.items() if n}
REGISTERS["bits"] = 1


class Closed(BaseModel):
    """A model that rejects unknown keys and cannot be changed after loading."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _regex(value: str | None) -> str | None:
    if value is not None:
        try:
            re.compile(value)
        except re.error as error:
            raise ValueError(f"invalid regular expression {value!r}: {error}") from None
    return value


class ModbusIdentify(Closed):
    """How a Modbus device proves it is this template (all given rules must match)."""

    vendor_name: str | None = None
    product_code: str | None = None
    revision: str | None = None
    product_name: str | None = None
    model_name: str | None = None
    server_id: str | None = None
    sunspec: list[int] | None = None  # SunSpec model ids that must be present
    probe: ProbeRule | None = None

    _re = field_validator(
        "vendor_name", "product_code", "revision", "product_name", "model_name", "server_id"
    )(_regex)


class ProbeRule(Closed):
    """A known register read whose value must be plausible."""

    point: str
    min: float | None = None
    max: float | None = None
    equals: float | None = None


class MdnsIdentify(Closed):
    """An mDNS service type plus TXT regexes that identify this template."""

    type: str
    txt: dict[str, str] = {}
    name: str | None = None


class BleIdentify(Closed):
    """BLE advert properties that identify this template."""

    manufacturer_id: int | None = None
    service_uuid: str | None = None
    service_data_uuid: str | None = None
    name: str | None = None
    decoder_type: str | None = None  # the decoder's device type, e.g. "BTHome", "LYWSDCD02"

    _re = field_validator("name")(_regex)


class Identify(Closed):
    """Identification rules per protocol."""

    modbus: ModbusIdentify | None = None
    mdns: MdnsIdentify | None = None
    ble: BleIdentify | None = None


class Defaults(Closed):
    """Defaults that apply to every point and to devices using the template."""

    address_base: Literal[0, 1, "modicon"] = 0
    word_order: WordOrder = "ABCD"
    max_gap: int = Field(10, ge=0, le=120)
    poll_interval: float = Field(10.0, gt=0)
    timeout: float = Field(1.0, gt=0, le=60)
    retries: int = Field(1, ge=0, le=10)
    pause_ms: float = Field(0, ge=0, le=10_000)
    connect_delay_ms: float = Field(0, ge=0, le=60_000)
    max_read_registers: int = Field(125, ge=1, le=125)
    # BLE: the longest advertising interval of the device (s); sizes default scans and waits
    advert_interval: float | None = Field(None, gt=0, le=10.24)


class PointSpec(Closed):
    """One point of a device: where it lives, how it is encoded, what it means."""

    description: str | None = None
    # Modbus
    table: Table | None = None
    address: int | None = Field(None, ge=0, le=465_535)
    type: DataType = "uint16"
    length: int | None = Field(None, ge=1, le=125)  # registers, for strings
    bit: int | None = Field(None, ge=0, le=15)
    word_order: WordOrder | None = None
    # BLE
    service: str | None = None
    characteristic: str | None = None
    advert: str | None = None  # a decoded advert measurement, e.g. "temperature"
    ble_format: (
        Literal["uint8", "int8", "uint16le", "int16le", "uint32le", "int32le", "float32le", "utf8"]
        | None
    ) = None
    # mDNS
    txt: str | None = None
    # meaning and safety
    scale: float = 1.0
    sf: str | None = None  # SunSpec: value x 10^(this other point's value)
    offset: float = 0.0
    unit: str | None = None
    role: str | None = None
    writable: bool = False
    min: float | None = None
    max: float | None = None
    enum: dict[int, str] | None = None
    poll_interval: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _bounds(self) -> PointSpec:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        if self.scale == 0:
            raise ValueError("scale must not be 0")
        return self

    def register_count(self) -> int:
        """Return how many registers (or bits) the point occupies."""
        if self.table in ("coil", "discrete"):
            return 1
        if self.type == "string":
            return self.length or 1
        return REGISTERS[self.type]


class Template(Closed):
    """A device template: a register or characteristic map with meanings."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    template: Name
    title: str
    vendor: str | None = None
    model: str | None = None
    transport: Transport
    source: str | None = None  # where the register map comes from
    identify: Identify | None = None
    defaults: Defaults = Defaults()
    points: dict[str, PointSpec] = {}

    @field_validator("points")
    @classmethod
    def _check_points(cls, points: dict[str, PointSpec], info: Any) -> dict[str, PointSpec]:
        transport = info.data.get("transport")
        base = (info.data.get("defaults") or Defaults()).address_base
        problems = []
        for name, p in points.items():
            if transport == "modbus":
                if p.table is None or p.address is None:
                    problems.append(f"{name!r}: a Modbus point needs 'table' and 'address'")
                    continue
                if p.writable and p.table in ("input", "discrete"):
                    problems.append(f"{name!r}: {p.table} points are read-only; remove 'writable'")
                if p.type == "string" and not p.length:
                    problems.append(f"{name!r}: a string point needs 'length' (registers)")
                if p.table in ("coil", "discrete") and p.type not in ("uint16", "bits"):
                    problems.append(f"{name!r}: {p.table} points hold single bits; drop 'type'")
                if not 0 <= pdu_address(p.address, base) <= 65_535:
                    problems.append(
                        f"{name!r}: address {p.address} is outside 0-65535 on the wire "
                        f"(address_base {base!r})"
                    )
            elif transport == "ble" and not (p.advert or p.characteristic):
                problems.append(f"{name!r}: a BLE point needs 'advert' or 'characteristic'")
            elif transport == "mdns" and not p.txt:
                problems.append(f"{name!r}: an mDNS point needs 'txt'")
        from smartbuild.profiles.roles import ROLES
        from smartbuild.suggest import did_you_mean

        for name, p in points.items():
            if p.role is not None and p.role not in ROLES:
                problems.append(
                    f"{name!r}: unknown role {p.role!r}.{did_you_mean(p.role, ROLES)}"
                    " (docs/templates.md lists the roles)"
                )
            if p.sf is not None and p.sf not in points:
                problems.append(
                    f"{name!r}: scale-factor point {p.sf!r} is not a point of this template"
                )
        if transport == "modbus":
            problems.extend(_overlaps(points, base))
        if problems:
            raise ValueError("; ".join(problems))
        return points

    def pdu_address(self, point: PointSpec) -> int:
        """Return the on-wire PDU address of a Modbus point."""
        assert point.address is not None
        base = self.defaults.address_base
        return pdu_address(point.address, base)

    def word_order(self, point: PointSpec) -> str:
        """Return the word order of a point (its own or the template default)."""
        return point.word_order or self.defaults.word_order


def _overlaps(points: dict[str, PointSpec], base: Any) -> list[str]:
    spans: dict[str, list[tuple[int, int, str, int | None]]] = {}
    for name, p in points.items():
        if p.table is None or p.address is None:
            continue
        start = p.address
        spans.setdefault(p.table, []).append((start, start + p.register_count(), name, p.bit))
    problems = []
    for table, items in spans.items():
        items.sort()
        reach, owner, owner_bit = -1, "", None  # furthest end so far and the point that reaches it
        for start, end, name, bit in items:
            if start < reach and not (
                bit is not None and owner_bit is not None and bit != owner_bit
            ):
                problems.append(
                    f"{name!r} overlaps {owner!r} in the {table} table at address {start}"
                )
            if end > reach:
                reach, owner, owner_bit = end, name, bit
    return problems


ModbusIdentify.model_rebuild()


class ZoneSpec(Closed):
    """A zone: a room or area with the devices that serve it."""

    title: str | None = None
    building: Name = "main"
    floor: int | str | None = None
    area_m2: float | None = Field(None, gt=0)
    tags: list[str] = []


class BuildingSpec(Closed):
    """A building of the site."""

    title: str | None = None
    floors: list[int | str] = []


class SerialSpec(Closed):
    """Serial line settings of a Modbus RTU bus."""

    baudrate: int = Field(9600, ge=300, le=921_600)
    parity: Literal["N", "E", "O"] = "E"
    stopbits: Literal[1, 2] = 1
    bytesize: Literal[7, 8] = 8


class DeviceSpec(Closed):
    """A device of the site: which template, where to reach it, which zone it serves."""

    template: str
    transport: str
    address: str
    unit: int | None = Field(None, ge=0, le=255)
    zone: str | None = None
    title: str | None = None
    enabled: bool = True
    timeout: float | None = Field(None, gt=0, le=60)
    retries: int | None = Field(None, ge=0, le=10)
    pause_ms: float | None = Field(None, ge=0, le=10_000)
    connect_delay_ms: float | None = Field(None, ge=0, le=60_000)
    max_gap: int | None = Field(None, ge=0, le=120)
    serial: SerialSpec | None = None
    adapter: str | None = None
    identity: dict[str, Any] = {}  # what discovery saw, kept for the record


class Site(Closed):
    """The site inventory: buildings, zones, devices."""

    site: Name
    title: str | None = None
    timezone: str = "UTC"
    buildings: dict[Name, BuildingSpec] = {}
    zones: dict[Name, ZoneSpec] = {}
    devices: dict[Name, DeviceSpec] = {}
    templates: list[str] = []  # extra template files or directories, relative to the site file
    profiles: list[str] = []  # extra profile directories, relative to the site file

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            from zoneinfo import available_timezones

            from smartbuild.suggest import did_you_mean

            hint = (
                did_you_mean(value, available_timezones())
                or " Use an IANA name such as 'Europe/Berlin'."
            )
            raise ValueError(f"unknown timezone {value!r}.{hint}") from None
        return value
