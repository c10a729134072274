"""Events: what happened, recorded by the journal first and then seen by observers."""

from __future__ import annotations

import os
import secrets
import time
from dataclasses import asdict, dataclass, field
from typing import Any


def new_run_id() -> str:
    """Return a new run id: short, random, easy to type (prefixes are accepted)."""
    return secrets.token_hex(4)


@dataclass(frozen=True)
class Event:
    """Something that happened: observed by track_event hooks (the journal is one)."""

    kind: str  # run-started, run-finished, discovered, planned, intent, written, verified, ...
    run_id: str
    device: str | None = None
    point: str | None = None
    before: Any = None
    requested: Any = None
    after: Any = None
    verified: bool | None = None
    message: str | None = None
    plugin: str | None = None
    plugin_version: str | None = None
    data: dict[str, Any] | None = None
    time: float = field(default_factory=time.time)

    def to_json(self) -> dict[str, Any]:
        """Return the event as JSON-ready data."""
        return asdict(self)


def run_started(
    run_id: str,
    command: str,
    *,
    profile_path: str | None = None,
    profile_sha256: str | None = None,
    dry_run: bool = False,
    expires: float | None = None,
    parent_run: str | None = None,
    kind: str = "run",
) -> Event:
    """Return the event that opens a run in the journal."""
    import getpass
    import socket

    try:
        user = getpass.getuser()
    except Exception:  # no passwd entry in some containers
        user = str(os.getuid()) if hasattr(os, "getuid") else "unknown"
    return Event(
        "run-started",
        run_id,
        data={
            "command": command,
            "user": user,
            "host": socket.gethostname(),
            "profile_path": profile_path,
            "profile_sha256": profile_sha256,
            "dry_run": dry_run,
            "expires": expires,
            "parent_run": parent_run,
            "kind": kind,
        },
    )
