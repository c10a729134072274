"""The SQLite journal: durable entries, safe opening, migrations, locks and full disks."""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import stat
import subprocess
import time
from pathlib import Path

import pytest

from smartbuild.errors import JournalError
from smartbuild.journal import MIGRATIONS, Journal, open_journal
from smartbuild.model.events import Event, new_run_id, run_started
from tests.journal.procs import HOLD_LOCK, V01_SCHEMA, fill, holding, smartbuild_argv


def test_journal_is_wal_private_and_migrated(isolated_home):
    journal = Journal(isolated_home)
    assert journal.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert stat.S_IMODE(os.stat(journal.path).st_mode) == 0o600
    names = [r[0] for r in journal.db.execute("SELECT name FROM _migrations ORDER BY name")]
    assert names == [name for name, _ in MIGRATIONS]
    journal.close()
    Journal(isolated_home).close()  # re-opening applies nothing twice
    assert [p.name for p in isolated_home.iterdir()] == ["journal.db"]  # no temp file left


def test_entries_are_durable_without_close(isolated_home):
    journal = Journal(isolated_home)
    run_id = fill(journal)
    # a second connection (another process would be the same) sees every committed entry
    other = sqlite3.connect(journal.path)
    kinds = [r[0] for r in other.execute("SELECT kind FROM entries WHERE run = ?", (run_id,))]
    assert kinds == ["intent", "written"]
    assert other.execute("SELECT status, pid FROM runs").fetchone() == ("ok", os.getpid())


def test_add_entry_returns_its_id_and_stores_every_outcome_kind(isolated_home):
    journal = Journal(isolated_home)
    journal.start_run("r1", "write")
    kinds = ["intent", "written", "unchanged", "refused", "rejected", "unknown", "reverted",
             "conflict"]  # fmt: skip
    ids = [journal.add_entry("r1", k, device="d", point="p", requested=1) for k in kinds]
    assert ids == sorted(ids) and len(set(ids)) == len(kinds)
    assert [e["kind"] for e in journal.entries(run="r1")] == kinds


def test_unwritable_home_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(JournalError, match="cannot create the journal") as info:
        Journal(blocker / "home")
    assert "--home" in (info.value.hint or "")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is empty \\(0 bytes\\)"),
        (b"this is not sqlite" * 100, "is not a SQLite database"),
    ],
)
def test_a_file_that_is_no_journal_is_refused_and_kept(isolated_home, run, content, message):
    isolated_home.mkdir(parents=True)
    path = isolated_home / "journal.db"
    path.write_bytes(content)
    with pytest.raises(JournalError, match=message) as info:
        Journal(isolated_home, wait_s=0.1)
    assert str(path) in info.value.message
    assert "never moves, deletes or recreates" in (info.value.hint or "")
    result = run("log")
    assert result.exit_code == 1
    assert str(path) in result.stderr and "Traceback" not in result.output
    assert "move the file aside" not in result.stderr
    assert path.read_bytes() == content and sorted(os.listdir(isolated_home)) == ["journal.db"]


def test_another_programs_database_is_refused(isolated_home):
    isolated_home.mkdir(parents=True)
    other = sqlite3.connect(isolated_home / "journal.db")
    other.execute("CREATE TABLE notes (text TEXT)")
    other.commit()
    other.close()
    with pytest.raises(JournalError, match="not a smartbuild journal"):
        Journal(isolated_home)


def test_damaged_database_names_recovery_and_keeps_the_file(isolated_home):
    journal = Journal(isolated_home)
    fill(journal)
    journal.close()
    path = isolated_home / "journal.db"
    data = bytearray(path.read_bytes())
    root = sqlite3.connect(path).execute("SELECT rootpage FROM sqlite_master WHERE name = 'runs'")
    page = root.fetchone()[0]
    data[(page - 1) * 4096 : page * 4096] = b"\xff" * 4096  # garble the runs table
    path.write_bytes(bytes(data))
    with pytest.raises(JournalError) as info:
        list(Journal(isolated_home).runs())
    assert "damaged" in info.value.message and ".recover" in (info.value.hint or "")
    assert path.read_bytes() == bytes(data)


def test_a_v01_journal_is_upgraded_and_its_stale_runs_marked(isolated_home):
    isolated_home.mkdir(parents=True)
    old = sqlite3.connect(isolated_home / "journal.db", isolation_level=None)
    old.executescript(V01_SCHEMA)
    old.execute("CREATE TABLE _migrations (name TEXT PRIMARY KEY, applied REAL)")
    old.executemany("INSERT INTO _migrations VALUES (?, 0)", [(n,) for n, _ in MIGRATIONS[:2]])
    old.execute("INSERT INTO runs (id, started, command) VALUES ('old1', 1, 'profile apply x')")
    old.close()
    journal = Journal(isolated_home)
    assert journal.interrupted == ["old1"]
    assert journal.run("old1")["status"] == "interrupted"
    assert journal.run("old1")["rollback"] == "smartbuild rollback old1"


def test_a_failing_migration_changes_nothing(isolated_home):
    """All pending migrations run in one exclusive transaction: a failure rolls every one back."""
    isolated_home.mkdir(parents=True)
    old = sqlite3.connect(isolated_home / "journal.db", isolation_level=None)
    old.executescript(V01_SCHEMA)
    old.execute("CREATE TABLE _migrations (name TEXT PRIMARY KEY, applied REAL)")
    old.executemany("INSERT INTO _migrations VALUES (?, 0)", [(n,) for n, _ in MIGRATIONS[:2]])
    old.execute("CREATE TABLE leases (x)")  # in the way of migration 003, after its ALTERs
    old.close()
    with pytest.raises(JournalError, match="table leases already exists"):
        Journal(isolated_home)
    check = sqlite3.connect(isolated_home / "journal.db")
    assert "pid" not in {row[1] for row in check.execute("PRAGMA table_info(runs)")}
    assert check.execute("SELECT count(*) FROM _migrations").fetchone()[0] == 2


def _first_start(home: str, barrier: multiprocessing.synchronize.Barrier, queue) -> None:
    try:
        barrier.wait(30)
        journal = open_journal(Path(home))
        journal.start_run(new_run_id(), "log")
        queue.put("ok")
    except BaseException as error:
        queue.put(f"{type(error).__name__}: {error}")


def test_120_concurrent_first_starts_all_succeed(tmp_path):
    """v0.1 lost 14 of 120 here: they raced each other's migrations."""
    home = tmp_path / "fresh"
    ctx = multiprocessing.get_context("fork")
    barrier, queue = ctx.Barrier(120), ctx.Queue()
    procs = [ctx.Process(target=_first_start, args=(str(home), barrier, queue)) for _ in range(120)]
    for proc in procs:
        proc.start()
    results = [queue.get(timeout=120) for _ in procs]
    for proc in procs:
        proc.join(30)
    assert results == ["ok"] * 120, [r for r in results if r != "ok"][:3]
    journal = Journal(home)
    assert len(journal.runs()) == 120
    assert [r[0] for r in journal.db.execute("SELECT count(*) FROM _migrations")] == [
        len(MIGRATIONS)
    ]
    assert sorted(os.listdir(home)) == ["journal.db", "journal.db-shm", "journal.db-wal"]


def _first_start_without_links(home: str, barrier, queue) -> None:
    def no_link(*_args: object) -> None:
        raise PermissionError(1, "Operation not permitted")

    os.link = no_link  # a filesystem without hard links (this forked child only)
    _first_start(home, barrier, queue)


def test_first_starts_without_hard_links_all_succeed(tmp_path):
    home = tmp_path / "nolinks"
    ctx = multiprocessing.get_context("fork")
    barrier, queue = ctx.Barrier(20), ctx.Queue()
    procs = [
        ctx.Process(target=_first_start_without_links, args=(str(home), barrier, queue))
        for _ in range(20)
    ]
    for proc in procs:
        proc.start()
    results = [queue.get(timeout=120) for _ in procs]
    for proc in procs:
        proc.join(30)
    assert results == ["ok"] * 20, [r for r in results if r != "ok"][:3]
    assert len(Journal(home).runs()) == 20


def test_concurrent_first_starts_of_the_cli_all_succeed(tmp_path):
    home = tmp_path / "fresh"
    argv = [*smartbuild_argv(home), "--json", "log"]
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
    procs = [subprocess.Popen(argv, **pipes) for _ in range(12)]  # type: ignore[call-overload]
    outputs = [proc.communicate(timeout=120) for proc in procs]
    assert [proc.returncode for proc in procs] == [0] * 12, outputs[0][1]


def test_a_locked_journal_waits_then_names_the_holding_run(isolated_home, run):
    Journal(isolated_home).close()
    with holding(HOLD_LOCK, str(isolated_home)) as holder:
        journal = Journal(isolated_home, wait_s=0.3)
        began = time.monotonic()
        with pytest.raises(JournalError) as info:
            journal.add_entry("r1", "intent", device="d", point="p")
        assert 0.25 <= time.monotonic() - began < 5
        message = info.value.message
        assert "is locked: waited" in message and "holder01" in message, message
        assert "profile apply office.yaml" in message and f"pid {holder.pid}" in message
        assert "SMARTBUILD_JOURNAL_WAIT" in (info.value.hint or "")
        # reading is not blocked by a writer, so `log` still works meanwhile
        result = run("--json", "log")
        assert result.exit_code == 0, result.output


def test_a_lock_held_by_another_program_names_its_pid(isolated_home):
    Journal(isolated_home).close()
    script = (
        "import sqlite3, sys, time\n"
        "db = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
        "db.execute('BEGIN EXCLUSIVE'); print('ready', flush=True); time.sleep(60)\n"
    )
    with (
        holding(script, str(isolated_home / "journal.db")) as holder,
        pytest.raises(JournalError, match=f"held by pid {holder.pid}"),
    ):
        Journal(isolated_home, wait_s=0.2).start_run("r2", "write")


def test_a_failed_commit_raises_and_stores_nothing(isolated_home):
    """The write path sends nothing after a failed intent: add_entry must raise, never pass."""
    journal = Journal(isolated_home)
    journal.start_run("r1", "profile apply")
    pages = journal.db.execute("PRAGMA page_count").fetchone()[0]
    journal.db.execute(f"PRAGMA max_page_count = {pages}")
    with pytest.raises(JournalError) as info:
        for _ in range(1000):
            journal.add_entry("r1", "intent", device="d", point="p", message="x" * 2000)
    assert info.value.message.startswith("journal full: cannot record intent of d p")
    assert "free" in info.value.message and "may be corrupt" not in info.value.message
    assert not journal.db.in_transaction
    count = len(list(journal.entries(run="r1")))
    journal.db.execute("PRAGMA max_page_count = 1000000")
    assert journal.add_entry("r1", "written", device="d", point="p") > 0  # usable again
    assert len(list(journal.entries(run="r1"))) == count + 1


def test_wait_from_the_environment_is_checked(isolated_home, monkeypatch):
    monkeypatch.setenv("SMARTBUILD_JOURNAL_WAIT", "soon")
    with pytest.raises(JournalError, match="not a number of seconds"):
        Journal(isolated_home)
    monkeypatch.setenv("SMARTBUILD_JOURNAL_WAIT", "2.5")
    assert Journal(isolated_home).wait_s == 2.5


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
