"""Edit a YAML file people wrote by hand: add entries, keep everything else as it was.

ruamel.yaml's round-trip mode keeps comments, key order, quoting, anchors and tags (``!secret``,
``!include``, ``!env`` stay as written); this module adds what it cannot know by itself: the
file's indentation, line endings, mode and owner, symlinks (written through to the target) and an
atomic replace (a temporary file in the target's directory, then a rename). ruamel.yaml is
imported on first use.
"""

from __future__ import annotations

import contextlib
import copy
import io
import itertools
import os
import re
import stat
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from smartbuild.errors import ConfigError, Problem

_COMMENT = re.compile(r"\s+#.*$")


def guess_indent(text: str) -> tuple[int, int, int]:
    """Return (mapping, sequence, offset) indentation as ruamel.yaml's ``indent()`` takes them."""
    mapping: int | None = None
    offset: int | None = None
    lines = [
        line
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith(("#", "---", "..."))
    ]
    for prev, line in itertools.pairwise(lines):
        body = _COMMENT.sub("", prev).rstrip()
        if not body.endswith(":") or body.lstrip().startswith("- "):
            continue  # only a plain "key:" opening a block tells the indentation
        outer = len(prev) - len(prev.lstrip(" "))
        inner = len(line) - len(line.lstrip(" "))
        if line.lstrip().startswith("- "):
            offset = inner - outer if offset is None else offset
        elif inner > outer and mapping is None:
            mapping = inner - outer
        if mapping is not None and offset is not None:
            break
    mapping = mapping or 2
    if offset is None:
        offset = max(0, mapping - 2)
    return mapping, offset + 2, offset


def _editor(text: str) -> Any:
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096  # never fold long lines people wrote on one line
    mapping, sequence, offset = guess_indent(text)
    yaml.indent(mapping=mapping, sequence=sequence, offset=offset)
    yaml.explicit_start = text.lstrip().startswith("---")
    return yaml


def _flow(value: Mapping[str, Any]) -> Any:
    """Return value as a one-line flow mapping with every text double-quoted (device text too)."""
    from ruamel.yaml.comments import CommentedMap
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString

    out = CommentedMap()
    for key, item in value.items():
        if isinstance(item, Mapping):
            out[key] = _flow(item)
        elif isinstance(item, str):
            out[key] = DoubleQuotedScalarString(item)
        else:
            out[key] = item
    out.fa.set_flow_style()
    return out


def _last_slot(node: Any, key: Any) -> tuple[Any, Any, int]:
    """Return (container, key, comment slot) of the last value written under node[key]."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    parent = node
    while True:
        value = parent[key]
        if isinstance(value, CommentedMap) and value and not value.fa.flow_style():
            parent, key = value, list(value)[-1]
        elif isinstance(value, CommentedSeq) and value and not value.fa.flow_style():
            parent, key = value, len(value) - 1
        else:
            return parent, key, 0 if isinstance(parent, CommentedSeq) else 2


def _move_trailing_comments(devices: Any, old_last: str, new_last: str) -> None:
    """Keep blank lines and column-0 comments after the last device below the added devices."""
    parent, key, slot = _last_slot(devices, old_last)
    items = parent.ca.items.get(key)
    token = items[slot] if items else None
    if token is None:
        return
    lines = token.value.splitlines(keepends=True)
    keep = lines[:1]  # the end of the value's own line, with its comment if any
    for line in lines[1:]:
        if line.strip() and line[:1] in " \t":  # an indented comment still belongs to the block
            keep.append(line)
        else:
            break
    moved = lines[len(keep) :]
    if not moved:
        return
    token.value = "".join(keep)
    tail = copy.copy(token)
    tail.value = "\n" + "".join(moved)
    devices.ca.items.setdefault(new_last, [None, None, None, None])[2] = tail


def add_devices(text: str, entries: Mapping[str, Mapping[str, Any]], file: str) -> str:
    """Return text with entries added at the end of its ``devices:`` mapping."""
    from ruamel.yaml.comments import CommentedMap
    from ruamel.yaml.error import YAMLError

    yaml = _editor(text)
    try:
        root = yaml.load(text)
    except YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        raise ConfigError(
            Problem(
                f"cannot edit the file: {getattr(error, 'problem', None) or error}",
                file,
                mark.line + 1 if mark else None,
                mark.column + 1 if mark else None,
            )
        ) from None
    if not isinstance(root, CommentedMap):
        raise ConfigError(Problem("expected a mapping of keys to values at the top level", file))
    devices = root.get("devices")
    if devices is None:
        devices = root["devices"] = CommentedMap()
    elif not isinstance(devices, CommentedMap):
        line, col = root.lc.value("devices")
        raise ConfigError(
            Problem(
                "'devices' is not a mapping written in this file (an !include or a value); "
                "--save adds devices only to a mapping of devices in the site file",
                file,
                line + 1,
                col + 1,
                "devices",
            ),
            hint="add the new devices by hand, or move the devices into the site file",
        )
    old_last = list(devices)[-1] if devices else None
    if old_last is None:
        devices.fa.set_block_style()
    for device_id, entry in entries.items():
        devices[device_id] = _flow(entry)
    if old_last is not None and not devices.fa.flow_style():
        _move_trailing_comments(devices, old_last, list(devices)[-1])
    out = io.StringIO()
    yaml.dump(root, out)
    result = out.getvalue()
    if text.endswith("\n") and not result.endswith("\n"):
        result += "\n"  # ruamel.yaml drops the newline after a final comment
    return result


def write_atomically(target: Path, text: str) -> None:
    """Replace target with text through a temporary file in its directory; keep mode and owner."""
    try:
        info: os.stat_result | None = target.stat()
    except FileNotFoundError:
        info = None
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        if info is not None:
            os.chmod(tmp, stat.S_IMODE(info.st_mode))
            with contextlib.suppress(OSError):  # only root may give a file away
                os.chown(tmp, info.st_uid, info.st_gid)
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable
        directory = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
