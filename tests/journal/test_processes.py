"""Whether the process of a run still lives: pid, host, boot, pid namespace and start time."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from smartbuild.journal import processes


def _stat(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()


def test_this_process_lives():
    me = processes.current()
    assert processes.alive(me.pid, me.host, me.start) is True


@pytest.mark.skipif(processes.current().start is None, reason="needs Linux /proc")
def test_identity_tells_gone_reused_rebooted_and_unknowable():
    me = processes.current()
    assert me.start is not None
    boot, pidns, ticks = me.start.split("/")
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        ident = processes.ProcessId(child.pid, me.host, None)
        # a pid seen now, then asked again with its own start time: alive
        stat = _stat(child.pid)
        start = f"{boot}/{pidns}/{stat[19]}"
        assert processes.alive(child.pid, me.host, start) is True
        assert processes.alive(child.pid, me.host, f"{boot}/{pidns}/{int(stat[19]) + 1}") is False
        assert processes.alive(child.pid, me.host, f"another-boot/{pidns}/{stat[19]}") is False
        assert processes.alive(child.pid, me.host, f"{boot}/4026531999/{stat[19]}") is None
        assert processes.alive(child.pid, "another-host", start) is None
        assert processes.alive(ident.pid, me.host, None) is True  # pid only: kill(pid, 0)
    finally:
        child.kill()
        child.wait()
    assert processes.alive(child.pid, me.host, start) is False
    assert processes.alive(child.pid, me.host, None) is False
    assert processes.alive(None, me.host, None) is None
    assert ticks.isdigit()


def test_a_zombie_counts_as_gone():
    me = processes.current()
    if me.start is None:
        pytest.skip("needs Linux /proc")
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    for _ in range(200):  # not reaped yet: a zombie until wait()
        if _stat(child.pid)[0] == "Z":
            break
        subprocess.run(["sleep", "0.01"])
    boot, pidns, _ = me.start.split("/")
    stat = _stat(child.pid)
    assert processes.alive(child.pid, me.host, f"{boot}/{pidns}/{stat[19]}") is False
    child.wait()


def test_without_proc_only_the_pid_is_checked(monkeypatch):
    """Systems without Linux /proc (macOS): no start time, kill(pid, 0) decides."""
    monkeypatch.setattr(processes, "PROC", "/nonexistent-proc")
    processes._namespace.cache_clear()
    processes._identity.cache_clear()
    try:
        me = processes.current()
        assert me.start is None
        assert processes.alive(me.pid, me.host, None) is True
        child = subprocess.Popen([sys.executable, "-c", "pass"])
        child.wait()
        assert processes.alive(child.pid, me.host, None) is False
    finally:
        processes._namespace.cache_clear()
        processes._identity.cache_clear()
