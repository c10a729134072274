"""Numbers written with units ("21.5 °C", "70 °F", "11 kW"), converted into a role's unit.

Pure functions, shared by profiles and by `smartbuild write … 21.5°C`. A value is converted only
where the target unit is known and the conversion is exact arithmetic; anything else is refused
with a message that says how to write it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

from smartbuild.model.roles import normalize_unit

_C = "°C"
_F = "°F"

# Spellings of units that only this module converts (roles never use them as canonical units).
_MORE_ALIASES = {
    "F": _F,
    "degF": _F,
    "deg F": _F,
    "°f": _F,
    "℉": _F,
    "kelvin": "K",
    "w": "W",
    "mw": "MW",
    "ma": "mA",
    "wh": "Wh",
    "mwh": "MWh",
}

# to canonical unit: {from unit: conversion}
CONVERSIONS: dict[str, dict[str, Callable[[float], float]]] = {
    _C: {_F: lambda f: (f - 32.0) * 5.0 / 9.0, "K": lambda k: k - 273.15},
    "kW": {"W": lambda w: w / 1000.0, "MW": lambda mw: mw * 1000.0},
    "kWh": {"Wh": lambda wh: wh / 1000.0, "MWh": lambda mwh: mwh * 1000.0},
    "A": {"mA": lambda ma: ma / 1000.0},
}

_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_QUANTITY = re.compile(rf"\s*(?P<number>{_NUMBER})\s*(?P<unit>.*?)\s*")
_DECIMAL_COMMA = re.compile(r"\s*[-+]?\d+,\d+\s*(?P<unit>.*?)\s*")


class NotANumber(ValueError):
    """The text holds no number at all (as opposed to a number with a wrong unit)."""


def unit_of(text: str) -> str | None:
    """Return the canonical spelling of a unit as written ("degF" → "°F"), or None if empty."""
    text = text.strip()
    if not text:
        return None
    return _MORE_ALIASES.get(text) or normalize_unit(text)


def _unitless(unit: str | None) -> bool:
    return unit in (None, "", "bool", "enum")


def parse_quantity(text: str, unit: str | None) -> float:
    """Return the number in text converted to unit ("70 °F", "°C" → 21.11…); raise ValueError."""
    if _DECIMAL_COMMA.fullmatch(text):
        fixed = text.strip().replace(",", ".", 1)
        raise ValueError(f"'{text.strip()}' uses a decimal comma: write '{fixed}'")
    match = _QUANTITY.fullmatch(text)
    if match is None:
        shown = "" if _unitless(unit) else f" or a number with its unit, like '21.5 {unit}'"
        raise NotANumber(f"'{text.strip()}' is not a number: write a number{shown}")
    number = float(match["number"])
    if not math.isfinite(number):
        raise ValueError(f"'{text.strip()}' is not a finite number")
    written = unit_of(match["unit"])
    if written is None:
        return number
    if _unitless(unit):
        raise ValueError(
            f"'{text.strip()}' has a unit ({match['unit']}), but this takes a plain number"
        )
    assert unit is not None
    canonical = normalize_unit(unit) or unit
    if written == canonical:
        return number
    convert = CONVERSIONS.get(canonical, {}).get(written)
    if convert is None:
        known = sorted({canonical, *CONVERSIONS.get(canonical, {})})
        raise ValueError(
            f"unit '{match['unit']}' cannot be converted to {canonical} (use {', '.join(known)})"
        )
    return round(convert(number), 9)
