"""Optimal start and staggered recovery in the profile schema: `optimal_start:` and `recovery:`."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, WithJsonSchema, field_validator

from smartbuild.profiles.validation import Closed, custom_error

# Stored as seconds; written as a duration ("3h", "90m"), which is what editors should offer.
Duration = Annotated[
    float, WithJsonSchema({"type": "string", "description": "a duration such as 90m or 3h"})
]
MIN_LEAD_S = 15 * 60
MAX_LEAD_S = 12 * 3600


def _seconds(value: object, what: str, low: float, high: float) -> float:
    """Return seconds for "3h", "90m" or "1800s", within low..high."""
    from smartbuild.errors import UsageError
    from smartbuild.timeparse import parse_duration

    if isinstance(value, (int, float)) and not isinstance(value, bool):
        raise custom_error("duration", f"{what} {value!r} needs a unit: write e.g. {value}m or 3h")
    try:
        seconds = parse_duration(str(value))
    except UsageError:
        raise custom_error(
            "duration", f"{what} {value!r} is not a duration such as 3h or 90m"
        ) from None
    if not low <= seconds <= high:
        raise custom_error(
            "duration", f"{what} {value!r} must lie between {low / 60:g} min and {high / 3600:g} h"
        )
    return seconds


class OptimalStart(Closed):
    """Start recovery from setback per zone so that the zone is comfortable when the mode starts.

    `max_lead` caps how early recovery may start; until a zone has `min_history` recoveries of
    its own, it starts at the conservative default rate. `modes` limits which modes are
    recovered for (default: every mode that heats higher or cools lower than the current one).
    """

    max_lead: Duration = 3 * 3600.0  # seconds
    margin: Duration = 10 * 60.0  # seconds added to every lead
    min_history: int = Field(3, ge=1, le=50)
    modes: tuple[str, ...] | None = None

    @field_validator("max_lead", mode="before")
    @classmethod
    def _max_lead(cls, value: object) -> float:
        return _seconds(value, "max_lead", MIN_LEAD_S, MAX_LEAD_S)

    @field_validator("margin", mode="before")
    @classmethod
    def _margin(cls, value: object) -> float:
        return _seconds(value, "margin", 0, 3600)


class Recovery(Closed):
    """How zones recover together: `stagger` spreads their starts under a site power limit.

    The limit is `limit_kw`, else the profile's `energy.peak_limit_kw`, else the peak the site
    had without recoveries (the constant-setpoint peak, learned from its readings).
    """

    stagger: bool = False
    limit_kw: float | None = Field(None, gt=0)
