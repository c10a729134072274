"""Real helper processes for journal tests: lock holders, lease holders, racing first starts."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

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
