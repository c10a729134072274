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
    identity = {k: v for k, v in candidate.identity.items() if isinstance(v, (str, int, float))}
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
        (d.get("transport"), str(d.get("address")), d.get("unit")): dev_id
        for dev_id, d in existing.items()
        if isinstance(d, dict)
    }
    added, present = [], []
    lines_to_add = []
    taken = set(existing)
    for candidate in matched:
        key = (candidate.transport, candidate.address, candidate.unit)
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
        if re.match(r"^devices\s*:\s*\{\s*\}\s*(#.*)?$", lines[devices_line]):
            lines[devices_line] = "devices:\n"
        end = devices_line + 1
        while end < len(lines) and (not lines[end].strip() or lines[end][:1] in (" ", "\t", "#")):
            end += 1
        while end > devices_line + 1 and not lines[end - 1].strip():
            end -= 1  # keep blank lines between blocks after the new entries
        lines[end:end] = lines_to_add
    tmp = site_path.with_name(site_path.name + ".tmp")
    tmp.write_text("".join(lines), encoding="utf-8")
    tmp.replace(site_path)
    return added, present
