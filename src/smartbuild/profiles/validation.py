"""Validation helpers shared by the profile schema modules: located, suggestive errors."""

from __future__ import annotations

from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    ModelWrapValidatorHandler,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from smartbuild.model.roles import check_role
from smartbuild.profiles.timespec import format_hhmm, parse_hhmm
from smartbuild.suggest import did_you_mean

Loc = tuple[str | int, ...]


def custom_error(kind: str, message: str) -> PydanticCustomError:
    """Return a pydantic error of type kind whose message is exactly message."""
    # A fixed template keeps braces in user input from being read as format fields.
    return PydanticCustomError(kind, "{message}", {"message": message})


class Errors:
    """Collect several located errors and raise them as one ValidationError."""

    def __init__(self) -> None:
        self.lines: list[InitErrorDetails] = []

    def add(self, loc: Loc, kind: str, message: str, value: object) -> None:
        """Record one error at loc (relative to the model being validated)."""
        self.lines.append(InitErrorDetails(type=custom_error(kind, message), loc=loc, input=value))

    def raise_if_any(self, title: str) -> None:
        """Raise the recorded errors as one ValidationError, if there are any."""
        # A ValidationError raised inside a validator keeps its locs, prefixed by the
        # validator's own location, so cross-field errors point at the offending key.
        if self.lines:
            raise ValidationError.from_exception_data(title, self.lines)


class Closed(BaseModel):
    """A frozen model that rejects unknown keys with a "did you mean" suggestion."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="wrap")
    @classmethod
    def _clear_messages(cls, data: Any, handler: ModelWrapValidatorHandler[Any]) -> Any:
        # Let pydantic report every problem at once, then reword its generic messages
        # for unknown and missing keys of this model.
        try:
            return handler(data)
        except ValidationError as exc:
            known = [f.alias or name for name, f in cls.model_fields.items()]
            errors = Errors()
            for error in exc.errors():
                loc, kind, message = error["loc"], error["type"], error["msg"]
                if kind == "extra_forbidden" and len(loc) == 1:
                    # The type stays extra_forbidden so that loaders locate the key itself.
                    message = f"unknown key '{loc[0]}'.{did_you_mean(str(loc[0]), known)}"
                elif kind == "missing" and len(loc) == 1:
                    message = f"missing required key '{loc[0]}'"
                errors.add(loc, kind, message, error.get("input"))
            errors.raise_if_any(cls.__name__)
            raise


def check_role_name(name: str, *, writable: bool = True) -> str:
    """Return name if it is a known (writable) role, else raise a pydantic error."""
    try:
        check_role(name, writable=writable)
    except ValueError as exc:
        raise custom_error("unknown_role", str(exc)) from None
    return name


def check_time(value: object, *, allow_24: bool = False) -> str:
    """Return value as "HH:MM" if it is a clock time, else raise a pydantic error."""
    try:
        return format_hhmm(parse_hhmm(value, allow_24=allow_24))
    except ValueError as exc:
        raise custom_error("time", str(exc)) from None


def check_order(start: str, end: str, title: str) -> None:
    """Raise a pydantic error located at "to" unless end is after start."""
    if parse_hhmm(end, allow_24=True) <= parse_hhmm(start):
        errors = Errors()
        message = (
            f"window ends at {end}, not after its start {start}; a window over midnight is "
            f"two windows: {start}-24:00 and 00:00-{end} on the next day"
        )
        errors.add(("to",), "inverted_window", message, end)
        errors.raise_if_any(title)


class ClockWindow(Closed):
    """A base for models with `from`/`to` clock times ("HH:MM", `to` may be "24:00")."""

    @field_validator("start", mode="before", check_fields=False)
    @classmethod
    def _start(cls, value: object) -> str:
        return check_time(value)

    @field_validator("end", mode="before", check_fields=False)
    @classmethod
    def _end(cls, value: object) -> str:
        return check_time(value, allow_24=True)
