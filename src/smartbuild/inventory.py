"""Save discovered devices into the site file without disturbing what people wrote by hand.

New devices are inserted as text at the end of the ``devices:`` block (comments, order and formatting
of the rest of the file stay as they were); devices already present (same transport, address and
unit) are left alone. Ids are stable: derived from the template and the address.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from smartbuild.errors import ConfigError, Problem
from smartbuild.transports.base import Candidate

_SAFE = re.compile(r"[^A-Za-z0-9]+")


def device_id(candidate: Candidate) -> str:
    """Return a stable id for a discovered device, e.g. ``acme-th200-127-0-1-10-u1``."""
    base = candidate.template or candidate.transport
    address = _SAFE.sub("-", candidate.address.lower()).strip("-")
    unit = f"-u{candidate.unit}" if candidate.unit is not None else ""
    return f"{base}-{address}{unit}"[:80].strip("-")


def _entry(candidate: Candidate) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "template": candidate.template,
        "transport": candidate.transport,
        "address": candidate.address,
    }
    if candidate.unit is not None:
        entry["unit"] = candidate.unit
    if candidate.serial:
        entry["serial"] = candidate.serial
    if candidate.name:
        entry["title"] = candidate.name
    if candidate.transport == "ble" and isinstance(candidate.identity.get("adapter"), str):
        entry["adapter"] = candidate.identity["adapter"]  # read and write through the same radio
    identity: dict[str, Any] = {
        k: v for k, v in candidate.identity.items() if isinstance(v, (str, int, float))
    }
    sunspec = candidate.identity.get("sunspec")
    if isinstance(sunspec, dict):  # the common model says who made it: worth keeping
        identity.update(
            {f"sunspec_{k}": v for k, v in sunspec.items() if isinstance(v, (str, int))}
        )
    if identity:
        entry["identity"] = identity
    return entry


def _flow(value: Any) -> str:
    import json

    if isinstance(value, dict):
        return "{" + ", ".join(f"{_key(k)}: {_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a JSON string is a valid YAML scalar
    return json.dumps(value)


def _key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]*", key) else _flow(key)


def save_candidates(
    site_path: Path, candidates: Iterable[Candidate]
) -> tuple[list[str], list[str]]:
    """Add matched candidates to the site file; return (added ids, already-present ids)."""
    from smartbuild.config.yamlload import load_document

    matched = [c for c in candidates if c.template]
    text = site_path.read_text(encoding="utf-8") if site_path.exists() else ""
    if not text.strip():
        name = _SAFE.sub("-", site_path.resolve().parent.name.lower()).strip("-") or "site"
        text = f"site: {name}\ntimezone: UTC\nzones: {{}}\ndevices:\n"
    doc = load_document(site_path) if site_path.exists() and site_path.read_text().strip() else None
    data = (doc.data if doc else None) or {}
    existing = data.get("devices") or {}
    present_keys = {
        _same_device_key(d.get("transport"), str(d.get("address")), d.get("unit")): dev_id
        for dev_id, d in existing.items()
        if isinstance(d, dict)
    }
    added, present = [], []
    lines_to_add = []
    taken = set(existing)
    for candidate in sorted(matched, key=_order):
        key = _same_device_key(candidate.transport, candidate.address, candidate.unit)
        if key in present_keys:
            present.append(present_keys[key])
            continue
        new_id = device_id(candidate)
        suffix = 2
        while new_id in taken:
            new_id = f"{device_id(candidate)}-{suffix}"
            suffix += 1
        taken.add(new_id)
        present_keys[key] = new_id
        added.append(new_id)
        lines_to_add.append(f"  {new_id}: {_flow(_entry(candidate))}\n")
    if not lines_to_add:
        return added, present
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    devices_line = next(
        (i for i, line in enumerate(lines) if re.match(r"^devices\s*:", line)), None
    )
    if devices_line is None:
        lines.append("devices:\n")
        lines.extend(lines_to_add)
    else:
        header = lines[devices_line]
        if re.match(r"^devices\s*:\s*\{\s*\}\s*(#.*)?$", header):
            lines[devices_line] = "devices:\n"
        elif not re.match(r"^devices\s*:\s*(#.*)?$", header):
            raise ConfigError(
                Problem(
                    "'devices:' is written in flow style; --save can only add to a block",
                    file=str(site_path),
                    line=devices_line + 1,
                    col=1,
                    path="devices",
                ),
                hint="write one device per line under 'devices:', then run --save again",
            )
        end = _block_end(lines, devices_line)
        lines[end:end] = lines_to_add
    new_text = "".join(lines)
    import yaml

    try:  # never leave a site file that no longer parses
        yaml.safe_load(new_text)
    except yaml.YAMLError as error:
        raise ConfigError(
            Problem(f"cannot add devices without breaking the file: {error}", file=str(site_path))
        ) from None
    tmp = site_path.with_name(site_path.name + ".tmp")
    tmp.write_text(new_text, encoding="utf-8")
    tmp.replace(site_path)
    return added, present


def _block_end(lines: list[str], header: int) -> int:
    """Return the index after the last indented line of the block that starts at header.

    Blank lines and column-0 comments inside the block do not end it, but they are not part of
    it either: new entries go right after the last device, before a trailing comment.
    """
    end = header + 1
    for index in range(header + 1, len(lines)):
        line = lines[index]
        if not line.strip() or line.startswith("#"):
            continue
        if line[:1] not in (" ", "\t"):
            break
        end = index + 1
    return end


def _same_device_key(transport: Any, address: str, unit: Any) -> tuple[Any, str, Any]:
    # A Modbus device without a unit in the site file is unit 1 (what the transport uses).
    if unit is None and str(transport).startswith("modbus"):
        unit = 1
    return transport, address, unit


def _order(candidate: Candidate) -> tuple[Any, ...]:
    """Sort key: transport, then address with its numbers compared as numbers, then unit."""
    parts = tuple(
        (0, int(p), "") if p.isdigit() else (1, 0, p)
        for p in re.split(r"(\d+)", candidate.address)
        if p
    )
    return candidate.transport, parts, candidate.unit if candidate.unit is not None else -1
