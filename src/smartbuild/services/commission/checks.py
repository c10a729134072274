"""The vocabulary of a commissioning run: options, one check, and the counts of a report."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

PASS, FAIL, NA = "pass", "fail", "n/a"
STATUSES = (PASS, FAIL, NA)
FORMAT = "smartbuild-commission/1"
# A request this close to its timeout is one jitter away from timing out: report the link slow.
SLOW_SHARE = 0.8


@dataclass(frozen=True)
class CommissionOptions:
    """What to commission and how: the CLI's flags as data."""

    devices: Sequence[str] = ()
    zones: Sequence[str] = ()
    write_test: bool = False
    trend_s: float = 0.0
    trend_interval_s: float | None = None  # None: about 30 samples over the trend
    rounds: int = 3  # reads per device for the latency figures
    concurrency: int = 16  # devices read at once
    max_p95_ms: float | None = None  # per request; None: SLOW_SHARE of each device's timeout
    profiles: Sequence[str] = ()  # none: every profile in the site's profile directories
    at: str | None = None  # the moment profiles are planned for (default: now)
    installer: str | None = None


@dataclass(frozen=True)
class Check:
    """One commissioning check: what was checked, pass/fail/n-a, and why."""

    category: str  # identity, point, setpoints, communication, write-test, plan
    subject: str  # device, device.point, or profile
    status: str
    reason: str
    device: str | None = None
    point: str | None = None
    expected: Any = None
    actual: Any = None

    def to_json(self) -> dict[str, Any]:
        """Return the check as JSON-ready data."""
        return asdict(self)


@dataclass
class Progress:
    """What a face sees while a run goes on (and after Ctrl-C): the phase and the restore."""

    phase: str = "starting"
    run: str | None = None
    restore_run: str | None = None
    restored: list[str] = field(default_factory=list)
    not_restored: list[str] = field(default_factory=list)

    def say(self, phase: str) -> None:
        """Record the phase the run is in."""
        self.phase = phase


def summarize(checks: Iterable[Check]) -> dict[str, Any]:
    """Return the pass/fail/n-a counts and the overall result."""
    counts = dict.fromkeys(STATUSES, 0)
    for check in checks:
        counts[check.status] += 1
    total = sum(counts.values())
    return {**counts, "total": total, "result": FAIL if counts[FAIL] else PASS}


def by_category(checks: Iterable[Check]) -> dict[str, dict[str, int]]:
    """Return the pass/fail/n-a counts of each category, in the order they first appear."""
    out: dict[str, dict[str, int]] = {}
    for check in checks:
        out.setdefault(check.category, dict.fromkeys(STATUSES, 0))[check.status] += 1
    return out
