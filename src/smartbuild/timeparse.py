"""Parse the time expressions people type: durations (``90s``, ``15m``, ``2h``) and moments."""

from __future__ import annotations

import re
import time
from datetime import datetime

from smartbuild.errors import UsageError

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")


def parse_duration(text: str) -> float:
    """Return seconds for a duration such as ``90s``, ``15m``, ``2h``, ``3d`` or ``1w``."""
    match = _DURATION.match(text)
    if not match:
        raise UsageError(
            f"invalid duration {text!r}", hint="write a number and a unit: 90s, 15m, 2h, 3d, 1w"
        )
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_since(text: str, *, now: float | None = None) -> float:
    """Return an epoch time for ``2h`` (ago) or an ISO date/time such as ``2026-11-29 08:00``."""
    if _DURATION.match(text):
        return (time.time() if now is None else now) - parse_duration(text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(
            f"invalid time {text!r}",
            hint="use a duration (2h, 3d) or an ISO time (2026-11-29 08:00)",
        ) from None
    return moment.timestamp()
