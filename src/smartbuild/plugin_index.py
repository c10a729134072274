"""A tiny cache of plugin command names and help, so `smartbuild --help` needs no plugin loading.

Importing pluggy pulls in importlib.metadata (~15 ms, a third of click's own start-up). The cache is
keyed by the allowlist and the modification times of every sys.path directory: installing, upgrading or
removing a package changes its site-packages directory, which invalidates the index. Plain text, so
reading it imports nothing.
"""

from __future__ import annotations

import os
import sys

from smartbuild import __version__

FILENAME = "plugin-commands.txt"


def _key() -> str:
    parts = [__version__, os.environ.get("SMARTBUILD_LOAD_PLUGINS", "\x00all")]
    # sys.path[0] is the script's directory or the cwd: it differs between `smartbuild` and
    # `python -m smartbuild` and holds no installed plugins, so it is not part of the key.
    for entry in sys.path[1:]:
        try:
            parts.append(f"{entry}={os.stat(entry or '.').st_mtime_ns}")
        except OSError:
            parts.append(f"{entry}=-")
    return "\x1f".join(parts).replace("\n", " ")


def _path(home: str) -> str:
    return os.path.join(home, "cache", FILENAME)


def cached_plugin_commands(home: str) -> dict[str, str] | None:
    """Return {command: short help} from a fresh cache, or None when it must be rebuilt."""
    if os.environ.get("SMARTBUILD_NO_CACHE"):
        return None
    try:
        with open(_path(home), encoding="utf-8") as handle:
            lines = handle.read().split("\n")
    except OSError:
        return None
    if not lines or lines[0] != _key():
        return None
    result = {}
    for line in lines[1:]:
        if "\t" in line:
            name, help_ = line.split("\t", 1)
            result[name] = help_
    return result


def store_plugin_commands(home: str, commands: dict[str, str]) -> None:
    """Write the index; failing to write only costs speed next time."""
    body = "\n".join(
        [_key()]
        + [f"{n}\t{h.replace(chr(10), ' ').replace(chr(9), ' ')}" for n, h in commands.items()]
    )
    path = _path(home)
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{os.getpid()}"
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(body)
        os.replace(tmp, path)
    except OSError:
        pass
