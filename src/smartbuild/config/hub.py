"""The ``hub:`` block of a site file: which profiles run on which zones, routines, poll intervals."""

from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator, Field

from smartbuild.config.schema import Closed, Name


def _seconds(value: object) -> object:
    """Accept a number of seconds or a duration such as ``90s``, ``15m``, ``2h``."""
    if isinstance(value, str):
        from smartbuild.errors import UsageError
        from smartbuild.timeparse import parse_duration

        try:
            return parse_duration(value)
        except UsageError as error:
            raise ValueError(
                f"{error.message}: write a number and a unit such as 30s, 15m, 2h"
            ) from None
    return value


# seconds, or a duration with its unit; editors are told both forms are fine
Seconds = Annotated[
    float,
    Field(gt=0, le=7 * 86400, allow_inf_nan=False),
    BeforeValidator(_seconds, json_schema_input_type=float | str),
]


class HubSchedule(Closed):
    """A profile the hub runs on its schedule, on the zones given (ids or globs; none: all it selects)."""

    profile: str = Field(min_length=1)
    zones: list[str] = Field(default_factory=list)


class HubPoll(Closed):
    """How often the hub reads points: each point's template interval unless set here."""

    interval: Seconds | None = None  # every point of every device
    devices: dict[Name, Seconds] = Field(default_factory=dict)  # one device's points
    enabled: bool = True


class HubSpec(Closed):
    """What ``smartbuild hub run`` does for this site besides releasing overrides."""

    schedules: list[HubSchedule] = Field(default_factory=list)
    routines: list[Name] = Field(
        default_factory=list
    )  # active routines, by name (run by the routine engine)
    poll: HubPoll = Field(default_factory=HubPoll)
