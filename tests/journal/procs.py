"""Real helper processes for journal tests: lock holders, lease holders, racing first starts."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from smartbuild.journal import MIGRATIONS, Journal
from smartbuild.model.events import Event, new_run_id, run_started

V01_SCHEMA = MIGRATIONS[0][1] + ";" + MIGRATIONS[1][1]  # a journal as v0.1 left it

HOLD_LOCK = """
import sys, time
from smartbuild.journal import open_journal
j = open_journal(sys.argv[1])
j.start_run("holder01", "profile apply office.yaml")
j.db.execute("BEGIN IMMEDIATE")
j.db.execute("INSERT INTO entries (run, time, kind) VALUES ('holder01', 0, 'intent')")
print("ready", flush=True)
time.sleep(60)
"""

HOLD_LEASE = """
import sys, time
from smartbuild.journal import open_journal
j = open_journal(sys.argv[1])
j.start_run(sys.argv[2], "profile apply office.yaml")
j.acquire_lease(sys.argv[3], sys.argv[2], "profile apply office.yaml")
print("ready", flush=True)
time.sleep(float(sys.argv[4]))
j.finish_run(sys.argv[2], "ok")
"""


def env() -> dict[str, str]:
    """Return the environment for a child: this test's home and no installed plugins."""
    return {**os.environ, "SMARTBUILD_LOAD_PLUGINS": ""}


@contextmanager
def holding(script: str, *args: str) -> Iterator[subprocess.Popen[str]]:
    """Run a helper script until it prints "ready"; kill it at the end of the with-block."""
    proc = subprocess.Popen(
        [sys.executable, "-c", script, *args], stdout=subprocess.PIPE, text=True, env=env()
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.strip() == "ready", (line, proc.poll())
        yield proc
    finally:
        proc.kill()
        proc.wait(10)


def smartbuild(home: Path, *args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    """Run the real smartbuild CLI as a separate process."""
    return subprocess.run(
        [sys.executable, "-m", "smartbuild", "--home", str(home), *args],
        capture_output=True, text=True, env=env(), timeout=120, **kwargs,  # type: ignore[arg-type]
    )  # fmt: skip


def fill(journal: Journal, command: str = "write", device: str = "th-1") -> str:
    """Record one finished run with an intent and its verified write; return its id."""
    run_id = new_run_id()
    journal.record(run_started(run_id, command))
    journal.record(Event("intent", run_id, device, "heating_setpoint", before=20.5, requested=21.0))
    journal.record(
        Event("written", run_id, device, "heating_setpoint", before=20.5, requested=21.0, after=21.0, verified=True,
              plugin="smartbuild.transports.modbus.transport", plugin_version="0.1.0")
    )  # fmt: skip
    journal.record(Event("run-finished", run_id, data={"status": "ok"}))
    return run_id


def smartbuild_argv(home: Path) -> list[str]:
    """Return the argv of a real smartbuild process on a home."""
    return [sys.executable, "-m", "smartbuild", "--home", str(home)]
