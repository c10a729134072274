"""Values between bacpypes3 and engineering units, and readable BACnet error texts."""

from __future__ import annotations

from typing import Any

from smartbuild.transports.bacnet.schema import BacnetPoint


def error_text(value: Any) -> str | None:
    """Return ``error-class/error-code`` of a property access error, or None for a value."""
    code = getattr(value, "errorCode", None)
    if code is None:
        return None
    return f"{getattr(value, 'errorClass', 'error')}/{code}"


def to_engineering(point: BacnetPoint, raw: Any) -> tuple[Any, str | None]:
    """Return (value, enum label) of a present-value as smartbuild holds it."""
    kind = point.value_kind()
    if kind == "bool":
        text = str(raw)
        return (text == "active" if not isinstance(raw, (int, bool)) else bool(raw)), None
    if kind == "text":
        return str(raw), None
    number = float(raw) * point.scale + point.offset
    if kind == "integer":
        whole = round(number, 10)
        value: Any = int(whole) if float(whole).is_integer() else whole
        label = point.enum.get(int(raw)) if point.enum and float(raw).is_integer() else None
        return value, label
    return round(number, 10), None


def to_raw(point: BacnetPoint, value: Any) -> Any:
    """Return what to send for an engineering value (binary objects take active/inactive)."""
    kind = point.value_kind()
    if kind == "bool":
        return "active" if value else "inactive"
    raw = (float(value) - point.offset) / point.scale
    return round(raw) if kind == "integer" else raw


def held_by(priority_array: Any, ours: int) -> int | None:
    """Return the highest priority above ``ours`` holding a value in a priority array, or None."""
    for index, slot in enumerate(priority_array or [], start=1):
        if index >= ours:
            return None
        if getattr(slot, "null", ()) is None:  # bacpypes3: a slot with a value has no null
            return index
    return None


def ours_set(priority_array: Any, ours: int) -> bool:
    """Return True when our own priority slot holds a value."""
    slots = list(priority_array or [])
    return len(slots) >= ours and getattr(slots[ours - 1], "null", ()) is None
