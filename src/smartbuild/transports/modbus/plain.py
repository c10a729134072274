"""What a Modbus point and template mean, in plain Python: shared by the schema and its plain copy.

The pydantic schema (schema.py) validates a template once; the config cache then stores a plain
copy of it (frozen dataclasses of builtins, no pydantic) that the transport reads through, so that
`smartbuild read DEVICE` on a warm cache imports no schema at all. The behaviour of a point (how
many registers it spans, what it holds, its step) and of a template (on-wire addresses, word
order) lives in the mixins below, used by both, so the two cannot disagree; tests check that each
plain class has exactly the fields of its schema.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

from smartbuild.transports.modbus import codec
from smartbuild.transports.modbus.codec import pdu_address

ValueKind = Literal["number", "integer", "bool", "text"]  # the schemas' ValueKind, spelled again

# registers per fixed-size type, from the codec's table; a bits point is one register of flags
REGISTERS: dict[str, int] = {t.lower(): n for t, n in codec.REGISTERS.items() if n}
REGISTERS["bits"] = 1
INTEGER_TYPES = frozenset({"int16", "uint16", "int32", "uint32", "int64", "uint64"})


class ModbusPointLogic:
    """How a register point behaves, from its fields (table, type, length, bit, sf, scale, offset)."""

    __slots__ = ()
    table: Any
    type: Any
    length: int | None
    bit: int | None
    sf: str | None
    scale: float
    offset: float

    def register_count(self) -> int:
        """Return how many registers (or bits) the point occupies."""
        if self.table in ("coil", "discrete"):
            return 1
        if self.type == "string":
            return self.length or 1
        return REGISTERS[self.type]

    def value_kind(self) -> ValueKind:
        """Return what the device holds: coils and flag bits are switches."""
        if self.table in ("coil", "discrete") or self.type == "bits" or self.bit is not None:
            return "bool"
        if self.type == "string":
            return "text"
        if self.type in INTEGER_TYPES and self.sf is None:
            return "integer"
        return "number"

    def unencodable(self, value: float) -> str | None:
        """Return why a value does not fit the register type (raw = (value - offset) / scale)."""
        raw = (value - self.offset) / self.scale
        if self.type in INTEGER_TYPES and self.sf is None:
            low, high = codec.INT_RANGES[self.type.upper()]
            if not low <= round(raw) <= high:
                return f"{value:g} does not fit a {self.type} register (raw {low}..{high})"
        if self.type == "float32" and abs(raw) > 3.4028234663852886e38:
            return f"{value:g} does not fit a float32 register"
        return None

    def step(self) -> float | None:
        """Return one raw step in engineering units; None for floats and SunSpec-scaled points."""
        if self.value_kind() == "integer":
            return abs(self.scale)
        return None


class ModbusTemplateLogic:
    """Where a template's points live on the wire (its defaults: address base, word order)."""

    __slots__ = ()
    defaults: Any

    def pdu_address(self, point: Any) -> int:
        """Return the on-wire PDU address of a point."""
        assert point.address is not None
        return pdu_address(point.address, self.defaults.address_base)

    def word_order(self, point: Any) -> str:
        """Return the word order of a point (its own or the template default)."""
        word_order: str = point.word_order or self.defaults.word_order
        return word_order


@dataclass(frozen=True, slots=True)
class PlainModbusPoint(ModbusPointLogic):
    """A validated ModbusPoint as plain data (every field of the schema, same meaning)."""

    description: str | None
    scale: float
    offset: float
    unit: str | None
    role: str | None
    writable: bool
    min: float | None
    max: float | None
    enum: dict[int, str] | None
    poll_interval: float | None
    settle: float | None
    tolerance: float | None
    table: str | None
    address: int | None
    type: str
    length: int | None
    bit: int | None
    word_order: str | None
    sf: str | None


@dataclass(frozen=True, slots=True)
class PlainModbusDefaults:
    """A validated ModbusDefaults as plain data."""

    poll_interval: float
    timeout: float
    retries: int
    settle: float
    address_base: int | str
    word_order: str
    max_gap: int
    pause_ms: float
    connect_delay_ms: float
    max_read_registers: int


@dataclass(frozen=True, slots=True)
class PlainModbusTemplate(ModbusTemplateLogic):
    """A validated ModbusTemplate as plain data: what reading its devices needs.

    The identification rules are left out: discovery works on the validated templates.
    """

    template: str
    title: str
    vendor: str | None
    model: str | None
    transport: str
    source: str | None
    defaults: PlainModbusDefaults
    points: dict[str, PlainModbusPoint]


def _copy(cls: Any, model: Any, **given: Any) -> Any:
    values = {
        f.name: getattr(model, f.name) for f in dataclasses.fields(cls) if f.name not in given
    }
    return cls(**values, **given)


def plain_template(template: Any) -> PlainModbusTemplate:
    """Return a plain copy of a validated ModbusTemplate."""
    points = {name: _copy(PlainModbusPoint, point, enum=dict(point.enum) if point.enum else None)
              for name, point in template.points.items()}  # fmt: skip
    defaults = _copy(PlainModbusDefaults, template.defaults)
    return _copy(PlainModbusTemplate, template, defaults=defaults, points=points)
