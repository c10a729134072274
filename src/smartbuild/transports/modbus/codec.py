"""Decode and encode typed Modbus values with pymodbus's own converters.

Data types use pymodbus's ``DATATYPE`` names (INT16 … FLOAT64, STRING, BITS). Byte order is
spelled in one vocabulary for every type:

- ``ABCD`` big-endian words, big-endian bytes (the Modbus default),
- ``CDAB`` words in reverse order, bytes big-endian inside each word ("word-swapped"),
- ``BADC`` words in order, bytes swapped inside each word ("byte-swapped"),
- ``DCBA`` everything reversed (little-endian).

pymodbus only knows word order (``"big"``/``"little"``; for 64-bit values "little" reverses
all four words), so the byte swap inside each register is done here on top. For STRING and
BITS the word order applies to the whole register list, as in pymodbus.

BITS follow pymodbus: register ``0x0001`` decodes to bit 8 set (high byte first, least
significant bit first inside each byte). Use ``BADC`` when a device numbers bit 0 as the
least significant bit of the register.

Only pure functions live here; pymodbus is imported on first use so that loading templates
does not pay for it.
"""

from __future__ import annotations

import math
import struct
from decimal import Decimal
from functools import cache
from typing import Any, Literal, cast

WordOrder = Literal["ABCD", "CDAB", "BADC", "DCBA"]
WORD_ORDERS: tuple[WordOrder, ...] = ("ABCD", "CDAB", "BADC", "DCBA")

#: Registers per value; 0 = variable length (STRING, BITS). Kept equal to pymodbus's
#: ``DATATYPE`` table by a contract test, so the count can be derived without importing it.
REGISTERS: dict[str, int] = {
    "INT16": 1,
    "UINT16": 1,
    "INT32": 2,
    "UINT32": 2,
    "INT64": 4,
    "UINT64": 4,
    "FLOAT32": 2,
    "FLOAT64": 4,
    "STRING": 0,
    "BITS": 0,
}
DATA_TYPES: tuple[str, ...] = tuple(REGISTERS)

INT_RANGES: dict[str, tuple[int, int]] = {  # raw integer range of each type
    "INT16": (-(2**15), 2**15 - 1),
    "UINT16": (0, 2**16 - 1),
    "INT32": (-(2**31), 2**31 - 1),
    "UINT32": (0, 2**32 - 1),
    "INT64": (-(2**63), 2**63 - 1),
    "UINT64": (0, 2**64 - 1),
}
_FLOAT_MAX: dict[str, float] = {
    "FLOAT32": 3.4028234663852886e38,
    "FLOAT64": 1.7976931348623157e308,
}
# A scaled integer within this distance of a whole number is taken as that number: values
# like 21.3 / 0.1 carry binary rounding noise that must not refuse a legitimate write.
_INTEGRAL_TOLERANCE = Decimal("1e-6")

Value = int | float | str | list[bool]


@cache
def _mixin() -> Any:
    """Return pymodbus's client mixin (imported lazily, it costs ~75 ms)."""
    from pymodbus.client.mixin import ModbusClientMixin

    return ModbusClientMixin


def _check_type(data_type: str) -> str:
    name = data_type.upper()
    if name not in REGISTERS:
        raise ValueError(
            f"unknown data type {data_type!r}; expected one of {', '.join(DATA_TYPES)}"
        )
    return name


def _check_order(word_order: str) -> WordOrder:
    order = word_order.upper()
    if order not in WORD_ORDERS:
        raise ValueError(
            f"unknown word order {word_order!r}; expected one of {', '.join(WORD_ORDERS)}"
        )
    return cast(WordOrder, order)


# Modicon notation: the leading digit names the table, the rest counts from 1.
MODICON_TABLES = {0: "coil", 1: "discrete", 3: "input", 4: "holding"}


def modicon_address(address: int) -> tuple[str, int]:
    """Return the table and PDU address of a Modicon address (30001 is input register 0).

    Five digits (40001-49999) or six (400001-465536); coils are 00001 (written as 1) up.
    """
    six = address >= 100_000
    digit, number = divmod(address, 100_000 if six else 10_000)
    table = MODICON_TABLES.get(digit)
    if table is None:
        raise ValueError(
            f"{address} is not a Modicon address: the leading digit names the table "
            "(0 coils, 1 discrete inputs, 3 input registers, 4 holding registers)"
        )
    if not 1 <= number <= (65_536 if six else 9_999):
        raise ValueError(
            f"{address} is not a Modicon address: the number after the table digit counts from 1"
        )
    return table, number - 1


def pdu_address(address: int, base: object) -> int:
    """Return the on-wire PDU address of an address written with a base (0, 1 or "modicon").

    Modicon notation puts the table in the first digit: 40001 (or 400001) is PDU address 0.
    """
    if base == "modicon":
        return (address % 100_000 if address >= 100_000 else address % 10_000) - 1
    return address - int(base)  # type: ignore[call-overload]


def register_count(data_type: str, length: int | None = None) -> int:
    """Return how many registers one value of this type occupies.

    ``length`` is the number of characters (bytes) for STRING and of bits for BITS
    (default 16); fixed-size types take no length.
    """
    name = _check_type(data_type)
    fixed = REGISTERS[name]
    if fixed:
        if length is not None and length != fixed:
            raise ValueError(f"{name} has a fixed size of {fixed} register(s); drop 'length'")
        return fixed
    if name == "STRING":
        if length is None:
            raise ValueError("STRING needs a length (number of characters)")
        if length < 1:
            raise ValueError(f"STRING length must be at least 1, got {length}")
        return (length + 1) // 2
    bits = 16 if length is None else length
    if bits < 1:
        raise ValueError(f"BITS length must be at least 1, got {bits}")
    return (bits + 15) // 16


def _swap_bytes(registers: list[int]) -> list[int]:
    return [((r & 0xFF) << 8) | (r >> 8) for r in registers]


def _to_pymodbus(registers: list[int], order: WordOrder) -> tuple[list[int], str]:
    """Undo the byte swap so pymodbus only has to handle word order."""
    regs = _swap_bytes(registers) if order in ("BADC", "DCBA") else list(registers)
    return regs, ("little" if order in ("CDAB", "DCBA") else "big")


def _check_registers(registers: list[int] | tuple[int, ...]) -> list[int]:
    regs = list(registers)
    if not regs:
        raise ValueError("no registers to decode")
    for r in regs:
        if isinstance(r, bool) or not isinstance(r, int) or not 0 <= r <= 0xFFFF:
            raise ValueError(f"register value {r!r} is not a 16-bit unsigned integer")
    return regs


def _dec(x: int | float) -> Decimal:
    # repr() keeps the shortest decimal that round-trips, so 0.1 means one tenth, not
    # 0.1000000000000000055…; this makes scale=0.1 exact in both directions.
    return Decimal(x) if isinstance(x, int) else Decimal(repr(float(x)))


def _check_scaling(name: str, scale: float, offset: float) -> None:
    if name in ("STRING", "BITS") and (scale != 1 or offset != 0):
        raise ValueError(f"{name} values cannot be scaled or offset")
    for label, x in (("scale", scale), ("offset", offset)):
        if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x):
            raise ValueError(f"{label} must be a finite number, got {x!r}")
    if scale == 0:
        raise ValueError("scale must not be 0")


def decode(
    registers: list[int] | tuple[int, ...],
    data_type: str,
    word_order: str = "ABCD",
    scale: float = 1,
    offset: float = 0,
    *,
    encoding: str = "utf-8",
) -> Value:
    """Decode registers into a value: raw * scale + offset.

    Integers stay ``int`` when scale and offset are integers; otherwise the result is a
    float computed in decimal so that ``234`` with scale 0.1 gives exactly ``23.4``.
    """
    name = _check_type(data_type)
    order = _check_order(word_order)
    _check_scaling(name, scale, offset)
    regs = _check_registers(registers)
    fixed = REGISTERS[name]
    if fixed and len(regs) != fixed:
        raise ValueError(f"{name} needs {fixed} register(s), got {len(regs)}")
    mixin = _mixin()
    regs, pm_order = _to_pymodbus(regs, order)
    raw = mixin.convert_from_registers(
        regs, mixin.DATATYPE[name], word_order=pm_order, string_encoding=encoding
    )
    if name in ("STRING", "BITS"):
        return cast(Value, raw)
    if scale == 1 and offset == 0:
        return cast(Value, raw)
    if isinstance(raw, float):
        return raw * scale + offset
    if isinstance(scale, int) and isinstance(offset, int):
        return cast(int, raw) * scale + offset
    return float(_dec(cast(int, raw)) * _dec(scale) + _dec(offset))


def _raw_number(name: str, value: object, scale: float, offset: float) -> int | float:
    """Turn an engineering value into the raw number to store, with range checks."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} expects a number, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{value!r} cannot be written as {name}: not a finite number")
    scaled = ""
    if scale != 1 or offset != 0:
        scaled = f" (raw value after scale {scale} and offset {offset})"
    if name in _FLOAT_MAX:
        raw_f = (value - offset) / scale
        if not math.isfinite(raw_f) or abs(raw_f) > _FLOAT_MAX[name]:
            raise ValueError(f"{value!r} is out of range for {name}{scaled}")
        return raw_f
    exact = (_dec(value) - _dec(offset)) / _dec(scale)
    raw = int(exact.to_integral_value())
    if abs(exact - raw) > _INTEGRAL_TOLERANCE:
        raise ValueError(
            f"{value!r} is not a whole number of steps for {name}{scaled}: "
            f"raw value would be {exact.normalize()}"
        )
    lo, hi = INT_RANGES[name]
    if not lo <= raw <= hi:
        raise ValueError(
            f"{value!r} is out of range for {name}{scaled}: raw value {raw} is outside {lo}..{hi}"
        )
    return raw


def encode(
    value: Value,
    data_type: str,
    word_order: str = "ABCD",
    scale: float = 1,
    offset: float = 0,
    *,
    length: int | None = None,
    encoding: str = "utf-8",
) -> list[int]:
    """Encode a value into registers, storing (value - offset) / scale.

    Raises ValueError when the value does not fit the type after scaling or is not a
    whole number of steps for an integer type. ``length`` (STRING characters, BITS bits)
    pads the result to the declared size and refuses longer values.
    """
    name = _check_type(data_type)
    order = _check_order(word_order)
    _check_scaling(name, scale, offset)
    payload: Any
    if name == "STRING":
        if not isinstance(value, str):
            raise ValueError(f"STRING expects text, got {value!r}")
        size = len(value.encode(encoding))
        if length is not None and size > length:
            raise ValueError(f"{value!r} is {size} bytes long; the field holds {length}")
        if size == 0 and length is None:
            raise ValueError("an empty STRING needs a length to know how many registers to fill")
        # Pad before pymodbus applies the word order, so the NULs land at the end of the text.
        payload = value + "\0" * ((length or size) - size)
    elif name == "BITS":
        if not isinstance(value, list) or not all(isinstance(b, bool) for b in value):
            raise ValueError(f"BITS expects a list of booleans, got {value!r}")
        if not value and length is None:
            raise ValueError("an empty BITS list needs a length")
        if length is not None and len(value) > length:
            raise ValueError(f"{len(value)} bits do not fit a {length}-bit field")
        payload = value + [False] * (16 * register_count(name, length or len(value)) - len(value))
    else:
        payload = _raw_number(name, value, scale, offset)
    mixin = _mixin()
    pm_order = "little" if order in ("CDAB", "DCBA") else "big"
    try:
        regs: list[int] = mixin.convert_to_registers(
            payload, mixin.DATATYPE[name], word_order=pm_order, string_encoding=encoding
        )
    except (OverflowError, struct.error) as exc:
        raise ValueError(f"{value!r} is out of range for {name}: {exc}") from exc
    return _swap_bytes(regs) if order in ("BADC", "DCBA") else regs


def decode_all_orders(registers: list[int] | tuple[int, ...]) -> dict[str, dict[str, int | float]]:
    """Decode registers as every 32-bit (and, from 4 registers, 64-bit) type in all orders.

    Returns ``{type: {order: value}}`` for a probe: the 32-bit types read the first two
    registers, the 64-bit types the first four.
    """
    regs = _check_registers(registers)
    if len(regs) < 2:
        raise ValueError("a probe needs at least 2 registers")
    types = ["INT32", "UINT32", "FLOAT32"]
    if len(regs) >= 4:
        types += ["INT64", "UINT64", "FLOAT64"]
    out: dict[str, dict[str, int | float]] = {}
    for name in types:
        width = REGISTERS[name]
        out[name] = {
            order: cast("int | float", decode(regs[:width], name, order)) for order in WORD_ORDERS
        }
    return out
