"""The profile schema: closed, frozen pydantic models whose errors carry precise locations.

Schedule and energy sub-models live in schedule_spec.py and energy_spec.py and are
re-exported here, so `from smartbuild.profiles.schema import ...` is the one import.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator

from smartbuild.errors import ConfigError, Problem
from smartbuild.model.roles import ROLES, check_role
from smartbuild.profiles import comfort as comfort_data
from smartbuild.profiles.energy_spec import EnergySpec, Preheat, ShedStep, Tariff, TariffZone
from smartbuild.profiles.recovery_spec import OptimalStart, Recovery
from smartbuild.profiles.schedule_spec import ExceptionSpec, ScheduleSpec, Window
from smartbuild.profiles.targets import Target, TargetInput, parse_target
from smartbuild.profiles.timespec import parse_month_day
from smartbuild.profiles.validation import Closed, Errors, check_role_name, custom_error
from smartbuild.suggest import did_you_mean

RECOVERY_ROLES = frozenset({"heating_setpoint", "cooling_setpoint"})

__all__ = [
    "AppliesTo",
    "ComfortSpec",
    "EnergySpec",
    "ExceptionSpec",
    "MonthDayRange",
    "OptimalStart",
    "Preheat",
    "Profile",
    "Recovery",
    "ScheduleSpec",
    "SeasonSpec",
    "ShedStep",
    "Target",
    "Tariff",
    "TariffZone",
    "Window",
    "load_profile_text",
    "problems_from",
    "validate_profile",
]


class AppliesTo(Closed):
    """Which zones a profile applies to: each given key must match (AND), any listed value."""

    zones: tuple[str, ...] | None = None  # zone ids or globs ("f1-*")
    tags: tuple[str, ...] | None = None
    buildings: tuple[str, ...] | None = None
    floors: tuple[int | str, ...] | None = None


class MonthDayRange(Closed):
    """An inclusive "MM-DD" range that may wrap over new year (heating 10-01 to 04-30)."""

    start: str = Field(alias="from")
    end: str = Field(alias="to")

    @field_validator("start", "end", mode="before")
    @classmethod
    def _month_day(cls, value: object) -> str:
        try:
            month, day = parse_month_day(value)
        except ValueError as exc:
            raise custom_error("month_day", str(exc)) from None
        return f"{month:02d}-{day:02d}"

    @property
    def start_md(self) -> tuple[int, int]:
        """Return the start as (month, day)."""
        return parse_month_day(self.start)

    @property
    def end_md(self) -> tuple[int, int]:
        """Return the end as (month, day)."""
        return parse_month_day(self.end)


class SeasonSpec(Closed):
    """When the heating season is: by dates, or by outdoor temperature below a threshold."""

    heating: MonthDayRange | None = None
    outdoor_point: str | None = None
    threshold: float = 15.0

    @field_validator("outdoor_point")
    @classmethod
    def _outdoor(cls, value: str | None) -> str | None:
        return None if value is None else _celsius_measurement(value)

    @model_validator(mode="after")
    def _one_way(self) -> SeasonSpec:
        if "threshold" in self.model_fields_set and self.outdoor_point is None:
            raise custom_error("season", "threshold needs outdoor_point (the role it applies to)")
        if (self.heating is None) == (self.outdoor_point is None):
            raise custom_error(
                "season",
                "season needs either heating: {from: MM-DD, to: MM-DD} or outdoor_point "
                "(with threshold), not both",
            )
        return self


def _celsius_measurement(name: str) -> str:
    check_role_name(name, writable=False)
    if ROLES[name].unit != "°C" or ROLES[name].writable:
        raise custom_error("unknown_role", f"'{name}' is not an outdoor temperature measurement")
    return name


def _roman(value: object) -> object:
    return (
        {1: "I", 2: "II", 3: "III", 4: "IV"}.get(value, value) if isinstance(value, int) else value
    )


class ComfortSpec(Closed):
    """Which comfort standard and category give comfort.low / high / co2_max."""

    standard: str
    category: str | None = Field(None, validate_default=True)  # EN 16798-1: I-IV (default II)
    acceptability: int | None = Field(None, validate_default=True)  # ASHRAE 55: 80 or 90
    season: SeasonSpec | None = None  # static EN 16798-1 only
    outdoor_point: str | None = None  # adaptive only (default outdoor_running_mean_temperature)

    @field_validator("standard")
    @classmethod
    def _standard(cls, value: str) -> str:
        if value not in comfort_data.STANDARDS:
            names = ", ".join(comfort_data.STANDARDS)
            hint = did_you_mean(value, comfort_data.STANDARDS) or f" Known: {names}."
            raise custom_error("unknown_standard", f"unknown comfort standard '{value}'.{hint}")
        return value

    @field_validator("category", mode="before")
    @classmethod
    def _category(cls, value: object, info: ValidationInfo) -> object:
        standard = info.data.get("standard")
        if standard is None:
            return value
        if standard == "ashrae55-adaptive":
            if value is not None:
                raise custom_error(
                    "category", "ashrae55-adaptive has no categories: use acceptability: 80|90"
                )
            return None
        value = "II" if value is None else _roman(value)
        levels = comfort_data.levels(standard)
        if value not in levels:
            raise custom_error(
                "category",
                f"category '{value}' does not exist for {standard} (use {', '.join(levels)})",
            )
        return value

    @field_validator("acceptability", mode="before")
    @classmethod
    def _acceptability(cls, value: object, info: ValidationInfo) -> object:
        standard = info.data.get("standard")
        if standard is None:
            return value
        if standard != "ashrae55-adaptive":
            if value is not None:
                raise custom_error("acceptability", f"{standard} uses category, not acceptability")
            return None
        value = 80 if value is None else value
        if value not in (80, 90):
            raise custom_error("acceptability", f"acceptability {value!r} must be 80 or 90 (%)")
        return value

    @field_validator("season")
    @classmethod
    def _season(cls, value: SeasonSpec | None, info: ValidationInfo) -> SeasonSpec | None:
        if value is not None and info.data.get("standard", "en16798-1") != "en16798-1":
            raise custom_error(
                "season", "adaptive models follow the outdoor temperature: no season"
            )
        return value

    @field_validator("outdoor_point")
    @classmethod
    def _outdoor(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and info.data.get("standard") == "en16798-1":
            raise custom_error(
                "outdoor_point", "outdoor_point is for adaptive standards; see season"
            )
        return None if value is None else _celsius_measurement(value)

    @property
    def level(self) -> str:
        """Return the category ("II") or acceptability ("80") as text."""
        return self.category or str(self.acceptability)


class Profile(Closed):
    """A building profile: which zones, comfort standard, modes, schedule and energy rules."""

    profile: str = Field(min_length=1)
    title: str | None = None
    description: str | None = None
    applies_to: AppliesTo = Field(default_factory=AppliesTo)
    comfort: ComfortSpec | None = None
    modes: dict[str, dict[str, TargetInput]]
    deadband: dict[str, float] = Field(default_factory=dict)
    schedule: ScheduleSpec
    energy: EnergySpec | None = None
    optimal_start: OptimalStart | None = None
    recovery: Recovery | None = None

    @field_validator("modes", mode="before")
    @classmethod
    def _modes(cls, raw: object, info: ValidationInfo) -> object:
        if not isinstance(raw, Mapping):
            return raw  # pydantic reports the type error
        comfort_known = "comfort" in info.data  # absent when the comfort block was invalid
        spec: ComfortSpec | None = info.data.get("comfort")
        errors = Errors()
        modes: dict[str, dict[str, Target] | object] = {}
        for mode, targets in raw.items():
            if not isinstance(targets, Mapping):
                modes[mode] = targets
                continue
            parsed: dict[str, Target] = {}
            for role, value in targets.items():
                loc = (str(mode), str(role))
                try:
                    role_info = check_role(str(role), writable=True)
                except ValueError as exc:
                    errors.add(loc, "unknown_role", str(exc), role)
                    continue
                try:
                    target = parse_target(value, role_info)
                except ValueError as exc:
                    errors.add(loc, "target", str(exc), value)
                    continue
                if target.ref is not None and comfort_known:
                    if spec is None:
                        message = f"'{target.text}' needs a comfort: block (standard, category)"
                        errors.add(loc, "comfort_missing", message, value)
                    elif target.ref == "co2_max" and not comfort_data.defines_co2(spec.standard):
                        message = (
                            f"{spec.standard} sets no CO2 limit, so comfort.co2_max is undefined"
                        )
                        errors.add(loc, "comfort_missing", message, value)
                parsed[str(role)] = target
            modes[mode] = parsed
        errors.raise_if_any("Profile")
        return modes

    @field_validator("deadband", mode="before")
    @classmethod
    def _deadband(cls, raw: object) -> object:
        if not isinstance(raw, Mapping):
            return raw
        errors = Errors()
        for role, value in raw.items():
            try:
                check_role(str(role), writable=True)
            except ValueError as exc:
                errors.add((str(role),), "unknown_role", str(exc), role)
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                errors.add(
                    (str(role),), "deadband", f"deadband {value!r} must be a number >= 0", value
                )
        errors.raise_if_any("Profile")
        return raw

    @field_validator("schedule")
    @classmethod
    def _modes_defined(cls, schedule: ScheduleSpec, info: ValidationInfo) -> ScheduleSpec:
        modes = info.data.get("modes")
        if modes is None:
            return schedule
        errors = Errors()
        for loc, name in schedule.mode_names():
            if name not in modes:
                known = ", ".join(modes) or "none"
                message = f"mode '{name}' is not defined in modes.{did_you_mean(name, modes)}"
                errors.add(loc, "unknown_mode", f"{message} Defined: {known}", name)
        errors.raise_if_any("Profile")
        return schedule

    @field_validator("energy")
    @classmethod
    def _shed_roles_have_normal_values(
        cls, energy: EnergySpec | None, info: ValidationInfo
    ) -> EnergySpec | None:
        # A shed role with no scheduled value would stay shed after the peak has passed.
        modes = info.data.get("modes")
        if energy is None or modes is None:
            return energy
        errors = Errors()
        for index, step in enumerate(energy.shed):
            missing = [name for name, targets in modes.items() if step.role not in targets]
            if missing:
                message = (
                    f"'{step.role}' is not set by mode(s) {', '.join(missing)}: shedding needs "
                    "a scheduled value to return to after the peak"
                )
                errors.add(("shed", index, "role"), "shed_role", message, step.role)
        errors.raise_if_any("Profile")
        return energy

    @field_validator("optimal_start")
    @classmethod
    def _optimal_start(cls, spec: OptimalStart | None, info: ValidationInfo) -> OptimalStart | None:
        modes = info.data.get("modes")
        if spec is None or modes is None:
            return spec
        errors = Errors()
        if not any(RECOVERY_ROLES & set(targets) for targets in modes.values()):
            message = "optimal_start needs a mode that sets heating_setpoint or cooling_setpoint"
            errors.add((), "optimal_start", message, None)
        for index, name in enumerate(spec.modes or ()):
            if name not in modes:
                message = f"mode '{name}' is not defined in modes.{did_you_mean(name, modes)}"
                errors.add(("modes", index), "unknown_mode", message, name)
        errors.raise_if_any("Profile")
        return spec

    @field_validator("recovery")
    @classmethod
    def _recovery(cls, spec: Recovery | None, info: ValidationInfo) -> Recovery | None:
        if spec is not None and "optimal_start" in info.data and info.data["optimal_start"] is None:
            raise custom_error(
                "recovery",
                "recovery needs optimal_start: it spreads the starts optimal start plans",
            )
        return spec

    def read_roles(self) -> frozenset[str]:
        """Return every role a plan reads: those it sets, the meter, and optimal start's inputs."""
        roles = set(self.roles())
        if self.energy is not None:
            roles.add(self.energy.meter_role)
        if self.optimal_start is not None:
            roles.update(("zone_air_temperature", "outdoor_temperature", "site_active_power"))
        return frozenset(roles)

    def roles(self) -> frozenset[str]:
        """Return every role any mode of the profile sets."""
        return frozenset(role for targets in self.modes.values() for role in targets)


def problems_from(exc: ValidationError, *, file: str | None = None) -> list[Problem]:
    """Return one Problem per pydantic error, with the dotted path of its loc (no line yet)."""
    return [
        Problem(
            message=error["msg"],
            file=file,
            path=".".join(str(part) for part in error["loc"]),
        )
        for error in exc.errors()
    ]


def validate_profile(data: object, *, file: str | None = None) -> Profile:
    """Return the Profile for parsed YAML data, or raise ConfigError listing every problem."""
    try:
        return Profile.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(problems_from(exc, file=file)) from None


def load_profile_text(text: str, *, file: str | None = None) -> Profile:
    """Parse YAML text with yaml.safe_load and validate it as a profile."""
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(Problem(f"not valid YAML: {exc}", file=file)) from None
    return validate_profile(data, file=file)
