"""Health checks of the host and the files smartbuild needs: a status, what was seen, the fix."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class CheckStatus(str, enum.Enum):
    """How a check came out: ok, a warning (works, with a limit) or a failure (will not work)."""

    OK = "ok"
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True)
class Check:
    """One finding of `smartbuild doctor`: its area and name, status, summary and the fix."""

    area: str  # "core", or the transport family that owns the check ("ble", "modbus", ...)
    name: str  # a stable id, e.g. "journal", "bluez", "mdns-port"
    status: CheckStatus
    summary: str
    fix: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """Return the check as JSON-ready data."""
        return {
            "area": self.area,
            "name": self.name,
            "status": self.status.value,
            "summary": self.summary,
            "fix": self.fix,
            "details": self.details,
        }


def ok(area: str, name: str, summary: str, **details: Any) -> Check:
    """Return a passing check."""
    return Check(area, name, CheckStatus.OK, summary, None, details)


def warn(area: str, name: str, summary: str, fix: str, **details: Any) -> Check:
    """Return a warning with its fix."""
    return Check(area, name, CheckStatus.WARN, summary, fix, details)


def fail(area: str, name: str, summary: str, fix: str, **details: Any) -> Check:
    """Return a failure with its fix."""
    return Check(area, name, CheckStatus.FAIL, summary, fix, details)


def problem(used: bool, area: str, name: str, summary: str, fix: str, **details: Any) -> Check:
    """Return a failure when the site relies on it (used), else a warning."""
    return (fail if used else warn)(area, name, summary, fix, **details)
