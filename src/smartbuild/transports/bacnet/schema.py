"""The BACnet template format: points are object properties; identification by vendor and model."""

from __future__ import annotations

import re
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from smartbuild.config.schema import Closed, Defaults, PointSpec, Template, ValueKind, check_regex

ANALOG = ("analog-input", "analog-output", "analog-value", "large-analog-value")
BINARY = ("binary-input", "binary-output", "binary-value")
MULTI_STATE = ("multi-state-input", "multi-state-output", "multi-state-value")
INTEGER = ("integer-value", "positive-integer-value")
OBJECT_TYPES = (*ANALOG, *BINARY, *MULTI_STATE, *INTEGER)
# objects whose present-value is always commandable (ASHRAE 135 clause 19.2); the -value
# objects are commandable only when they have a priority array (the template says so)
ALWAYS_COMMANDABLE = ("analog-output", "binary-output", "multi-state-output")
MAX_INSTANCE = 4_194_302
OBJECT_RE = re.compile(r"^([a-z-]+),(\d+)$")
# priorities 1-5 are life safety and critical equipment control: never an application's
LOWEST_PRIORITY, DEFAULT_PRIORITY = 6, 16


def parse_object(text: str) -> tuple[str, int]:
    """Return (object type, instance) of ``analog-value,3``; raise ValueError when invalid."""
    m = OBJECT_RE.match(text.strip())
    if m is None or m.group(1) not in OBJECT_TYPES:
        raise ValueError(
            f"object {text!r} must be TYPE,INSTANCE with TYPE one of {', '.join(OBJECT_TYPES)}"
        )
    instance = int(m.group(2))
    if instance > MAX_INSTANCE:
        raise ValueError(f"object {text!r}: instance above {MAX_INSTANCE}")
    return m.group(1), instance


def _check_priority(value: int | None) -> int | None:
    if value is not None and not LOWEST_PRIORITY <= value <= 16:
        raise ValueError(
            f"priority {value} is not allowed: use {LOWEST_PRIORITY}-16 "
            "(1-5 are life safety and critical equipment control; operators use 8)"
        )
    return value


class BacnetRules(Closed):
    """How a BACnet device proves it is this template (all given rules must match)."""

    vendor_name: str | None = None
    model_name: str | None = None
    vendor_id: int | None = Field(None, ge=0, le=65535)

    _re = field_validator("vendor_name", "model_name")(check_regex)


class BacnetIdentify(Closed):
    """The ``identify:`` block of a BACnet template."""

    bacnet: BacnetRules | None = None


class BacnetDefaults(Defaults):
    """Defaults of a BACnet template: the write priority and how values are read and watched."""

    priority: int = DEFAULT_PRIORITY
    rpm: bool = True  # ReadPropertyMultiple (falls back to ReadProperty when the device rejects it)
    rpm_max_objects: int = Field(20, ge=1, le=200)
    cov: bool = True  # watch subscribes to change-of-value notifications (else polls)
    cov_lifetime: int = Field(300, ge=60, le=86_400)

    _priority = field_validator("priority")(_check_priority)


class BacnetPoint(PointSpec):
    """An object's property (present-value unless told), optionally commandable."""

    object: str
    property: str = "present-value"
    priority: int | None = None  # this point's write priority (else the template default)
    commandable: bool | None = None  # None: output objects are, the others are not

    _priority = field_validator("priority")(_check_priority)

    @field_validator("object")
    @classmethod
    def _object(cls, value: str) -> str:
        parse_object(value)
        return value

    def object_type(self) -> str:
        """Return the object type, e.g. ``analog-value``."""
        return parse_object(self.object)[0]

    def is_commandable(self) -> bool:
        """Return True when writes go to the priority array (and undo relinquishes)."""
        if self.property != "present-value":
            return False
        if self.commandable is not None:
            return self.commandable
        return self.object_type() in ALWAYS_COMMANDABLE

    def value_kind(self) -> ValueKind:
        """Return what the object holds: binary is a switch, multi-state a whole number."""
        kind = self.object_type()
        if kind in BINARY:
            return "bool"
        if kind in MULTI_STATE or kind in INTEGER:
            return "integer"
        return "number"

    def step(self) -> float | None:
        """Return 1 state (or count) in engineering units for whole-number objects."""
        return abs(self.scale) if self.value_kind() == "integer" else None


class BacnetTemplate(Template):
    """A BACnet/IP device template."""

    transport: Literal["bacnet"]
    identify: BacnetIdentify | None = None
    defaults: BacnetDefaults = BacnetDefaults()
    points: dict[str, BacnetPoint] = Field(default_factory=dict)  # type: ignore[assignment]

    @classmethod
    def check_points(cls, points: dict[str, Any], fields: dict[str, Any]) -> list[str]:
        """Return points that read the same property of the same object, or misuse priorities."""
        seen: dict[tuple[str, str], str] = {}
        problems = []
        for name, p in points.items():
            key = (p.object, p.property)
            if key in seen:
                problems.append(f"{name!r} reads {p.object} {p.property} as {seen[key]!r} does")
            seen.setdefault(key, name)
            if p.priority is not None and not p.is_commandable():
                problems.append(f"{name!r}: 'priority' needs a commandable present-value")
            if p.value_kind() == "bool" and any(
                b is not None and b not in (0, 1) for b in (p.min, p.max)
            ):
                problems.append(f"{name!r}: a binary object holds 0 (inactive) or 1 (active)")
        return problems

    def priority(self, point: BacnetPoint) -> int:
        """Return the priority a point is written at."""
        return point.priority or self.defaults.priority

    family: ClassVar[Any] = None  # set by smartbuild.transports.bacnet.family
