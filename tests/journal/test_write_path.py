"""The write path against a journal that refuses to commit: nothing reaches the device."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from smartbuild.journal import Journal
from smartbuild.sim.peers.modbus_farm import ServerSpec, SimUnit
from tests.rigs import farm_thread

HEATING = 10


def test_a_refused_intent_stops_the_write_before_the_device(run, tmp_path):
    home = Path(os.environ["SMARTBUILD_HOME"])
    Journal(home).close()
    db = sqlite3.connect(home / "journal.db")
    # fault injection in the real file: every intent fails to commit, as on a full disk
    db.execute(
        "CREATE TRIGGER refuse_intents BEFORE INSERT ON entries WHEN NEW.kind = 'intent'"
        " BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"
    )
    db.commit()
    db.close()
    unit = SimUnit(1, input={0: 215, 1: 450}, holding={HEATING: 200, 11: 260, 12: 1})
    with farm_thread([ServerSpec("127.0.3.64", [unit], port=0)]) as farm:
        host, port = farm.endpoints[0]
        site = tmp_path / "site.yaml"
        site.write_text(
            "site: t\nzones:\n  z1: {building: main, floor: 0}\ndevices:\n"
            f'  th: {{template: acme-th200, transport: modbus-tcp, address: "{host}:{port}",'
            " unit: 1, zone: z1, timeout: 0.5, retries: 0}\n"
        )
        result = run("--site", str(site), "write", "th", "heating_setpoint", "22", "--yes")
        assert result.exit_code == 1, result.output
        assert "cannot record intent of th heating_setpoint" in " ".join(result.stderr.split())
        assert "internal error" not in result.output
        assert farm.get(host, port, 1, "holding", HEATING)[0] == 200
        assert farm.stats(f"{host}:{port}").writes() == 0


def _leases(home: Path) -> list[tuple[str, str]]:
    try:
        con = sqlite3.connect(f"file:{home / 'journal.db'}?mode=ro", uri=True, timeout=0.05)
        try:
            return con.execute("SELECT device, run FROM leases").fetchall()
        finally:
            con.close()
    except sqlite3.Error:
        return []


def test_a_second_writer_is_refused_naming_the_run_that_holds_the_device(run, tmp_path):
    """Two real `smartbuild write` processes on one slow thermostat: the second sends nothing."""
    home = Path(os.environ["SMARTBUILD_HOME"])
    unit = SimUnit(1, input={0: 215, 1: 450}, holding={HEATING: 200, 11: 260, 12: 1},
                   response_delay_s=0.4)  # fmt: skip
    with farm_thread([ServerSpec("127.0.3.65", [unit], port=0)]) as farm:
        host, port = farm.endpoints[0]
        site = tmp_path / "site.yaml"
        site.write_text(
            "site: t\nzones:\n  z1: {building: main, floor: 0}\ndevices:\n"
            f'  th: {{template: acme-th200, transport: modbus-tcp, address: "{host}:{port}",'
            " unit: 1, zone: z1, timeout: 5, retries: 0}\n"
        )
        first = subprocess.Popen(
            [sys.executable, "-m", "smartbuild", "--site", str(site), "write", "th",
             "heating_setpoint", "22", "--yes"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while not _leases(home) and time.monotonic() < deadline and first.poll() is None:
            time.sleep(0.01)
        [(device, holder)] = _leases(home)
        second = run(
            "--site", str(site), "--json", "write", "th", "heating_setpoint", "23", "--yes"
        )
        _, err = first.communicate(timeout=60)
        assert first.returncode == 0, err
        assert second.exit_code == 5, second.output
        error = json.loads(second.stdout)
        assert error["holder"]["run"] == holder and error["holder"]["pid"] == first.pid
        assert error["message"].startswith(
            f"th is being written by run {holder} (`smartbuild write"
        )
        assert farm.get(host, port, 1, "holding", HEATING)[0] == 220  # the first writer's value
        assert farm.stats(f"{host}:{port}").writes() == 1  # the second sent nothing
        assert device == "th" and _leases(home) == []  # given back when the first finished
