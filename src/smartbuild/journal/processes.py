"""Who runs a journaled run, and whether that process still lives (pid, host, start time).

A pid alone cannot say a process is gone: after a crash the kernel may hand the same pid to an
unrelated process. On Linux the identity is ``boot_id/pid-namespace/start-ticks``: a different boot
means the process is gone, a different pid namespace means we cannot tell (another container with
the same host name), and a different start time means the pid was reused. Elsewhere only the pid is
checked (``os.kill(pid, 0)``).
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from functools import lru_cache

PROC = "/proc"


@dataclass(frozen=True)
class ProcessId:
    """The process that holds a run or a lease."""

    pid: int
    host: str
    start: str | None  # "boot_id/pidns/start_ticks" on Linux, None where unknowable


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="ascii", errors="replace") as file:
            return file.read().strip()
    except OSError:
        return None


def _start_ticks(pid: int) -> tuple[str, str] | None:
    """Return (state, start time in clock ticks since boot) of a pid, or None when it is gone."""
    stat = _read(f"{PROC}/{pid}/stat")
    if not stat or ")" not in stat:
        return None
    fields = stat.rpartition(")")[2].split()
    # after the command name: state is field 3 of proc(5), starttime field 22
    if len(fields) < 20:
        return None
    return fields[0], fields[19]


@lru_cache(maxsize=1)
def _namespace() -> tuple[str, str] | None:
    """Return (boot id, pid namespace) of this process, or None without Linux /proc."""
    boot = _read(f"{PROC}/sys/kernel/random/boot_id")
    try:
        pidns = os.readlink(f"{PROC}/self/ns/pid").removeprefix("pid:").strip("[]")
    except OSError:
        pidns = None
    if not boot or not pidns:
        return None
    return boot, pidns


def host_name() -> str:
    """Return this machine's host name as the journal records it."""
    return socket.gethostname()


def user_name() -> str:
    """Return the name of the user running this process (the uid where there is no name)."""
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # no passwd entry in some containers
        return str(os.getuid()) if hasattr(os, "getuid") else "unknown"


def current() -> ProcessId:
    """Return the identity of this process."""
    return _identity(os.getpid())  # keyed by pid: a forked child is another process


@lru_cache(maxsize=4)
def _identity(pid: int) -> ProcessId:
    space = _namespace()
    ticks = _start_ticks(pid) if space else None
    start = f"{space[0]}/{space[1]}/{ticks[1]}" if space and ticks else None
    return ProcessId(pid, host_name(), start)


def alive(pid: int | None, host: str | None, start: str | None) -> bool | None:
    """Return True if the process lives, False if it is gone, None when this host cannot tell."""
    if pid is None or host != host_name():
        return None
    if pid == os.getpid():
        return True
    space = _namespace()
    if start and space:
        parts = start.split("/")
        if len(parts) == 3:
            boot, pidns, ticks = parts
            if boot != space[0]:
                return False  # the machine rebooted since: every process of then is gone
            if pidns != space[1]:
                return None  # another pid namespace (a container with the same host name)
            now = _start_ticks(pid)
            if now is None or now[0] in ("Z", "X"):
                return False  # gone, or a zombie nobody reaped yet
            return now[1] == ticks  # another start time: the pid was reused
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's live process
    except OSError:
        return None
    return True
