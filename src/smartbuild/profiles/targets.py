"""Target values a profile gives a role: a number, "16 °C", comfort.low, or {offset: -2}."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from pydantic import BaseModel, ConfigDict, WithJsonSchema

from smartbuild.model.quantity import NotANumber, parse_quantity
from smartbuild.model.roles import Role, check_offset, check_plausible

if TYPE_CHECKING:
    from smartbuild.profiles.comfort import ComfortBand

COMFORT_REFS: tuple[str, ...] = ("low", "high", "co2_max")
_REF_UNITS = {"low": "°C", "high": "°C", "co2_max": "ppm"}


class Target(BaseModel):
    """What a profile wants a role to be; resolved against a comfort band when planned.

    An offset is relative to a comfort reference, never to the current value, so that
    planning twice gives the same target instead of drifting a little on every apply.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    value: float | None = None  # absolute value in the role's unit
    ref: str | None = None  # "low" | "high" | "co2_max" (comfort.<ref>)
    offset: float = 0.0
    text: str  # how the profile wrote it, for plan reasons

    def resolve(self, band: ComfortBand | None) -> float | None:
        """Return the target value, or None when the comfort reference has no value."""
        if self.ref is None:
            return self.value
        base = band.value(self.ref) if band is not None else None
        return None if base is None else round(base + self.offset, 6)


# What editors should accept where a profile gives a target (the YAML form, not the model).
TARGET_JSON_SCHEMA: dict[str, object] = {
    "description": "a number, a number with its unit ('16 °C'), true/false, "
    "comfort.low / comfort.high / comfort.co2_max, or {offset: n, base: comfort.<ref>}",
    "anyOf": [
        {"type": "number"},
        {"type": "boolean"},
        {"type": "string"},
        {
            "type": "object",
            "properties": {
                "offset": {"type": "number"},
                "base": {"enum": [f"comfort.{ref}" for ref in COMFORT_REFS]},
            },
            "required": ["offset"],
            "additionalProperties": False,
        },
    ],
}
TargetInput = Annotated[Target, WithJsonSchema(TARGET_JSON_SCHEMA)]


def _ref(text: str, role: Role) -> str:
    name = text.removeprefix("comfort.")
    if name not in COMFORT_REFS:
        choices = ", ".join(f"comfort.{r}" for r in COMFORT_REFS)
        raise ValueError(f"unknown comfort reference '{text}' (use {choices})")
    if _REF_UNITS[name] != role.unit:
        raise ValueError(f"'{text}' is in {_REF_UNITS[name]} but {role.name} is in {role.unit}")
    return name


def _number(raw: float | bool | str, role: Role) -> float:
    if isinstance(raw, bool):
        if role.unit != "bool":
            raise ValueError(f"{role.name} takes a number in {role.unit}, not {raw!r}")
        return 1.0 if raw else 0.0
    if isinstance(raw, (int, float)):
        number = float(raw)
    else:
        try:
            number = parse_quantity(raw, role.unit)
        except NotANumber as exc:
            raise ValueError(
                f"{exc} ({role.name} takes a number{_unit_hint(role)}, comfort.low/high/co2_max "
                "or {offset: n})"
            ) from None
    if role.unit == "bool" and number not in (0.0, 1.0):
        raise ValueError(f"{role.name} is on/off: use true/false")
    if role.unit == "enum" and not number.is_integer():
        raise ValueError(f"{role.name} takes a whole-number device code, not {number:g}")
    check_plausible(role, number)
    return number


def _unit_hint(role: Role) -> str:
    return "" if role.unit in ("bool", "enum") else f" in {role.unit}"


def parse_target(raw: object, role: Role) -> Target:
    """Return the Target for a raw YAML value given to a role, or raise ValueError."""
    if isinstance(raw, str) and raw.strip().startswith("comfort."):
        return Target(ref=_ref(raw.strip(), role), text=raw.strip())
    if isinstance(raw, (bool, int, float, str)):
        value = _number(raw, role)
        return Target(value=value, text=str(raw).lower() if isinstance(raw, bool) else str(raw))
    if isinstance(raw, dict):
        unknown = sorted(str(k) for k in raw if k not in ("offset", "base"))
        if unknown:
            raise ValueError(f"unknown key '{unknown[0]}' in an offset (use offset and base)")
        offset = raw.get("offset")
        if isinstance(offset, bool) or not isinstance(offset, (int, float)):
            raise ValueError(f"offset of {role.name} must be a number, got {offset!r}")
        base = raw.get("base", f"comfort.{role.comfort_ref}" if role.comfort_ref else None)
        if not isinstance(base, str):
            raise ValueError(
                f"an offset on {role.name} needs a base: comfort.low, comfort.high or "
                "comfort.co2_max (offsets never apply to the current value)"
            )
        ref = _ref(base, role)
        check_offset(role, float(offset))
        return Target(ref=ref, offset=float(offset), text=f"{base} {float(offset):+g}")
    raise ValueError(f"{raw!r} is not a value for {role.name}")
