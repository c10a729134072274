"""What a write asks for and what became of it: one outcome vocabulary for every face.

The outcomes (docs/safety.md has the table):

- ``written``: sent, read back and verified again after the settle time;
- ``unchanged``: the device already held the value (at its resolution): nothing sent;
- ``refused``: nothing sent (bounds, read-only, not representable, unreadable before, lease held);
- ``rejected``: the device answered with an exception: known not applied;
- ``unknown``: sent, but no answer came (or no read-back): the device may or may not hold it;
- ``reverted``: written, but after settling the device holds another value;
- ``conflict``: rollback or release found a value someone else wrote since: left as it is;
- ``overridden``: sent and held by the device, but a higher-priority writer governs the point
  (BACnet: ``overridden by priority N``); it takes effect when that writer releases it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from smartbuild.model.device import Device


class WriteStatus(str, enum.Enum):
    """The outcome of one write (also the journal entry kind that records it)."""

    WRITTEN = "written"
    UNCHANGED = "unchanged"
    REFUSED = "refused"
    REJECTED = "rejected"
    UNKNOWN = "unknown"
    REVERTED = "reverted"
    CONFLICT = "conflict"
    OVERRIDDEN = "overridden"

    def __str__(self) -> str:
        return self.value

    @property
    def sent(self) -> bool:
        """Return True when a frame went to the device (it may hold the new value)."""
        return self in (
            WriteStatus.WRITTEN, WriteStatus.UNKNOWN, WriteStatus.REVERTED, WriteStatus.OVERRIDDEN
        )  # fmt: skip

    @property
    def ok(self) -> bool:
        """Return True when the device holds what was asked for."""
        return self in (WriteStatus.WRITTEN, WriteStatus.UNCHANGED)


@dataclass(frozen=True)
class WriteRequest:
    """One value to write, and why."""

    device: Device
    point: str
    target: Any
    reason: str | None = None
    expect_before: Any = None  # rollback and release: the value the device must still hold
    check_expect: bool = False
    undo: bool = False  # rollback and release: the transport may release the point instead


@dataclass(frozen=True)
class WriteOutcome:
    """What happened to one WriteRequest."""

    device: str
    point: str
    status: WriteStatus
    before: Any = None
    requested: Any = None
    after: Any = None
    message: str | None = None
    cause: str | None = None  # refused or conflict: bounds, unreachable, lease, conflict

    def to_json(self) -> dict[str, Any]:
        """Return JSON-ready data."""
        return {
            "device": self.device,
            "point": self.point,
            "status": self.status.value,
            "before": self.before,
            "requested": self.requested,
            "after": self.after,
            "message": self.message,
            "cause": self.cause,
        }
