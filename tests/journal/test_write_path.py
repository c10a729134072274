"""The write path against a journal that refuses to commit: nothing reaches the device."""

from __future__ import annotations

import os
import sqlite3
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
