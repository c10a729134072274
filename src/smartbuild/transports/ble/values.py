"""GATT characteristic values: bytes <-> engineering units per a point's ``ble_format``, scale, offset.

Characteristic formats follow the GATT convention of little-endian integers (Bluetooth Core
Specification vol 3 part G; the Characteristic Presentation Format in the GATT Specification
Supplement). A point without ``ble_format`` reads as hex and cannot be written.
"""

from __future__ import annotations

import math
import struct
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from smartbuild.transports.ble.schema import BlePoint as PointSpec

FORMATS: dict[str, str] = {
    "uint8": "<B",
    "int8": "<b",
    "uint16le": "<H",
    "int16le": "<h",
    "uint32le": "<I",
    "int32le": "<i",
    "float32le": "<f",
}
# Scaled integers within this distance of a whole number are that number (21.3 / 0.01 noise).
_INTEGRAL_TOLERANCE = Decimal("1e-6")


def _dec(x: float) -> Decimal:
    # repr() keeps the shortest decimal that round-trips, so scale 0.01 is exactly one hundredth
    return Decimal(x) if isinstance(x, int) else Decimal(repr(float(x)))


def decode_value(point: PointSpec, data: bytes) -> tuple[Any, Any, str | None]:
    """Return (value, raw, enum label) of a characteristic value; raise ValueError if it does not fit."""
    fmt = point.ble_format
    if fmt is None:
        return data.hex(), data.hex(), None
    if fmt == "utf8":
        # GATT strings are often NUL-padded to a fixed length
        return data.split(b"\0", 1)[0].decode("utf-8", errors="replace"), data.hex(), None
    code = FORMATS[fmt]
    size = struct.calcsize(code)
    if len(data) != size:
        raise ValueError(f"{fmt} needs {size} byte(s), the device sent {len(data)} ({data.hex()})")
    (raw,) = struct.unpack(code, data)
    label = point.enum.get(int(raw)) if point.enum and isinstance(raw, int) else None
    if point.scale == 1 and point.offset == 0:
        return raw, raw, label
    if isinstance(raw, float):
        return raw * point.scale + point.offset, raw, label
    if isinstance(point.scale, int) and isinstance(point.offset, int):
        return raw * point.scale + point.offset, raw, label
    return float(_dec(raw) * _dec(point.scale) + _dec(point.offset)), raw, label


def encode_value(point: PointSpec, value: Any) -> bytes:
    """Return the bytes that store an engineering value; raise ValueError when it does not fit."""
    fmt = point.ble_format
    if fmt is None:
        raise ValueError("the template gives no ble_format for this characteristic")
    if fmt == "utf8":
        if not isinstance(value, str):
            raise ValueError(f"utf8 expects text, got {value!r}")
        return value.encode("utf-8")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{fmt} expects a finite number, got {value!r}")
    code = FORMATS[fmt]
    if fmt == "float32le":
        return struct.pack(code, (value - point.offset) / point.scale)
    exact = (_dec(value) - _dec(point.offset)) / _dec(point.scale)
    raw = int(exact.to_integral_value())
    if abs(exact - raw) > _INTEGRAL_TOLERANCE:
        raise ValueError(
            f"{value!r} is not a whole number of steps of {point.scale:g} "
            f"(raw value would be {exact.normalize()})"
        )
    try:
        return struct.pack(code, raw)
    except struct.error:
        bits = struct.calcsize(code) * 8
        signed = code[1].islower()
        low, high = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
        raise ValueError(f"raw value {raw} is outside {low}..{high} of {fmt}") from None
