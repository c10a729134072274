"""Energy part of the profile schema: tariff, peak limit with shed steps, pre-heating."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from smartbuild.model.roles import ROLES, check_offset
from smartbuild.profiles.targets import TargetInput, parse_target
from smartbuild.profiles.timespec import parse_days
from smartbuild.profiles.validation import (
    ClockWindow,
    Closed,
    Errors,
    check_order,
    check_role_name,
    custom_error,
)


class TariffZone(ClockWindow):
    """A price on some weekdays between two clock times."""

    days: str = "daily"
    start: str = Field("00:00", alias="from")
    end: str = Field("24:00", alias="to")
    price: float

    @field_validator("days")
    @classmethod
    def _days(cls, value: str) -> str:
        try:
            parse_days(value)
        except ValueError as exc:
            raise custom_error("day_spec", str(exc)) from None
        return value

    @model_validator(mode="after")
    def _order(self) -> TariffZone:
        check_order(self.start, self.end, "TariffZone")
        return self


class Tariff(Closed):
    """Energy price: a default and time-of-use zones; where zones overlap the last one wins."""

    default: float = Field(None, validate_default=True)  # required; checked for a clear message
    currency: str | None = None
    zones: tuple[TariffZone, ...] = ()

    @field_validator("default", mode="before")
    @classmethod
    def _default(cls, value: object) -> object:
        if value is None:
            raise custom_error(
                "tariff_default", "tariff needs a default price (used outside all zones)"
            )
        return value


class ShedStep(Closed):
    """One peak-shedding step: set a role to a value, or offset its scheduled target."""

    role: str
    to: TargetInput | None = None
    offset: float | None = None

    @field_validator("role")
    @classmethod
    def _writable(cls, value: str) -> str:
        return check_role_name(value)

    @field_validator("to", mode="before")
    @classmethod
    def _to(cls, value: object, info: ValidationInfo) -> object:
        if value is None or "role" not in info.data:
            return value
        try:
            return parse_target(value, ROLES[info.data["role"]])
        except ValueError as exc:
            raise custom_error("target", str(exc)) from None

    @model_validator(mode="after")
    def _one(self) -> ShedStep:
        if (self.to is None) == (self.offset is None):
            raise custom_error(
                "shed_step", f"shed step for {self.role} needs either to: or offset:"
            )
        if self.offset is not None:
            try:
                check_offset(ROLES[self.role], self.offset)
            except ValueError as exc:
                raise custom_error("shed_step", str(exc)) from None
        return self


class Preheat(Closed):
    """Offset roles during the minutes before the price rises above a threshold."""

    minutes: int = Field(gt=0, le=24 * 60)
    before_price_above: float
    offset: float
    roles: tuple[str, ...] = ("heating_setpoint",)

    @field_validator("roles")
    @classmethod
    def _roles(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        errors = Errors()
        for index, name in enumerate(value):
            try:
                check_role_name(name)
            except PydanticCustomError as exc:
                errors.add((index,), "unknown_role", exc.message(), name)
        errors.raise_if_any("Preheat")
        return value


class EnergySpec(Closed):
    """Tariff, peak limit with ordered shed steps, and pre-heating before expensive periods."""

    tariff: Tariff | None = None
    # "auto": the site's peak without setbacks, as its history (or the caller) knows it
    peak_limit_kw: float | Literal["auto"] | None = None
    # Keep shed steps that are already in place until the meter drops below this (hysteresis).
    release_below_kw: float | None = Field(None, gt=0)
    meter_role: str = "site_active_power"
    shed: tuple[ShedStep, ...] = ()
    preheat: Preheat | None = None

    @field_validator("meter_role")
    @classmethod
    def _meter(cls, value: str) -> str:
        check_role_name(value, writable=False)
        if ROLES[value].unit != "kW" or ROLES[value].writable:
            raise custom_error(
                "unknown_role", f"meter_role '{value}' must be a power reading in kW"
            )
        return value

    @field_validator("peak_limit_kw", mode="before")
    @classmethod
    def _limit(cls, value: object) -> object:
        if value is None or value == "auto":
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise custom_error(
                "peak_limit", f"peak_limit_kw {value!r} must be a number of kW > 0 or 'auto'"
            )
        return float(value)

    @field_validator("release_below_kw")
    @classmethod
    def _release(cls, value: float | None, info: ValidationInfo) -> float | None:
        limit = info.data.get("peak_limit_kw")
        if value is not None and limit == "auto":
            raise custom_error(
                "release", "with peak_limit_kw: auto shedding releases at 80 % of the limit"
            )
        if value is not None and (limit is None or value >= limit):
            raise custom_error("release", f"release_below_kw must be below peak_limit_kw ({limit})")
        return value

    @field_validator("shed")
    @classmethod
    def _shed(cls, value: tuple[ShedStep, ...], info: ValidationInfo) -> tuple[ShedStep, ...]:
        if value and info.data.get("peak_limit_kw") is None and "peak_limit_kw" in info.data:
            raise custom_error("shed", "shed steps need peak_limit_kw")
        return value

    @field_validator("preheat")
    @classmethod
    def _preheat(cls, value: Preheat | None, info: ValidationInfo) -> Preheat | None:
        if value is not None and info.data.get("tariff") is None and "tariff" in info.data:
            raise custom_error("preheat", "preheat needs a tariff to know when prices rise")
        return value
