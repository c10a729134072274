"""What a commissioning check expects of a point: the plausibility table by role, in one place.

Pure functions: a reading and its template point in, a verdict out. Ranges are what a working
sensor or meter in a building reports; a value outside is a wiring, scaling, unit or sign fault.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from smartbuild.model.quantity import CONVERSIONS, unit_of
from smartbuild.model.roles import PLAUSIBLE, ROLES, normalize_unit

INF = math.inf


@dataclass(frozen=True)
class Plausible:
    """The values a point of a role may report (in the role's unit), and why."""

    low: float
    high: float
    why: str


# Readings by role. Setpoints take the ranges profiles are held to (model.roles.PLAUSIBLE).
# Sign conventions: consumption, production and counters are positive; a meter wired backwards
# or a register read with the wrong sign shows up as a large negative value. A small negative
# allowance covers standby noise of power meters.
PLAUSIBILITY: dict[str, Plausible] = {
    "zone_air_temperature": Plausible(5.0, 40.0, "a heated or cooled room"),
    "zone_relative_humidity": Plausible(5.0, 95.0, "indoor air"),
    "zone_co2": Plausible(350.0, 5000.0, "outdoor air .. the 8-hour occupational limit"),
    "outdoor_temperature": Plausible(-40.0, 50.0, "outdoor air"),
    "outdoor_running_mean_temperature": Plausible(-30.0, 40.0, "outdoor running mean"),
    "supply_air_temperature": Plausible(5.0, 60.0, "air-handling unit supply"),
    "battery_state_of_charge": Plausible(0.0, 100.0, "a percentage"),
    "battery": Plausible(0.0, 100.0, "a percentage"),
    "illuminance": Plausible(0.0, 150_000.0, "darkness .. direct sunlight"),
    "site_active_power": Plausible(-10_000.0, 10_000.0, "import positive, export negative"),
    "pv_active_power": Plausible(-0.1, 10_000.0, "production is positive"),
    "ev_charger_power": Plausible(-0.1, 350.0, "charging is positive"),
    "heat_pump_power": Plausible(-0.1, 1_000.0, "consumption is positive"),
    "active_power": Plausible(-0.1, 10_000.0, "consumption is positive"),
    "battery_power": Plausible(-10_000.0, 10_000.0, "charge positive, discharge negative"),
    "energy_import_total": Plausible(0.0, INF, "a counter never goes negative"),
    "energy_export_total": Plausible(0.0, INF, "a counter never goes negative"),
    **{
        name: Plausible(low, high, "what a profile may set")
        for name, (low, high) in PLAUSIBLE.items()
    },
}


def _fmt(value: float) -> str:
    return "∞" if value == INF else "-∞" if value == -INF else f"{value:g}"


def role_unit_problem(role: str | None, unit: str | None) -> str | None:
    """Return why a point's unit does not fit its role (None: it fits or converts exactly)."""
    if role is None or role not in ROLES:
        return None
    expected = ROLES[role].unit
    if expected in ("bool", "enum"):
        return None
    written = unit_of(unit) if unit else None
    if written is None:
        return f"no unit, where {role} is in {expected}"
    if written == expected or written in CONVERSIONS.get(expected, {}):
        return None
    return f"unit {unit!r}, where {role} is in {expected}"


def to_role_unit(role: str, unit: str | None, value: float) -> float:
    """Return value converted from the point's unit into the role's canonical unit."""
    expected = ROLES[role].unit
    written = unit_of(unit) if unit else None
    if written is None or written == expected:
        return value
    convert = CONVERSIONS.get(expected, {}).get(written)
    return convert(value) if convert else value


def judge_reading(role: str | None, unit: str | None, value: Any) -> tuple[str, str]:
    """Return (status, reason) for a value read from a point: pass, fail or n/a."""
    shown = _show(value, unit)
    if role is None:
        return "pass", f"read {shown} (no role: no plausibility range)"
    problem = role_unit_problem(role, unit)
    if problem:
        return "fail", f"read {shown}; {problem}"
    rule = PLAUSIBILITY.get(role)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "pass", f"read {shown}"
    if not math.isfinite(float(value)):
        return "fail", f"read {value!r}: not a finite number"
    if rule is None:
        return "pass", f"read {shown} (no plausibility range for {role})"
    canonical = to_role_unit(role, unit, float(value))
    expected = ROLES[role].unit
    span = f"{_fmt(rule.low)}..{_fmt(rule.high)} {expected}"
    if rule.low <= canonical <= rule.high:
        return "pass", f"read {shown}, within {span}"
    hint = ""
    if canonical < 0 <= rule.low + 0.1:
        hint = f"; sign convention: {rule.why}"
    elif rule.high < INF and abs(canonical) > 5 * rule.high:
        hint = "; a scaling or unit fault?"
    return "fail", f"read {shown}, outside {span} ({rule.why}){hint}"


def _show(value: Any, unit: str | None) -> str:
    text = f"{value:g}" if isinstance(value, float) else str(value)
    return f"{text} {unit}" if unit and not isinstance(value, bool) else text


def normalized(unit: str | None) -> str | None:
    """Return a unit's canonical spelling (for the points schedule)."""
    return normalize_unit(unit)
