"""The Modbus template format: register points, identification rules and link defaults."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from smartbuild.config.schema import Closed, Defaults, PointSpec, Template, check_regex
from smartbuild.transports.modbus.codec import modicon_address, pdu_address
from smartbuild.transports.modbus.plain import (
    INTEGER_TYPES,
    REGISTERS,
    ModbusPointLogic,
    ModbusTemplateLogic,
)

Table = Literal["holding", "input", "coil", "discrete"]
DataType = Literal[
    "int16", "uint16", "int32", "uint32", "int64", "uint64", "float32", "float64", "string", "bits"
]
WordOrder = Literal["ABCD", "CDAB", "BADC", "DCBA"]

__all__ = ["INTEGER_TYPES", "REGISTERS", "ModbusPoint", "ModbusTemplate"]


class ProbeRule(Closed):
    """A known register read whose value must be plausible."""

    point: str
    min: float | None = None
    max: float | None = None
    equals: float | None = None


class ModbusRules(Closed):
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
    )(check_regex)


class ModbusIdentify(Closed):
    """The ``identify:`` block of a Modbus template."""

    modbus: ModbusRules | None = None


class ModbusDefaults(Defaults):
    """Link and addressing defaults of a Modbus template."""

    address_base: Literal[0, 1, "modicon"] = 0
    word_order: WordOrder = "ABCD"
    max_gap: int = Field(10, ge=0, le=120)
    pause_ms: float = Field(0, ge=0, le=10_000)
    connect_delay_ms: float = Field(0, ge=0, le=60_000)
    max_read_registers: int = Field(125, ge=1, le=125)


class ModbusPoint(ModbusPointLogic, PointSpec):
    """A register or coil: table, address, type and word order (behaviour: plain.py)."""

    table: Table | None = None
    address: int | None = Field(None, ge=0, le=465_535)
    type: DataType = "uint16"
    length: int | None = Field(None, ge=1, le=125)  # registers, for strings
    bit: int | None = Field(None, ge=0, le=15)
    word_order: WordOrder | None = None
    sf: str | None = None  # SunSpec: value x 10^(this other point's value)


class ModbusTemplate(ModbusTemplateLogic, Template):
    """A Modbus TCP/RTU device template."""

    transport: Literal["modbus"]
    identify: ModbusIdentify | None = None
    defaults: ModbusDefaults = ModbusDefaults()
    points: dict[str, ModbusPoint] = Field(default_factory=dict)  # type: ignore[assignment]

    @classmethod
    def check_points(cls, points: dict[str, Any], fields: dict[str, Any]) -> list[str]:
        """Return problems of tables, addresses, types, scale factors and overlaps."""
        base = (fields.get("defaults") or ModbusDefaults()).address_base
        problems = []
        for name, p in points.items():
            if p.table is None or p.address is None:
                problems.append(f"{name!r}: a Modbus point needs 'table' and 'address'")
                continue
            if p.writable and p.table in ("input", "discrete"):
                problems.append(f"{name!r}: {p.table} points are read-only; remove 'writable'")
            if p.type == "string" and not p.length:
                problems.append(f"{name!r}: a string point needs 'length' (registers)")
            if p.table in ("coil", "discrete") and p.type not in ("uint16", "bits"):
                problems.append(f"{name!r}: {p.table} points hold single bits; drop 'type'")
            if p.value_kind() == "bool" and any(
                b is not None and b not in (0, 1) for b in (p.min, p.max)
            ):
                problems.append(
                    f"{name!r}: a switch holds 0 (off) or 1 (on): min/max must be 0 or 1"
                )
            if base == "modicon" and (problem := _modicon_problem(p.address, p.table)):
                problems.append(f"{name!r}: {problem}")
            if not 0 <= pdu_address(p.address, base) <= 65_535:
                problems.append(
                    f"{name!r}: address {p.address} is outside 0-65535 on the wire "
                    f"(address_base {base!r})"
                )
            if p.sf is not None and p.sf not in points:
                problems.append(
                    f"{name!r}: scale-factor point {p.sf!r} is not a point of this template"
                )
        problems.extend(_overlaps(points))
        return problems

    family: ClassVar[Any] = None  # set below: the family serves templates of this class


def _overlaps(points: dict[str, ModbusPoint]) -> list[str]:
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


def _modicon_problem(address: int, table: str) -> str | None:
    """Return why a Modicon address does not fit the point's table (the codec's rule), or None."""
    try:
        implied, _ = modicon_address(address)
    except ValueError as error:
        return str(error)
    if implied != table:
        return f"Modicon address {address} is in the {implied} table, not {table!r}; fix 'table' or the address"
    return None


from smartbuild.transports.modbus.family import ModbusFamily  # noqa: E402  (family needs no schema)

ModbusTemplate.family = ModbusFamily
