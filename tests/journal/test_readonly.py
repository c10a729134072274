"""Reading where nothing may be written: read-only files, mounts and full disks."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys

import pytest

from smartbuild.errors import JournalError
from smartbuild.journal import Journal
from tests.journal.procs import V01_SCHEMA, fill, smartbuild_argv


def _unshare_available() -> bool:
    return bool(shutil.which("unshare")) and os.geteuid() == 0


FILL_THEN_WRITE = """
import sys
from smartbuild.journal import open_journal
journal = open_journal(sys.argv[1])
journal.start_run("r1", "write")
try:
    with open(sys.argv[1] + "/filler", "wb") as filler:
        while True:
            filler.write(bytes(4096))
except OSError:
    pass
journal.add_entry("r1", "intent", device="th", point="heating_setpoint", message="x" * 3000)
"""


START_RUN = "import sys; from smartbuild.journal import open_journal as o; o(sys.argv[1]).start_run('r2', 'w')"


@pytest.mark.skipif(not _unshare_available(), reason="needs root and unshare for a mount namespace")
def test_a_full_disk_says_journal_full(tmp_path):
    """A real 256 KiB tmpfs in a private mount namespace, filled up while the journal is open."""
    disk = tmp_path / "disk"
    disk.mkdir()
    script = (
        f"mount -t tmpfs -o size=256k tmpfs {disk} && "
        f"{sys.executable} -c '{FILL_THEN_WRITE}' {disk}; "
        f"dd if=/dev/zero of={disk}/filler2 bs=1k 2>/dev/null; "  # what the exit freed, too
        f"{' '.join(smartbuild_argv(disk))} log; "
        f"{' '.join(smartbuild_argv(disk))} --json log --run r1 >/dev/null; "
        f'{sys.executable} -c "{START_RUN}" {disk}; '
        f"ls {disk}"
    )
    result = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True)
    err = result.stderr
    assert "JournalError: journal full: cannot record intent of th heating_setpoint:" in err, err
    assert f"the disk holding {disk}/journal.db is full (0 bytes free)" in err
    # `log` still reads the journal on the full disk (read-only: not even its index file fits)
    assert "r1" in result.stdout and "interrupted" in result.stdout, result.stdout
    assert "(read-only)" in result.stdout
    assert "JournalError: journal full: cannot record run r2:" in err
    assert "may be corrupt" not in err and "internal error" not in err
    assert "journal.db" in result.stdout.split()  # kept where it was


@pytest.mark.skipif(not _unshare_available(), reason="needs root and unshare for a mount namespace")
def test_log_reads_a_journal_on_a_read_only_filesystem(isolated_home):
    journal = Journal(isolated_home)
    run_id = fill(journal)
    journal.close()
    home = isolated_home
    script = (
        f"mount --bind {home} {home} && mount -o remount,bind,ro {home} && "
        f"{' '.join(smartbuild_argv(home))} --json log --run {run_id} && "
        f"{' '.join(smartbuild_argv(home))} log"
    )
    result = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert '"kind": "written"' in result.stdout and "(read-only)" in result.stdout
    assert sorted(os.listdir(home)) == ["journal.db"]


KILLED_WRITER = """
import os, sys
from smartbuild.journal import open_journal
journal = open_journal(sys.argv[1])
journal.db.execute("PRAGMA wal_autocheckpoint = 0")  # the entries stay in journal.db-wal
journal.start_run("r1", "profile apply office.yaml")
for n in range(5):
    journal.add_entry("r1", "intent", device="th", point=f"p{n}", requested=n)
os.kill(os.getpid(), 9)
"""


@pytest.mark.skipif(not _unshare_available(), reason="needs root and unshare for a mount namespace")
def test_log_reads_the_wal_of_a_killed_writer_on_a_read_only_filesystem(isolated_home, tmp_path):
    isolated_home.mkdir()
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    subprocess.run([sys.executable, "-c", KILLED_WRITER, str(isolated_home)])
    assert (isolated_home / "journal.db-wal").stat().st_size > 0
    (isolated_home / "journal.db-shm").unlink()  # as after a reboot onto a read-only mount
    home = isolated_home
    script = (
        f"mount --bind {home} {home} && mount -o remount,bind,ro {home} && "
        f"{' '.join(smartbuild_argv(home))} --json log --run r1"
    )
    result = subprocess.run(
        ["unshare", "-m", "sh", "-c", script],
        capture_output=True, text=True, env={**os.environ, "TMPDIR": str(scratch)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert list(scratch.iterdir()) == []  # the private copy is gone
    data = json.loads(result.stdout)
    assert data["run"]["status"] == "interrupted"
    assert [e["point"] for e in data["entries"]] == [f"p{n}" for n in range(5)]
    assert "may be missing" not in result.stderr
    assert sorted(os.listdir(home)) == ["journal.db", "journal.db-wal"]


def test_read_only_file_opens_read_only_and_refuses_writes(isolated_home, monkeypatch):
    journal = Journal(isolated_home)
    run_id = fill(journal)
    journal.close()
    # root bypasses file modes, so make access() answer as on a read-only mount
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, m, **kw: m != os.W_OK and real(p, m, **kw))
    journal = Journal(isolated_home)
    assert journal.read_only
    assert [e["kind"] for e in journal.entries(run=run_id)] == ["intent", "written"]
    with pytest.raises(JournalError, match="read-only here: cannot record intent"):
        journal.add_entry(run_id, "intent")


def test_a_v01_journal_reads_where_it_cannot_be_upgraded(isolated_home, monkeypatch):
    isolated_home.mkdir(parents=True)
    old = sqlite3.connect(isolated_home / "journal.db", isolation_level=None)
    old.executescript(V01_SCHEMA)
    old.execute("CREATE TABLE _migrations (name TEXT PRIMARY KEY, applied REAL)")
    old.execute("INSERT INTO runs (id, started, command, status) VALUES ('old1', 1, 'write', 'ok')")
    old.close()
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, m, **kw: m != os.W_OK and real(p, m, **kw))
    journal = Journal(isolated_home)
    assert journal.read_only and journal.leases() == []
    assert journal.runs()[0]["id"] == "old1" and journal.runs()[0]["pid"] is None
