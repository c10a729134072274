"""Closed pydantic schemas of the site file and device templates."""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from smartbuild.config.fields import SecretText
from smartbuild.config.mqtt import MqttSpec

Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", max_length=80)]
# A number that must be a real number: NaN compares False with every bound and inf passes any
# maximum, so neither may reach a bound, a scale or an offset.
Finite = Annotated[float, Field(allow_inf_nan=False)]


class Closed(BaseModel):
    """A model that rejects unknown keys and cannot be changed after loading."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def check_regex(value: str | None) -> str | None:
    """Return value when it is a valid regular expression (None passes); raise ValueError if not."""
    if value is not None:
        try:
            re.compile(value)
        except re.error as error:
            raise ValueError(f"invalid regular expression {value!r}: {error}") from None
    return value


ValueKind = Literal["number", "integer", "bool", "text"]


class Defaults(Closed):
    """Defaults every device of a template starts from (a family adds its own)."""

    poll_interval: float = Field(10.0, gt=0, allow_inf_nan=False)
    timeout: float = Field(1.0, gt=0, le=60)
    retries: int = Field(1, ge=0, le=10)
    # seconds between a verified write and the final read-back that catches a device changing
    # the value back (an EV charger refusing a current applies its own on the next cycle)
    settle: float = Field(0.5, ge=0, le=60)


class PointSpec(Closed):
    """What every point means, whatever carries it: unit, role, bounds, scaling.

    A transport family subclasses it with where the point lives (a register, a characteristic, a
    TXT key) and says how the device stores the value: ``value_kind`` and ``step``.
    """

    description: str | None = None
    scale: Finite = 1.0
    offset: Finite = 0.0
    unit: str | None = None
    role: str | None = None
    writable: bool = False
    min: Finite | None = None
    max: Finite | None = None
    enum: dict[int, str] | None = None
    poll_interval: float | None = Field(None, gt=0, allow_inf_nan=False)
    settle: float | None = Field(None, ge=0, le=60)  # this point's own settle time (s)
    tolerance: Finite | None = Field(None, ge=0)  # values this close are the same (floats)

    @model_validator(mode="after")
    def _bounds(self) -> PointSpec:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        if self.scale == 0:
            raise ValueError("scale must not be 0")
        return self

    def value_kind(self) -> ValueKind:
        """Return what the device holds: a number, a whole number of steps, a switch or text."""
        return "number"

    def step(self) -> float | None:
        """Return the smallest change the device can hold (engineering units), None if continuous."""
        return None

    def unencodable(self, value: float) -> str | None:
        """Return why the device's encoding cannot hold a value (out of its type's range)."""
        return None


class Template(Closed):
    """A device template: a point map with meanings. Each transport family subclasses it."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    # the family that serves templates of this class (set by the family's subclass)
    family: ClassVar[Any] = None

    template: Name
    title: str
    vendor: str | None = None
    model: str | None = None
    transport: str
    source: str | None = None  # where the point map comes from
    identify: Any = None
    defaults: Defaults = Defaults()
    points: dict[str, PointSpec] = {}

    @field_validator("points")
    @classmethod
    def _check_points(cls, points: dict[str, PointSpec], info: Any) -> dict[str, PointSpec]:
        from smartbuild.model.roles import ROLES
        from smartbuild.suggest import did_you_mean

        problems = []
        for name, p in points.items():
            if p.role is not None and p.role not in ROLES:
                problems.append(
                    f"{name!r}: unknown role {p.role!r}.{did_you_mean(p.role, ROLES)}"
                    " (docs/templates.md lists the roles)"
                )
        problems.extend(cls.check_points(points, info.data))
        if problems:
            raise ValueError("; ".join(problems))
        return points

    @classmethod
    def check_points(cls, points: dict[str, Any], fields: dict[str, Any]) -> list[str]:
        """Return problems across points only the family can see (overlaps, addresses).

        ``fields`` holds the template's other fields, validated already (defaults, identify).
        """
        return []


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
    address: SecretText  # a transport reveals a !secret address when it connects
    unit: int | None = Field(None, ge=0, le=255)
    zone: str | None = None
    # zones a shared device conditions (an air-handling unit, a plant): ids or patterns (f1-*)
    serves: list[str] = []
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


from smartbuild.config.hub import HubSpec  # noqa: E402  (the hub block builds on Closed)


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
    hub: HubSpec | None = None  # what `smartbuild hub run` runs (config/hub.py)
    routines: list[dict[str, Any]] = []  # validated by smartbuild.routines (docs/routines.md)
    mqtt: MqttSpec | None = None  # the hub's MQTT bridge (docs/mqtt.md)

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
