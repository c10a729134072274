"""The SQLite journal and `smartbuild log`."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import time

import pytest

from smartbuild.errors import JournalError
from smartbuild.journal import MIGRATIONS, Journal
from smartbuild.model.events import Event, new_run_id, run_started


def fill(journal: Journal, command: str = "write", device: str = "th-1") -> str:
    run_id = new_run_id()
    journal.record(run_started(run_id, command))
    journal.record(Event("intent", run_id, device, "heating_setpoint", before=20.5, requested=21.0))
    journal.record(
        Event("written", run_id, device, "heating_setpoint", before=20.5, requested=21.0, after=21.0, verified=True,
              plugin="smartbuild.transports.modbus.transport", plugin_version="0.1.0")
    )  # fmt: skip
    journal.record(Event("run-finished", run_id, data={"status": "ok"}))
    return run_id


def test_journal_is_wal_private_and_migrated(isolated_home):
    journal = Journal(isolated_home)
    assert journal.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert stat.S_IMODE(os.stat(journal.path).st_mode) == 0o600
    names = [r[0] for r in journal.db.execute("SELECT name FROM _migrations ORDER BY name")]
    assert names == [name for name, _ in MIGRATIONS]
    journal.close()
    Journal(isolated_home).close()  # re-opening applies nothing twice


def test_entries_are_durable_without_close(isolated_home):
    journal = Journal(isolated_home)
    run_id = fill(journal)
    # a second connection (another process would be the same) sees every committed entry
    other = sqlite3.connect(journal.path)
    kinds = [r[0] for r in other.execute("SELECT kind FROM entries WHERE run = ?", (run_id,))]
    assert kinds == ["intent", "written"]
    assert other.execute("SELECT status FROM runs").fetchone()[0] == "ok"


def test_unwritable_home_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(JournalError, match="cannot create the journal") as info:
        Journal(blocker / "home")
    assert "--home" in (info.value.hint or "")


def test_corrupt_journal_is_a_clear_error(isolated_home, run):
    isolated_home.mkdir(parents=True)
    (isolated_home / "journal.db").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(JournalError, match="cannot be used"):
        Journal(isolated_home)
    result = run("log")
    assert result.exit_code == 1
    assert "move the file aside" in result.stderr
    assert "Traceback" not in result.output


def test_log_lists_runs_and_filters(run, isolated_home):
    journal = Journal(isolated_home)
    first = fill(journal, "write", "th-1")
    second = fill(journal, "profile apply", "th-2")
    journal.close()
    result = run("--json", "log")
    assert result.exit_code == 0, result.output
    runs = json.loads(result.stdout)["runs"]
    assert [r["id"] for r in runs] == [second, first]
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


def test_log_errors(run, isolated_home):
    Journal(isolated_home).close()
    assert run("log", "--since", "yesterday-ish").exit_code == 2
    result = run("log", "--run", "nothere")
    assert result.exit_code == 2 and "no run 'nothere'" in result.stderr


def test_since_filters_by_time(isolated_home):
    journal = Journal(isolated_home)
    run_id = new_run_id()
    journal.record(run_started(run_id, "write"))
    journal.record(Event("intent", run_id, "d", time=time.time() - 7200))
    journal.record(Event("intent", run_id, "d"))
    assert len(list(journal.entries(since=time.time() - 3600))) == 1


@pytest.mark.parametrize("ref", ["%", "_", "_%", "%%%%%%%%"])
def test_run_prefix_is_not_a_like_pattern(isolated_home, ref):
    journal = Journal(isolated_home)
    fill(journal)  # a single run: a wildcard would match it and `rollback %` would undo it
    with pytest.raises(Exception, match="no run"):
        journal.resolve_run(ref)


def test_run_prefix_resolves_unique_and_refuses_ambiguous(isolated_home):
    journal = Journal(isolated_home)
    first, second = fill(journal), fill(journal)
    assert journal.resolve_run(first) == first
    assert journal.resolve_run(second) == second
    with pytest.raises(Exception, match="ambiguous"):
        journal.resolve_run("")
