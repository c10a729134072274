"""kill -9 during `profile apply`: the journal must say exactly what may have been written.

Each trial starts a real `smartbuild profile apply` process against real Modbus servers and kills it
with SIGKILL at a random moment, then compares the journal with what the devices hold and rolls the
run back. The moment is chosen from the run's own progress (watched in the journal from outside,
plus a random delay), so kills land before, during and after the writes even on a loaded machine.
20 trials with a fixed seed.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from smartbuild.sim.peers.modbus_farm import ServerSpec, SimUnit, loopback_hosts
from tests.rigs import farm_thread

DEVICES = 8
TRIALS = 20
OCCUPIED = "2026-12-01 08:00"


def thermostat() -> SimUnit:
    # a slow device (40 ms per answer) widens the window between a write's intent and its result
    return SimUnit(1, input={0: 215, 1: 450}, holding={10: 205, 11: 260, 12: 1}, discrete={0: True},
                   response_delay_s=0.04)  # fmt: skip


def journal_state(home: Path) -> dict[str, list[str]]:
    db = home / "journal.db"
    if not db.exists():
        return {}
    con = sqlite3.connect(db)
    try:
        rows = con.execute(
            "SELECT device, kind FROM entries WHERE point = 'cooling_setpoint' ORDER BY id"
        ).fetchall()
    except sqlite3.OperationalError:  # killed before the schema was created
        return {}
    finally:
        con.close()
    state: dict[str, list[str]] = {}
    for device, kind in rows:
        state.setdefault(device, []).append(kind)
    return state


def _count(home: Path, kind: str) -> int:
    try:
        con = sqlite3.connect(f"file:{home / 'journal.db'}?mode=ro", uri=True, timeout=0.05)
        try:
            return int(
                con.execute("SELECT count(*) FROM entries WHERE kind = ?", (kind,)).fetchone()[0]
            )
        finally:
            con.close()
    except sqlite3.Error:
        return 0


def kill_when(
    proc: subprocess.Popen[bytes], home: Path, kind: str, count: int, delay: float
) -> None:
    """SIGKILL the process once `count` entries of `kind` exist (then `delay` more seconds)."""
    deadline = time.monotonic() + 30
    while count and time.monotonic() < deadline and proc.poll() is None:
        if _count(home, kind) >= count:
            break
        time.sleep(0.002)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)


def test_kill_9_during_apply_leaves_an_exact_journal(run, tmp_path):
    hosts = loopback_hosts(DEVICES, "127.0.4.1")
    with farm_thread([ServerSpec(h, [thermostat()], port=0) for h in hosts]) as farm:
        lines = ["site: kill-test", "timezone: Europe/Berlin", "zones:"]
        lines += [f"  z{i}: {{tags: [office]}}" for i in range(DEVICES)]
        lines.append("devices:")
        for i, (host, port) in enumerate(farm.endpoints):
            lines.append(
                f'  th{i}: {{template: acme-th200, transport: modbus-tcp, address: "{host}:{port}", unit: 1, zone: z{i}}}'
            )
        site = tmp_path / "site.yaml"
        site.write_text("\n".join(lines) + "\n")
        argv = [sys.executable, "-m", "smartbuild", "--site", str(site), "profile", "apply",
                "office-en16798-cat2", "--at", OCCUPIED, "--yes"]  # fmt: skip
        rng = random.Random(20261129)
        outcomes = {"before-writes": 0, "mid-apply": 0, "after-writes": 0}
        for trial in range(TRIALS):
            home = tmp_path / f"home{trial}"
            env = {**os.environ, "SMARTBUILD_HOME": str(home), "SMARTBUILD_LOAD_PLUGINS": ""}
            proc = subprocess.Popen(
                argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
            )
            phase = trial % 4
            if phase == 0:  # anywhere from start-up to the first reads
                kill_when(proc, home, "intent", 0, rng.uniform(0.05, 0.6))
            elif phase == 3:  # after every write was verified
                kill_when(proc, home, "written", DEVICES, rng.uniform(0, 0.02))
            else:  # between the k-th announced write and its result
                kill_when(proc, home, "intent", rng.randint(1, DEVICES), rng.uniform(0, 0.03))
            state = journal_state(home)
            held = {
                f"th{i}": farm.get(h, p, 1, "holding", 11)[0]
                for i, (h, p) in enumerate(farm.endpoints)
            }
            for device, value in held.items():
                kinds = state.get(device, [])
                if "written" in kinds:
                    assert value == 235, (trial, device, kinds, value)
                elif "intent" in kinds:
                    assert value in (235, 260), (
                        trial,
                        device,
                        kinds,
                        value,
                    )  # may have been written
                else:
                    assert value == 260, (trial, device, kinds, value)  # untouched
            wrote = sum("intent" in k for k in state.values())
            done = sum("written" in k for k in state.values())
            outcomes[
                "before-writes" if not wrote else "after-writes" if done == DEVICES else "mid-apply"
            ] += 1
            if wrote:
                log = json.loads(run("--home", str(home), "--json", "log", "--last").stdout)
                dangling = {(e["device"], e["point"]) for e in log["unresolved"]}
                expected = {
                    (d, "cooling_setpoint")
                    for d, k in state.items()
                    if "intent" in k and "written" not in k
                }
                assert dangling == expected, trial
                result = run(
                    "--home", str(home), "--site", str(site), "rollback", "--last", "--yes"
                )
                assert result.exit_code == 0, result.output
            assert all(farm.get(h, p, 1, "holding", 11)[0] == 260 for h, p in farm.endpoints), trial
        # the moments must really cover the interesting cases, or the test proves little
        assert outcomes["mid-apply"] >= 5, outcomes
        assert outcomes["after-writes"] >= 3, outcomes
