"""The routine language: closed, frozen pydantic models whose errors carry file:line:col.

A routine says *when* (triggers), *whether* (conditions) and *what* (steps)::

    routine: co2-boost
    triggers: [{point: {role: zone_co2, above: 1200, for: 5m, hysteresis: 100}}]
    conditions: [{time: {from: "07:00", to: "19:00", days: mon-fri}}]
    steps:
      - hold: {role: ventilation_mode, value: boost, for: 30m}
      - event: {message: "CO2 boost in {zone}"}
"""

from __future__ import annotations

import re
import string
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from smartbuild.profiles.timespec import format_days, parse_days
from smartbuild.profiles.validation import (
    ClockWindow,
    Closed,
    Errors,
    check_role_name,
    check_time,
    custom_error,
)

Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", max_length=80)]
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)\s*$")
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
# what a message may name: filled in from the trigger that started the run
PLACEHOLDERS = ("routine", "trigger", "zone", "device", "point", "value", "unit", "time", "run")
Value = bool | int | float | str


def parse_duration(value: object) -> float:
    """Return seconds for 90s, 5m, 2h, 1d or a plain number of seconds; raise ValueError."""
    if isinstance(value, bool):
        raise ValueError(f"duration {value!r} is not a number with a unit (90s, 5m, 2h, 1d)")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ValueError(
                f"duration {value!r} is not a number with a unit: write 90s, 5m, 2h or 1d"
            )
        seconds = float(match[1]) * _UNITS[match[2]]
    if seconds < 0 or seconds > 366 * 86400:
        raise ValueError(f"duration {value!r} is outside 0 s .. 366 d")
    return seconds


def _duration(value: object) -> float:
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise custom_error("duration", str(exc)) from None


Duration = Annotated[float, Field(ge=0)]


def _check_days(value: str) -> str:
    try:
        return format_days(parse_days(value))
    except ValueError as exc:
        raise custom_error("day_spec", str(exc)) from None


class Target(Closed):
    """The points a trigger, condition or step names: by role (optionally in zones) or device.point."""

    role: str | None = None
    point: str | None = None  # "device.point"
    zones: tuple[str, ...] | None = None  # zone ids or globs; only with role

    @field_validator("role")
    @classmethod
    def _role(cls, value: str | None) -> str | None:
        return None if value is None else check_role_name(value, writable=False)

    @field_validator("point")
    @classmethod
    def _point(cls, value: str | None) -> str | None:
        if value is not None and (value.count(".") != 1 or not all(value.split("."))):
            raise custom_error("point_ref", f"point {value!r} is not 'device.point'")
        return value

    @model_validator(mode="after")
    def _one_target(self) -> Target:
        if (self.role is None) == (self.point is None):
            raise custom_error("target", "name exactly one of 'role' or 'point' (device.point)")
        if self.zones is not None and self.point is not None:
            raise custom_error("target", "'zones' selects among the points of a role; "
                               "a device.point needs none")  # fmt: skip
        return self

    def label(self) -> str:
        """Return the target as people read it."""
        if self.point:
            return self.point
        zones = f" in {','.join(self.zones)}" if self.zones else ""
        return f"role {self.role}{zones}"


class Threshold(Target):
    """A point compared with a threshold: above or below (exactly one)."""

    above: float | None = None
    below: float | None = None

    @model_validator(mode="after")
    def _one_side(self) -> Threshold:
        if (self.above is None) == (self.below is None):
            raise custom_error("threshold", "name exactly one of 'above' or 'below'")
        return self


class PointTrigger(Threshold):
    """Fires when a point crosses its threshold and stays there `for` a while.

    It re-arms only after the value comes back by `hysteresis` (below above - hysteresis).
    """

    hysteresis: float = Field(0.0, ge=0)
    for_: Duration = Field(0.0, alias="for")

    _for = field_validator("for_", mode="before")(lambda cls, v: _duration(v))


class QuietTrigger(Target):
    """Fires when the point had no quiet stretch (value at most `at_most` for `for`) `within` a span.

    The water meter makers' leak rule: no hour of zero flow in the last 24 hours.
    """

    at_most: float = 0.0
    for_: Duration = Field(3600.0, alias="for")
    within: Duration = 86400.0

    _durations = field_validator("for_", "within", mode="before")(lambda cls, v: _duration(v))

    @model_validator(mode="after")
    def _span(self) -> QuietTrigger:
        if self.for_ <= 0 or self.within <= self.for_:
            errors = Errors()
            errors.add(("within",), "span", f"'within' ({self.within:g} s) must be longer than "
                       f"'for' ({self.for_:g} s), which must be above 0", self.within)  # fmt: skip
            errors.raise_if_any("QuietTrigger")
        return self


class TimeTrigger(Closed):
    """Fires at a clock time (site time) on the given weekdays."""

    at: str
    days: str = "daily"

    _at = field_validator("at", mode="before")(lambda cls, v: check_time(v))

    _days = field_validator("days")(lambda cls, v: _check_days(v))


def _exactly_one(model: Closed, keys: tuple[str, ...], what: str) -> None:
    given = [k for k in keys if getattr(model, k) is not None]
    if len(given) != 1:
        shown = ", ".join(k.rstrip("_") for k in keys)
        found = f" (found {', '.join(given)})" if given else ""
        raise custom_error(what, f"a {what} takes exactly one of: {shown}{found}")


class TriggerSpec(Closed):
    """One trigger: a clock time, a point threshold, a missing quiet stretch, or hub start."""

    name: str | None = None
    time: TimeTrigger | None = None
    point: PointTrigger | None = None
    no_quiet: QuietTrigger | None = None
    hub_start: Literal[True] | None = None

    @model_validator(mode="after")
    def _one(self) -> TriggerSpec:
        _exactly_one(self, ("time", "point", "no_quiet", "hub_start"), "trigger")
        return self

    def kind(self) -> str:
        """Return which kind of trigger this is."""
        for key in ("time", "point", "no_quiet", "hub_start"):
            if getattr(self, key) is not None:
                return key
        return "?"


class PointCondition(Threshold):
    """A point compared now: above or below (any point of the role, or all with match: all)."""

    match: Literal["any", "all"] = "any"


class ModeCondition(Closed):
    """The schedule mode of a profile now is one of these."""

    profile: str
    is_: tuple[str, ...] = Field(alias="is")

    @field_validator("is_", mode="before")
    @classmethod
    def _listed(cls, value: object) -> object:
        return (value,) if isinstance(value, str) else value


class TimeWindow(ClockWindow):
    """Site time is inside from-to on the given weekdays."""

    start: str = Field(alias="from")
    end: str = Field(alias="to")
    days: str = "daily"

    _days = field_validator("days")(lambda cls, v: _check_days(v))

    @model_validator(mode="after")
    def _order(self) -> TimeWindow:
        from smartbuild.profiles.validation import check_order

        check_order(self.start, self.end, "TimeWindow")
        return self


class ConditionSpec(Closed):
    """One condition; all conditions must hold for a triggered routine to run."""

    point: PointCondition | None = None
    mode: ModeCondition | None = None
    time: TimeWindow | None = None

    @model_validator(mode="after")
    def _one(self) -> ConditionSpec:
        _exactly_one(self, ("point", "mode", "time"), "condition")
        return self


class WriteStep(Target):
    """Write a value to the points named (through the safe write path)."""

    value: Value
    if_present: bool = False  # a site without such a point skips the step instead of failing


class HoldStep(WriteStep):
    """Write a value as an override that the hub releases after `for` (restoring the old value)."""

    for_: Duration = Field(alias="for")

    _for = field_validator("for_", mode="before")(lambda cls, v: _duration(v))

    @field_validator("for_")
    @classmethod
    def _positive(cls, value: float) -> float:
        if value <= 0:
            raise custom_error("duration", "a hold must last longer than 0 s")
        return value


class ApplyStep(Closed):
    """Apply a profile (its targets for now) to some zones."""

    profile: str
    zones: tuple[str, ...] = ()


class ReadStep(Target):
    """Read the points named and record their values in the journal."""

    if_present: bool = False


def _check_message(text: str) -> str:
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(text) if f is not None]
    except ValueError as exc:
        raise custom_error("message", f"message {text!r}: {exc}; write {{{{ for a brace") from None
    for name in fields:
        if name not in PLACEHOLDERS:
            from smartbuild.suggest import did_you_mean

            raise custom_error("message", f"unknown placeholder {{{name}}}."
                               f"{did_you_mean(name, PLACEHOLDERS)} "
                               f"Known: {', '.join(PLACEHOLDERS)}")  # fmt: skip
    return text


class EventStep(Closed):
    """Emit an event (journaled; the MQTT bridge publishes it)."""

    message: str
    level: Literal["info", "warning", "alarm"] = "info"
    data: dict[str, Value] = Field(default_factory=dict)

    _message = field_validator("message")(lambda cls, v: _check_message(v))


class StepSpec(Closed):
    """One step; steps run in order."""

    name: str | None = None
    write: WriteStep | None = None
    hold: HoldStep | None = None
    apply: ApplyStep | None = None
    wait: Duration | None = None
    read: ReadStep | None = None
    event: EventStep | None = None

    _wait = field_validator("wait", mode="before")(
        lambda cls, v: None if v is None else _duration(v)
    )

    @model_validator(mode="after")
    def _one(self) -> StepSpec:
        _exactly_one(self, STEP_KINDS, "step")
        return self

    def kind(self) -> str:
        """Return which kind of step this is."""
        return next(k for k in STEP_KINDS if getattr(self, k) is not None)


STEP_KINDS = ("write", "hold", "apply", "wait", "read", "event")


class Routine(Closed):
    """A routine: triggers, conditions, steps, and what to do when a step fails."""

    routine: Name
    title: str | None = None
    enabled: bool = True
    triggers: tuple[TriggerSpec, ...] = ()  # none: run by hand (`smartbuild routine run`) only
    conditions: tuple[ConditionSpec, ...] = ()
    steps: tuple[StepSpec, ...] = Field(min_length=1)
    on_error: Literal["stop", "continue"] = "stop"
    cooldown: Duration = 0.0  # at least this long between two runs on triggers

    _cooldown = field_validator("cooldown", mode="before")(lambda cls, v: _duration(v))

    def points_needed(self) -> list[Target]:
        """Return the targets the triggers and conditions watch."""
        out: list[Target] = []
        for t in self.triggers:
            if t.point is not None:
                out.append(t.point)
            if t.no_quiet is not None:
                out.append(t.no_quiet)
        out += [c.point for c in self.conditions if c.point is not None]
        return out

    def summary(self) -> dict[str, Any]:
        """Return what the routine does, briefly (for `routine list`)."""
        return {
            "routine": self.routine,
            "title": self.title,
            "enabled": self.enabled,
            "triggers": [describe_trigger(t) for t in self.triggers],
            "conditions": len(self.conditions),
            "steps": [s.kind() for s in self.steps],
            "on_error": self.on_error,
        }


def describe_trigger(t: TriggerSpec) -> str:
    """Return a trigger in a few words."""
    if t.time is not None:
        return f"at {t.time.at} {t.time.days}"
    if t.point is not None:
        p = t.point
        side = f"above {p.above:g}" if p.above is not None else f"below {p.below:g}"
        held = f" for {p.for_:g} s" if p.for_ else ""
        return f"{p.label()} {side}{held}"
    if t.no_quiet is not None:
        q = t.no_quiet
        return f"{q.label()}: no {q.for_:g} s at most {q.at_most:g} within {q.within:g} s"
    return "hub start"
