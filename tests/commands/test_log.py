"""`smartbuild log`: runs, entries, outcomes, damage, interrupted runs — with real peers."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from smartbuild.journal import Journal
from smartbuild.sim.peers.modbus_farm import ServerSpec, SimUnit
from tests.journal.procs import HOLD_LOCK, fill, holding
from tests.rigs import farm_thread

HEATING, COOLING = 10, 11  # acme-th200 holding registers (0.1 °C)


def test_log_lists_runs_and_filters(run, isolated_home):
    journal = Journal(isolated_home)
    first = fill(journal, "write", "th-1")
    second = fill(journal, "profile apply", "th-2")
    journal.close()
    result = run("--json", "log")
    assert result.exit_code == 0, result.output
    runs = json.loads(result.stdout)["runs"]
    assert [r["id"] for r in runs] == [second, first]
    assert runs[0]["pid"] == os.getpid() and runs[0]["rollback"] is None
    result = run("--json", "log", "--run", first[:5])
    data = json.loads(result.stdout)
    assert data["run"]["id"] == first
    assert [e["kind"] for e in data["entries"]] == ["intent", "written"]
    assert data["entries"][1]["after"] == 21.0 and data["entries"][1]["verified"] is True
    result = run("--json", "log", "--device", "th-2")
    assert {e["run"] for e in json.loads(result.stdout)["entries"]} == {second}
    result = run("log", "--jsonl", "--since", "1h")
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 4
    result = run("--json", "log", "--since", "2000-01-01", "--last")
    assert json.loads(result.stdout)["run"]["id"] == second
    result = run("log", "--run", first)
    assert "heating_setpoint" in result.stdout and "write" in result.stdout


def test_log_shows_the_write_leases_held_now(run, isolated_home):
    journal = Journal(isolated_home)
    journal.start_run("r1", "profile apply office.yaml")
    journal.acquire_lease("th-1", "r1", "profile apply office.yaml")
    listed = json.loads(run("--json", "log").stdout)["leases"]
    assert [(x["device"], x["run"], x["pid"]) for x in listed] == [("th-1", "r1", os.getpid())]
    result = run("log")
    assert "th-1 is being written by run r1 (profile apply office.yaml, pid" in " ".join(
        result.stderr.split()
    )
    journal.finish_run("r1", "ok")
    assert json.loads(run("--json", "log").stdout)["leases"] == []


def test_an_interrupted_rollback_is_finished_by_rolling_back_its_parent(run, isolated_home):
    journal = Journal(isolated_home)
    journal.start_run("apply1", "profile apply office.yaml")
    journal.finish_run("apply1", "ok")
    journal.start_run("undo1", "rollback apply1", parent_run="apply1", kind="rollback")
    journal.add_entry("undo1", "intent", device="th", point="heating_setpoint", requested=20)
    journal.db.execute("UPDATE runs SET pid = NULL WHERE id = 'undo1'")  # as a v0.1 run, gone
    journal.close()
    listed = json.loads(run("--json", "log").stdout)["runs"]
    assert listed[0]["id"] == "undo1" and listed[0]["status"] == "interrupted"
    assert listed[0]["rollback"] == "smartbuild rollback apply1"


def test_log_errors(run, isolated_home):
    Journal(isolated_home).close()
    assert run("log", "--since", "yesterday-ish").exit_code == 2
    result = run("log", "--run", "nothere")
    assert result.exit_code == 2 and "no run 'nothere'" in result.stderr


def test_unknown_outcomes_show_as_unresolved_until_resolved(run, isolated_home):
    journal = Journal(isolated_home)
    journal.start_run("r1", "profile apply office.yaml")
    journal.add_entry(
        "r1", "intent", device="th", point="heating_setpoint", before=20, requested=21
    )
    journal.add_entry("r1", "unknown", device="th", point="heating_setpoint", before=20,
                      requested=21, message="no answer within 1 s")  # fmt: skip
    for kind in ("refused", "rejected", "reverted", "conflict", "unchanged"):
        journal.add_entry("r1", kind, device="th", point=f"p_{kind}", requested=1)
    journal.finish_run("r1", "partial")
    result = run("log", "--run", "r1")
    assert result.exit_code == 0, result.output
    assert "unknown (unresolved)" in result.stdout
    for kind in ("refused", "rejected", "reverted", "conflict", "unchanged"):
        assert kind in result.stdout
    assert (
        "th.heating_setpoint: sent 21 (was 20) but no answer came: unresolved; "
        "`smartbuild rollback r1` checks the device and restores 20"
    ) in " ".join(result.stderr.split())
    pending = json.loads(run("--json", "log", "--run", "r1").stdout)["unresolved"]
    assert [(e["kind"], e["point"]) for e in pending] == [("unknown", "heating_setpoint")]
    # a read-back that found the value settles it
    journal.add_entry("r1", "written", device="th", point="heating_setpoint", after=21)
    assert json.loads(run("--json", "log", "--run", "r1").stdout)["unresolved"] == []


def test_a_damaged_time_does_not_hide_the_entry(run, isolated_home):
    journal = Journal(isolated_home)
    journal.start_run("r1", "write")
    journal.add_entry("r1", "intent", device="th", point="heating_setpoint", requested=21)
    journal.db.execute("UPDATE entries SET time = 'yesterday'")
    journal.db.execute("UPDATE runs SET started = 1e300")
    result = run("log", "--run", "r1")
    assert result.exit_code == 0, result.output
    assert "damaged" in result.stdout and "heating_setpoint" in result.stdout
    assert run("log").exit_code == 0


def test_device_text_is_escaped_not_interpreted(run, isolated_home):
    journal = Journal(isolated_home)
    journal.start_run("r1", "write [/red] \x1b[31mred")
    journal.add_entry("r1", "intent", device="[bold]x[/]", point="p\x07", message="[/red]")
    result = run("log")
    assert result.exit_code == 0, result.output
    assert "[/red]" in result.stdout and "\\x1b[31mred" in result.stdout
    assert "\x1b" not in result.stdout
    result = run("log", "--run", "r1")
    assert result.exit_code == 0, result.output
    assert "[bold]x[/]" in result.stdout and "p\\x07" in result.stdout


def _thermostat_site(tmp_path: Path, farm, *, timeout: float = 0.5) -> Path:
    host, port = farm.endpoints[0]
    path = tmp_path / "site.yaml"
    path.write_text(
        "site: log-test\ntimezone: Europe/Berlin\nzones:\n  z1: {tags: [office]}\ndevices:\n"
        f'  th: {{template: acme-th200, transport: modbus-tcp, address: "{host}:{port}",'
        f" unit: 1, zone: z1, timeout: {timeout}, retries: 0}}\n"
    )
    return path


def _held(farm, register: int) -> int:
    host, port = farm.endpoints[0]
    return farm.get(host, port, 1, "holding", register)[0]


def test_a_damaged_entry_stays_damaged_alone_and_rollback_restores_the_rest(run, tmp_path):
    unit = SimUnit(1, input={0: 215, 1: 450}, holding={HEATING: 190, COOLING: 260, 12: 1})
    with farm_thread([ServerSpec("127.0.3.61", [unit], port=0)]) as farm:
        site = str(_thermostat_site(tmp_path, farm))
        applied = run("--site", site, "--json", "profile", "apply", "office-en16798-cat2",
                      "--at", "2026-12-01 08:00", "--yes")  # fmt: skip
        assert applied.exit_code == 0, applied.output
        assert (_held(farm, HEATING), _held(farm, COOLING)) == (205, 235)
        run_id = json.loads(run("--json", "log").stdout)["runs"][0]["id"]
        db = sqlite3.connect(Path(os.environ["SMARTBUILD_HOME"]) / "journal.db")
        db.execute("UPDATE entries SET before = '{\"broken' WHERE point = 'cooling_setpoint'")
        db.commit()
        db.close()
        result = run("log", "--run", run_id)
        assert result.exit_code == 0, result.output
        assert "damaged" in result.stdout and "heating_setpoint" in result.stdout
        damaged_ids = [
            e["id"]
            for e in json.loads(run("--json", "log", "--run", run_id).stdout)["entries"]
            if e["damaged"]
        ]
        assert damaged_ids and all(f"entry {i} " in result.stderr for i in damaged_ids)
        data = json.loads(run("--json", "log", "--run", run_id).stdout)
        broken = next(e for e in data["entries"] if e["damaged"])
        assert broken["before"]["damaged"] is True and broken["before"]["raw"] == '{"broken'
        rolled = run("--site", site, "--json", "rollback", run_id, "--yes")
        assert rolled.exit_code == 0, rolled.output
        # the readable point is restored; the damaged one is left as it is, never guessed
        assert (_held(farm, HEATING), _held(farm, COOLING)) == (190, 235)


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


def test_a_killed_run_is_marked_interrupted_with_its_rollback_command(run, tmp_path):
    """kill -9 of a real `smartbuild write` between its intent and the device's answer."""
    unit = SimUnit(1, input={0: 215, 1: 450}, holding={HEATING: 200, COOLING: 260, 12: 1},
                   response_delay_s=1.5)  # fmt: skip
    home = Path(os.environ["SMARTBUILD_HOME"])
    with farm_thread([ServerSpec("127.0.3.62", [unit], port=0)]) as farm:
        site = _thermostat_site(tmp_path, farm, timeout=10)
        argv = [sys.executable, "-m", "smartbuild", "--site", str(site), "write", "th",
                "heating_setpoint", "22", "--yes"]  # fmt: skip
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while _count(home, "intent") < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        raw = sqlite3.connect(home / "journal.db").execute("SELECT id, status FROM runs")
        run_id, status = raw.fetchone()
        assert status == "running"  # nobody could say otherwise yet
        result = run("log")
        assert result.exit_code == 0, result.output
        assert "interrupted" in result.stdout
        warning = " ".join(result.stderr.split())
        assert f"`smartbuild rollback {run_id}` checks its devices" in warning, warning
        listed = json.loads(run("--json", "log").stdout)["runs"][0]
        assert listed["status"] == "interrupted"
        assert listed["rollback"] == f"smartbuild rollback {run_id}"
        assert listed["pid"] == proc.pid
        detail = run("log", "--run", run_id)
        assert "intent (unresolved)" in detail.stdout
        rolled = run("--site", str(site), "rollback", run_id, "--yes")
        assert rolled.exit_code == 0, rolled.output
        assert _held(farm, HEATING) == 200


@pytest.mark.parametrize("wait", ["0.3"])
def test_a_locked_journal_refuses_the_write_naming_the_holder(run, tmp_path, isolated_home, wait):
    unit = SimUnit(1, input={0: 215, 1: 450}, holding={HEATING: 200, COOLING: 260, 12: 1})
    Journal(isolated_home).close()
    with (
        farm_thread([ServerSpec("127.0.3.63", [unit], port=0)]) as farm,
        holding(HOLD_LOCK, str(isolated_home)) as holder,
    ):
        site = str(_thermostat_site(tmp_path, farm))
        result = run("--site", site, "write", "th", "heating_setpoint", "22", "--yes",
                     env={"SMARTBUILD_JOURNAL_WAIT": wait})  # fmt: skip
        assert result.exit_code == 1, result.output
        message = " ".join(result.stderr.split())
        assert "is locked: waited" in message and "run holder01" in message, message
        assert f"pid {holder.pid}" in message and "internal error" not in message
        assert _held(farm, HEATING) == 200  # nothing was written


def test_log_last_is_compact_at_80_columns(run, isolated_home):
    journal = Journal(isolated_home)
    fill(journal, "profile apply", "acme-hp-50-10-0-0-5-502-u2")
    journal.start_run("r2", "write")
    journal.add_entry("r2", "intent", device="th-1", point="heating_setpoint", before=20.5,
                      requested=21.0)  # fmt: skip
    journal.add_entry("r2", "intent", device="th-2", point="cooling_setpoint", before=24.0,
                      requested=26.0)  # fmt: skip
    journal.add_entry("r2", "reverted", device="th-2", point="cooling_setpoint", before=24.0,
                      requested=26.0, after=25.0, verified=False, message="holds 25.0")  # fmt: skip
    journal.finish_run("r2", "partial")
    result = run("log", "--last", env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80, result.stdout
    rows = [line for line in lines if re.match(r"│ +\d+ │", line)]  # a row starts with its id
    assert len(rows) == 2, result.stdout  # the answered intent is folded into its result
    assert "th-1.heating_setpoint" in rows[0] and "20.5 → 21.0" in rows[0]
    assert "intent" in rows[0] and "(unresolved)" in result.stdout  # never answered: marked
    assert "24.0 → 25.0" in rows[1] and "reverted ✗" in rows[1] and "asked 26" in rows[1]
    verbose = run("log", "--last", "-v", env={"COLUMNS": "80"})
    assert len([line for line in verbose.stdout.splitlines() if re.match(r"│ +\d+ │", line)]) == 3
    first = run("log", "--run", journal.runs()[-1]["id"], env={"COLUMNS": "80"})
    (row,) = [line for line in first.stdout.splitlines() if re.match(r"│ +\d+ │", line)]
    assert "written ✓" in row and "20.5 → 21.0" in row


def test_log_runs_fit_80_columns_and_name_shipped_profiles_short(run, isolated_home, tmp_path):
    from smartbuild.profiles.loading import LIBRARY

    journal = Journal(isolated_home)
    shipped = str(LIBRARY / "office-en16798-cat2.yaml")
    journal.start_run("r1", "profile apply office-en16798-cat2", profile_path=shipped)
    journal.start_run("r2", "profile apply mine.yaml", profile_path=str(tmp_path / "mine.yaml"))
    result = run("log", env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    assert max(len(line) for line in result.stdout.splitlines()) <= 80, result.stdout
    assert "shipped" in result.stdout and str(LIBRARY) not in result.stdout
    assert {r["profile_path"] for r in json.loads(run("--json", "log").stdout)["runs"]} >= {shipped}
