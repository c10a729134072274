"""Ctrl-C during the write test: the test values are restored before the process exits, even
when Ctrl-C is pressed again during the restore."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from tests.commission_rig import ACME, commission_site, thermostat


def wait_for(db: Path, sql: str, what: str, timeout: float = 20.0) -> None:
    """Wait (bounded) until a query of the journal finds a row."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if db.exists():
            try:
                with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
                    if conn.execute(sql).fetchone():
                        return
            except sqlite3.OperationalError:
                pass  # created or migrated this moment
        time.sleep(0.05)
    raise AssertionError(f"no {what} within {timeout} s")


def test_ctrl_c_during_the_write_test_restores_every_value(tmp_path: Path) -> None:
    slow = {**ACME, "VendorName": "SLOW"}  # slow-th settles 4 s: Ctrl-C lands mid-test
    units = {"th-a": (thermostat(identity=slow), "slow-th"),
             "th-b": (thermostat(identity=slow), "slow-th")}  # fmt: skip
    home = tmp_path / "home"
    with commission_site(tmp_path, units, base="127.0.43.1") as rig:
        before = {d: [rig.holding(d, a) for a in (10, 11)] for d in units}
        env = {**os.environ, "SMARTBUILD_HOME": str(home), "SMARTBUILD_LOAD_PLUGINS": "",
               "NO_COLOR": "1"}  # fmt: skip
        proc = subprocess.Popen(
            [sys.executable, "-m", "smartbuild", "--site", str(rig.site), "commission",
             "--write-test", "--yes"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
        )  # fmt: skip
        try:
            db = home / "journal.db"
            wait_for(db, "SELECT 1 FROM entries WHERE kind = 'intent'", "test write")
            proc.send_signal(signal.SIGINT)
            # the restore is under way (each device settles 4 s): a second Ctrl-C is held off
            wait_for(db, "SELECT 1 FROM runs WHERE kind = 'rollback'", "restore run")
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
        after = {d: [rig.holding(d, a) for a in (10, 11)] for d in units}
        writes = rig.writes()
    assert proc.returncode == 130, err.decode()
    assert after == before
    text = err.decode()
    tested = writes // 2  # each test value written once and restored once
    assert writes % 2 == 0 and tested >= 1, text
    assert f"interrupted during write test; {tested} test values restored" in text
    assert "smartbuild rollback" not in text  # nothing is left to undo
    log = subprocess.run([sys.executable, "-m", "smartbuild", "--json", "log"], env=env,
                         capture_output=True, check=True)  # fmt: skip
    runs = {r["command"].split()[0]: r for r in json.loads(log.stdout)["runs"]}
    assert runs["commission"]["status"] == "interrupted"
    assert runs["rollback"]["parent_run"] == runs["commission"]["id"]
    assert runs["rollback"]["status"] == "ok"
