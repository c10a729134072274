"""Where a running simulator tells others about itself, and the lock that keeps it alone.

``SMARTBUILD_HOME/sim.json`` holds the simulator's pid, addresses, units, D-Bus address and site
file while it runs (``smartbuild demo``, the benchmarks and the tests read it); an exclusive
``flock`` on ``SMARTBUILD_HOME/sim.lock`` refuses a second simulator for the same home.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from pathlib import Path
from typing import IO, Any

from smartbuild.errors import UsageError

STATE_FILE = "sim.json"
LOCK_FILE = "sim.lock"


def read_state(home: Path) -> dict[str, Any] | None:
    """Return the state of the simulator running for this home, or None when none runs."""
    path = Path(home) / STATE_FILE
    try:
        state: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    try:
        os.kill(int(state["pid"]), 0)
    except (OSError, KeyError, ValueError):
        return None  # left behind by a simulator that was killed
    return state


class SimLock:
    """An exclusive lock on SMARTBUILD_HOME/sim.lock, held while the simulator runs."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        handle = (self.home / LOCK_FILE).open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            state = read_state(self.home) or {}
            who = (
                f" (pid {state['pid']}, {state.get('zones', '?')} zones on {state.get('base')})"
                if state
                else ""
            )
            raise UsageError(
                f"a simulator is already running for {self.home}{who}",
                hint="stop it with Ctrl-C (or `kill PID`), or start another with --home DIR --base ADDRESS",
            ) from None
        self._file = handle

    def release(self) -> None:
        """Remove the lock file (while still holding it) and unlock."""
        if self._file is not None:
            with contextlib.suppress(OSError):
                (self.home / LOCK_FILE).unlink()
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None


def write_state(home: Path, state: dict[str, Any]) -> Path:
    """Write the state file atomically and return its path."""
    path = Path(home) / STATE_FILE
    tmp = path.with_name(STATE_FILE + ".tmp")
    tmp.write_text(json.dumps(state, indent=2))
    tmp.replace(path)
    return path


def address_range(hosts: list[str], port: int) -> str:
    """Return hosts as one discover target: 127.0.2.1-27:5020 (or a comma list)."""
    if not hosts:
        return ""
    first, last = hosts[0], hosts[-1]
    a, b = first.rsplit(".", 1), last.rsplit(".", 1)
    span = f"{first}-{b[1]}" if a[0] == b[0] else f"{first}-{last}"
    return f"{span}:{port}" if len(hosts) > 1 else f"{first}:{port}"
