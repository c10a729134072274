"""SimProcess's leftover checks: each one fires on a real leftover and stays quiet on a clean stop.

The child here is a small real process that behaves like a simulator (it writes the state file
with its pid) and then misbehaves on purpose: it ignores SIGTERM, leaves its state file behind,
or names a D-Bus socket and a Modbus address that are still there after it exits.
"""

from __future__ import annotations

import json
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from smartbuild.sim.launch import SimProcess, free_base

CHILD = """
import json, os, signal, sys, time
home, behaviour, facts = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
state = os.path.join(home, "sim.json")

def stop(*_):
    if behaviour != "stale-state":
        os.remove(state)
    sys.exit(0)

signal.signal(signal.SIGTERM, signal.SIG_IGN if behaviour == "ignore-sigterm" else stop)
with open(state + ".tmp", "w") as f:
    json.dump({"pid": os.getpid(), **facts}, f)
os.replace(state + ".tmp", state)
time.sleep(30)  # bounded: the test stops it long before
"""


@dataclass
class Impostor(SimProcess):
    """A SimProcess whose child is the misbehaving stand-in above."""

    behaviour: str = "clean"
    facts: dict[str, Any] = field(default_factory=dict)

    def command(self) -> list[str]:
        """Return the stand-in's command line."""
        return [sys.executable, "-c", CHILD, str(self.home), self.behaviour, json.dumps(self.facts)]


def test_a_clean_stop_reports_nothing(tmp_path: Path) -> None:
    child = Impostor(tmp_path / "home")
    child.start(timeout=10)
    assert child.stop(timeout=5) == {"exit_status": 0, "leftovers": []}


def test_a_child_that_ignores_sigterm_is_killed_and_reported(tmp_path: Path) -> None:
    child = Impostor(tmp_path / "home", behaviour="ignore-sigterm")
    child.start(timeout=10)
    report = child.stop(timeout=0.5)
    assert report["exit_status"] == -9
    assert "the simulator ignored SIGTERM and was killed" in report["leftovers"]
    assert f"state file {tmp_path / 'home' / 'sim.json'}" in report["leftovers"]


def test_a_stale_state_file_is_reported(tmp_path: Path) -> None:
    child = Impostor(tmp_path / "home", behaviour="stale-state")
    child.start(timeout=10)
    report = child.stop(timeout=5)
    assert report == {
        "exit_status": 0,
        "leftovers": [f"state file {tmp_path / 'home' / 'sim.json'}"],
    }


def test_a_listening_socket_and_a_dbus_socket_left_behind_are_reported(tmp_path: Path) -> None:
    host = free_base()
    bus = tmp_path / "bus"
    bus.touch()
    with socket.socket() as listener:
        listener.bind((host, 0))
        listener.listen()
        port = listener.getsockname()[1]
        facts = {"modbus": {"hosts": [host]}, "ble": {"bus_address": f"unix:path={bus}"}}
        child = Impostor(tmp_path / "home", port=port, facts=facts)
        child.start(timeout=10)
        report = child.stop(timeout=5)
    assert report == {
        "exit_status": 0,
        "leftovers": [f"D-Bus socket unix:path={bus}", f"a listener on {host}:{port}"],
    }
