"""A cache of validated site files, so a command that reads one device skips YAML and validation.

An entry is written only after a site validated completely (every template loaded, every reference
checked). It is keyed on everything that load read: the text of the site file, of every
``!include``d file, of each ``secrets.yaml`` used and of every template file; the listing of every
template folder; the value of each ``!env`` variable; plus smartbuild's version, its own source
files (the schemas), the Python version and the installed packages (as the plugin command index).
File contents are compared by SHA-256, not modification times, so an edit within the clock's
granularity is never missed. A missing, corrupt, foreign or unwritable cache only costs speed:
every failure falls back to loading and validating the files. ``SMARTBUILD_NO_CACHE=1`` bypasses
it; the entries live in ``$SMARTBUILD_HOME/cache/site-*.pickle`` (mode 0600: they hold the values
of ``!secret``s, like the secrets file itself) and deleting them is always safe.

An entry holds two payloads, each pickled on its own: the validated site (pydantic models) and,
when every part of it has one, a plain-data view of what reading devices needs (config/plain.py
and each family's ``plain_template``). ``load_entry`` checks the key and the files, and unpickles
neither; a command takes the part it needs, so `read DEVICE` never imports the schemas.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

FORMAT = 2
PREFIX = "site-"


def text_digest(text: str) -> str:
    """Return the SHA-256 of a text (what the cache compares files by)."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _listing(path: str) -> str:
    names = sorted(p.name for p in Path(path).iterdir() if p.suffix in (".yaml", ".yml"))
    return "\n".join(names)


def _package_fingerprint() -> str:
    """Return a digest of smartbuild's own source files (name, size, mtime): the schemas."""
    root = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            if name.endswith((".py", ".yaml")):
                st = os.stat(os.path.join(folder, name))
                digest.update(f"{folder}/{name}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def static_key(site_path: Path) -> str:
    """Return the part of the key that needs no site file: versions, packages, plugins, path."""
    from smartbuild import __version__

    parts = [
        str(FORMAT),
        __version__,
        sys.version,
        str(site_path.resolve()),
        _package_fingerprint(),
    ]
    for name in ("SMARTBUILD_LOAD_PLUGINS", "SMARTBUILD_PLUGIN_MODULES"):
        parts.append(f"{name}={os.environ.get(name, chr(0))}")
    for entry in sys.path[1:]:  # installing or removing a package changes its directory
        try:
            parts.append(f"{entry}={os.stat(entry or '.').st_mtime_ns}")
        except OSError:
            parts.append(f"{entry}=-")
    return hashlib.sha256("\x1f".join(parts).encode("utf-8", "surrogatepass")).hexdigest()


def cache_file(home: Path, site_path: Path) -> Path:
    """Return the cache entry of a site file."""
    name = hashlib.sha256(str(site_path.resolve()).encode("utf-8", "surrogatepass")).hexdigest()
    return home / "cache" / f"{PREFIX}{name[:24]}.pickle"


@contextlib.contextmanager
def recording() -> Iterator[dict[str, dict[str, str | None]]]:
    """Record every file, folder listing and !env variable a load reads."""
    from smartbuild.config import yamlload

    previous, yamlload.RECORD = yamlload.RECORD, {}
    try:
        yield yamlload.RECORD
    finally:
        yamlload.RECORD = previous


def _fresh(record: dict[str, dict[str, str | None]]) -> bool:
    for path, digest in record.get("files", {}).items():
        with open(path, encoding="utf-8") as handle:  # the same decoding as the loader
            if text_digest(handle.read()) != digest:
                return False
    for path, listing in record.get("dirs", {}).items():
        if _listing(path) != listing:
            return False
    for name, digest in record.get("env", {}).items():
        value = os.environ.get(name)
        if (None if value is None else text_digest(value)) != digest:
            return False
    return True


class Entry:
    """A fresh cache entry: its payloads, unpickled on first use (None when that fails)."""

    def __init__(self, site: bytes, plain: bytes | None) -> None:
        self._parts: dict[str, bytes | None] = {"site": site, "plain": plain}
        self._done: dict[str, Any] = {}

    def _part(self, name: str) -> Any:
        if name not in self._done:
            import pickle

            data = self._parts[name]
            try:
                self._done[name] = None if data is None else pickle.loads(data)
            except Exception:  # unloadable (a class renamed since): load the files instead
                self._done[name] = None
        return self._done[name]

    def site(self) -> dict[str, Any] | None:
        """Return the validated site's payload (imports the schemas), or None."""
        payload: dict[str, Any] | None = self._part("site")
        return payload

    def plain(self) -> Any:
        """Return the plain-data payload (no pydantic), or None when the entry has none."""
        return self._part("plain")


def enabled() -> bool:
    """Return False when SMARTBUILD_NO_CACHE bypasses the cache for this process."""
    return not os.environ.get("SMARTBUILD_NO_CACHE")


def load_entry(home: Path, site_path: Path) -> Entry | None:
    """Return the cache entry of a site when every input is unchanged, else None."""
    if not enabled():
        return None
    import pickle

    try:
        with open(cache_file(home, site_path), "rb") as handle:
            entry = pickle.load(handle)
        if entry["key"] != static_key(site_path) or not _fresh(entry["record"]):
            return None
        return Entry(entry["site"], entry["plain"])
    except Exception:  # missing, corrupt, from another version: load the files instead
        return None


def load(home: Path, site_path: Path) -> dict[str, Any] | None:
    """Return the cached validated site's payload when every input is unchanged, else None."""
    entry = load_entry(home, site_path)
    return None if entry is None else entry.site()


def store(
    home: Path,
    site_path: Path,
    record: dict[str, dict[str, str | None]],
    payload: Any,
    plain: Any = None,
) -> None:
    """Write a cache entry; any failure (read-only home, full disk) only costs speed next time.

    ``plain`` is left out when it cannot be pickled (a plugin's transport class that cannot be
    imported by name): reads then take the validated site.
    """
    if not enabled():
        return
    import pickle

    path = cache_file(home, site_path)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        site = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
        try:
            light = None if plain is None else pickle.dumps(plain, pickle.HIGHEST_PROTOCOL)
        except Exception:
            light = None
        entry = {"key": static_key(site_path), "record": record, "site": site, "plain": light}
        data = pickle.dumps(entry, protocol=pickle.HIGHEST_PROTOCOL)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except Exception:
        with contextlib.suppress(OSError):
            tmp.unlink()
