"""``hub status`` from another terminal: a JSON file in the home directory, replaced atomically.

A file rather than a socket: it is readable while the hub runs and after it stopped (or was
killed: the pid and the heartbeat say so), needs no protocol or listener inside the hub's loop,
and follows the home directory's permissions. The hub writes it to a temporary name and renames
it over the old one, so a reader always sees one whole document.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

STATUS_FILE = "hub-status.json"
STALE_S = 15.0  # a running hub rewrites its status at least every few seconds


def status_path(home: Path) -> Path:
    """Return where the hub of this home writes its status."""
    return Path(home) / STATUS_FILE


def write_status(home: Path, data: dict[str, Any]) -> None:
    """Replace the status file atomically (write a temporary file, then rename it)."""
    path = status_path(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".hub-status.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle, default=str, separators=(",", ":"))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_status(home: Path) -> dict[str, Any] | None:
    """Return the last status a hub of this home wrote, with ``running`` checked; None if none."""
    try:
        data: dict[str, Any] = json.loads(status_path(home).read_text())
    except (OSError, ValueError):
        return None
    data["running"] = bool(
        data.get("state") not in ("stopped", "failed") and _alive(data.get("pid"))
    )
    data["age_s"] = round(time.time() - float(data.get("written", 0)), 1)
    if data["running"] and data["age_s"] > STALE_S:
        data["stale"] = True  # alive but not writing: its loop is blocked
    return data


def _alive(pid: object) -> bool:
    try:
        os.kill(int(pid), 0)  # type: ignore[call-overload]
    except (OSError, TypeError, ValueError):
        return False
    return True
