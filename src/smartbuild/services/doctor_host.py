"""Checks of this host for `smartbuild doctor`: Python, packages, journal, clock, broker, hub unit.

Every check reads; none changes state. The journal is opened read-only (never created, migrated or
cleaned up), the broker gets a TCP connect and nothing else, the clock is only looked at.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from smartbuild.model.checks import Check, fail, ok, warn

CORE = "core"
MIN_PYTHON = (3, 10)
EARLIEST = 1_735_689_600.0  # 2025-01-01 UTC: a clock before the release of smartbuild is wrong
LOW_SPACE = 64 * 1024 * 1024  # below this the journal soon refuses writes
TIME_ERROR = 5  # adjtimex(2): the kernel says the clock is not synchronised
UNIT_DIRS = ("/etc/systemd/system", "/run/systemd/system", "/usr/lib/systemd/system",
             "/lib/systemd/system", "~/.config/systemd/user")  # fmt: skip


def check_python() -> Check:
    """Return whether this Python is one smartbuild supports."""
    version = ".".join(map(str, sys.version_info[:3]))
    where = {"version": version, "executable": sys.executable}
    if sys.version_info[:2] < MIN_PYTHON:
        need = ".".join(map(str, MIN_PYTHON))
        return fail(CORE, "python", f"Python {version} is too old", f"install Python >= {need}",
                    **where)  # fmt: skip
    return ok(CORE, "python", f"Python {version} ({sys.executable})", **where)


def _requirements() -> list[tuple[str, str, str]]:
    """Return (name, specifier, marker) of smartbuild's own (not optional) requirements."""
    from importlib import metadata

    out = []
    for line in metadata.requires("smartbuild") or []:
        text, _, marker = line.partition(";")
        if "extra" in marker:
            continue
        match = re.match(r"\s*([A-Za-z0-9_.-]+)(?:\[[^]]*\])?\s*(.*)", text)
        if match:
            out.append((match[1], match[2].strip().strip("()"), marker.strip()))
    return out


def check_dependencies() -> Check:
    """Return the installed version of each dependency; missing or out-of-range ones fail."""
    from importlib import metadata

    versions: dict[str, str] = {}
    missing, outside = [], []
    try:
        from packaging.markers import Marker
        from packaging.specifiers import SpecifierSet
    except ImportError:  # without packaging, versions are listed and only absence is judged
        Marker = SpecifierSet = None  # type: ignore[assignment,misc]
    for name, spec, marker in _requirements():
        if marker and Marker is not None and not Marker(marker).evaluate():
            continue
        try:
            version = metadata.version(name)
        except metadata.PackageNotFoundError:
            missing.append(name)
            continue
        versions[name] = version
        if spec and SpecifierSet is not None and version not in SpecifierSet(spec):
            outside.append(f"{name} {version} (smartbuild needs {spec})")
    shown = ", ".join(f"{n} {v}" for n, v in versions.items())
    if missing or outside:
        what = [f"missing: {', '.join(missing)}"] if missing else []
        what += [f"outside the tested range: {'; '.join(outside)}"] if outside else []
        return fail(CORE, "dependencies", "; ".join(what),
                    "reinstall smartbuild into its environment: pip install --force-reinstall "
                    "smartbuild", versions=versions)  # fmt: skip
    return ok(CORE, "dependencies", f"{len(versions)} installed: {shown}", versions=versions)


def _size(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return ""  # pragma: no cover


def _unwritable(directory: Path) -> str | None:
    """Return why files cannot be created in directory (None: they can), by creating one."""
    target = directory
    while not target.exists():  # a home not made yet: the first existing parent must take it
        target = target.parent
    if not target.is_dir():
        return f"{target} is not a directory"
    try:
        with tempfile.NamedTemporaryFile(dir=target, prefix=".smartbuild-doctor-"):
            pass
    except OSError as error:
        return f"{target}: {error.strerror or error}"
    return None


def journal_checks(home: Path) -> tuple[Check, float | None]:
    """Return the journal's check and the time of its newest entry (None without one)."""
    path = home / "journal.db"
    fix_home = (
        "pass --home DIR (or set SMARTBUILD_HOME) to a writable directory, or fix its permissions"
    )
    why = _unwritable(home)
    if not path.exists():
        if why:
            return fail(CORE, "journal", f"no journal yet and {home} is not writable ({why})",
                        fix_home, path=str(path)), None  # fmt: skip
        return ok(CORE, "journal", f"no journal yet; {home} is writable (created on the first run)",
                  path=str(path)), None  # fmt: skip
    size = sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())
    details: dict[str, Any] = {"path": str(path), "size_bytes": size}
    try:
        integrity, newest = _read_journal(path)
    except sqlite3.Error as error:
        return fail(CORE, "journal", f"{path} cannot be read: {error}",
                    "check the file's permissions; smartbuild never moves, deletes or recreates "
                    "an existing journal", **details), None  # fmt: skip
    details["integrity"] = integrity
    if integrity != ["ok"]:
        shown = "; ".join(integrity[:3])
        return fail(CORE, "journal", f"{path} fails its integrity check: {shown}",
                    "copy the file aside and restore it from a backup (sqlite3 .recover saves what "
                    "it can); smartbuild never recreates it", **details), newest  # fmt: skip
    summary = f"{path}: integrity ok, {_size(size)}"
    if why:
        return fail(CORE, "journal", f"{summary}, but read-only ({why}): writes will be refused",
                    fix_home, **details), newest  # fmt: skip
    free = _free(path)
    if free is not None and free < LOW_SPACE:
        return warn(CORE, "journal", f"{summary}, only {_size(free)} free on its filesystem",
                    "free disk space: a journal that cannot grow refuses every write",
                    **details), newest  # fmt: skip
    return ok(CORE, "journal", f"{summary}, writable", **details), newest


def _free(path: Path) -> float | None:
    import shutil

    try:
        return float(shutil.disk_usage(path.parent).free)
    except OSError:
        return None


def _read_journal(path: Path) -> tuple[list[str], float | None]:
    """Run PRAGMA integrity_check and read the newest entry time, opening the file read-only."""
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=2)
        db.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.OperationalError:
        # a WAL journal in a read-only directory cannot get its -shm file: read the file as it is
        db = sqlite3.connect(f"file:{path}?immutable=1", uri=True, timeout=2)
    try:
        integrity = [str(row[0]) for row in db.execute("PRAGMA integrity_check(20)").fetchall()]
        newest = None
        with contextlib.suppress(sqlite3.Error):
            row = db.execute("SELECT max(time) FROM entries").fetchone()
            newest = float(row[0]) if row and row[0] is not None else None
        return integrity, newest
    finally:
        db.close()


def check_timezone(site_tz: str | None) -> Check:
    """Return the site's and this machine's time zones (plans speak site time)."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    local = time.strftime("%Z")
    env = os.environ.get("TZ")
    link = Path("/etc/localtime")
    name = env or (os.readlink(link).split("zoneinfo/", 1)[-1] if link.is_symlink() else local)
    details = {"site": site_tz, "machine": name, "abbreviation": local}
    try:
        ZoneInfo("Europe/Berlin")
    except ZoneInfoNotFoundError:
        return fail(CORE, "timezone", "no time zone database on this machine",
                    "install the tzdata package (Debian: apt-get install tzdata; pip install "
                    "tzdata)", **details)  # fmt: skip
    if env and env.lstrip(":") not in ("UTC", "") and not _known_zone(env.lstrip(":")):
        return warn(CORE, "timezone", f"TZ={env!r} is not a known time zone: local times are UTC",
                    "set TZ to an IANA name such as Europe/Berlin, or unset it", **details)  # fmt: skip
    site = f"site {site_tz}; " if site_tz else ""
    return ok(CORE, "timezone", f"{site}this machine {name} ({local}); plans use site time",
              **details)  # fmt: skip


def _known_zone(name: str) -> bool:
    from zoneinfo import ZoneInfo

    try:
        ZoneInfo(name)
    except (ValueError, KeyError, OSError):
        return False
    return True


def clock_state() -> int | None:
    """Return the kernel's clock state from adjtimex(2) (5: unsynchronised), None if unknown."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        buffer = ctypes.create_string_buffer(512)  # struct timex, modes = 0: read only
        state = int(libc.adjtimex(buffer))
    except (OSError, AttributeError):
        return None
    return None if state < 0 else state


def check_clock(newest_entry: float | None, now: float | None = None) -> Check:
    """Return whether the clock is plausible, synchronised and not behind the journal."""
    now = time.time() if now is None else now
    stamp = time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(now))
    details: dict[str, Any] = {"now": now, "newest_journal_entry": newest_entry}
    fix_sync = "enable time synchronisation (systemd-timesyncd, chrony or ntpd)"
    if now < EARLIEST:
        return fail(CORE, "clock", f"the clock says {stamp}, before smartbuild existed",
                    f"set the clock; {fix_sync}", **details)  # fmt: skip
    if newest_entry is not None and newest_entry > now + 60:
        ahead = newest_entry - now
        return fail(CORE, "clock", f"the clock is {ahead:.0f} s behind the newest journal entry: it "
                    "went backwards", f"set the clock; {fix_sync} (schedules and overrides "
                    "follow it)", **details)  # fmt: skip
    state = clock_state()
    details["adjtimex_state"] = state
    if state == TIME_ERROR:
        return warn(CORE, "clock", f"{stamp}; the kernel reports it is not synchronised",
                    f"{fix_sync}: schedules switch at the clock's idea of time", **details)  # fmt: skip
    synced = "synchronised" if state is not None else "synchronisation unknown"
    return ok(CORE, "clock", f"{stamp}, {synced}", **details)


def broker_endpoint(url: str) -> tuple[str, int]:
    """Return host and port of an mqtt:// or mqtts:// URL (1883 / 8883 by default)."""
    from urllib.parse import urlsplit

    parts = urlsplit(url if "://" in url else f"mqtt://{url}")
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        from smartbuild.errors import UsageError

        raise UsageError(f"broker {url!r} must look like mqtt://host:1883 or host:port")
    return parts.hostname, parts.port or (8883 if parts.scheme == "mqtts" else 1883)


async def check_broker(url: str | None, timeout: float) -> Check:
    """Return whether the configured MQTT broker accepts a TCP connection (nothing is sent)."""
    if not url:
        return ok(CORE, "mqtt", "no MQTT broker configured")
    host, port = broker_endpoint(url)
    started = time.monotonic()
    details: dict[str, Any] = {"host": host, "port": port}
    fix = (f"start the broker or correct the site's mqtt url; check that {host}:{port} is "
           "reachable from this machine (firewall, listener address)")  # fmt: skip
    try:
        _reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except asyncio.TimeoutError:
        return fail(CORE, "mqtt", f"broker {host}:{port}: no answer within {timeout:g} s", fix,
                    **details)  # fmt: skip
    except OSError as error:
        why = os.strerror(error.errno) if error.errno else str(error)
        return fail(CORE, "mqtt", f"broker {host}:{port}: {why}", fix,
                    **details)  # fmt: skip
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    ms = (time.monotonic() - started) * 1000
    return ok(CORE, "mqtt", f"broker {host}:{port} accepts connections ({ms:.0f} ms)", **details)


def unit_files(dirs: tuple[str, ...] = UNIT_DIRS) -> list[Path]:
    """Return installed systemd unit files of the hub (smartbuild*.service)."""
    found = []
    for directory in dirs:
        base = Path(directory).expanduser()
        with contextlib.suppress(OSError):
            found += sorted(base.glob("smartbuild*.service"))
    return found


def check_hub_unit(dirs: tuple[str, ...] = UNIT_DIRS) -> list[Check]:
    """Return a check per installed hub unit: its program, user and site file exist."""
    units = unit_files(dirs)
    if not units:
        return [ok(CORE, "hub-unit", "no smartbuild systemd unit installed")]
    return [_check_unit(path) for path in units]


def _check_unit(path: Path) -> Check:
    import pwd
    import shlex

    try:
        text = path.read_text()
    except OSError as error:
        return fail(CORE, "hub-unit", f"{path}: {error.strerror or error}",
                    "make the unit file readable")  # fmt: skip
    keys: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and not line.lstrip().startswith(("#", ";")):
            keys[key.strip()] = value.strip()
    problems = []
    words = shlex.split(keys.get("ExecStart", "").lstrip("-@:+!"))
    if not words:
        problems.append("no ExecStart line")
    elif not os.access(words[0], os.X_OK):
        problems.append(f"ExecStart program {words[0]} does not exist or is not executable")
    if "--site" in words[:-1]:
        site = Path(words[words.index("--site") + 1])
        if not site.exists():
            problems.append(f"site file {site} does not exist")
    user = keys.get("User")
    if user:
        try:
            pwd.getpwnam(user)
        except KeyError:
            problems.append(f"User={user} does not exist on this machine")
    if problems:
        return fail(CORE, "hub-unit", f"{path}: {'; '.join(problems)}",
                    f"edit {path}, then systemctl daemon-reload and restart it",
                    unit=str(path))  # fmt: skip
    return ok(CORE, "hub-unit", f"{path}: runs {' '.join(words[:2])}", unit=str(path))
