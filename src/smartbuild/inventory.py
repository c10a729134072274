"""Save discovered devices into the site file without disturbing what people wrote by hand.

New devices are added at the end of the ``devices:`` block by a round-trip YAML editor (see
yamledit.py) that keeps comments, quoting, indentation, line endings, the file's mode and symlinks;
devices already present (same transport, address and unit) are left alone. Ids are stable:
derived from the template and the address.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from smartbuild.config.secret import Secret
from smartbuild.config.yamledit import add_devices, write_atomically
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


def save_candidates(
    site_path: Path, candidates: Iterable[Candidate]
) -> tuple[list[str], list[str]]:
    """Add matched candidates to the site file; return (added ids, already-present ids)."""
    from smartbuild.config.secret import reveal_text
    from smartbuild.config.site import endpoint
    from smartbuild.config.yamlload import load_text

    target = site_path.resolve()  # a symlinked site file is written through, never replaced
    raw = _read(target, site_path)
    newline = "\r\n" if "\r\n" in raw else "\n"
    text = raw.replace("\r\n", "\n")
    if not text.strip():
        name = _SAFE.sub("-", target.parent.name.lower()).strip("-") or "site"
        text = f"site: {name}\ntimezone: UTC\nzones: {{}}\ndevices: {{}}\n"
    # The same loader as every command: !secret, !include, !env and the alias bound apply.
    data = load_text(text, str(site_path)).data or {}
    existing = data.get("devices") if isinstance(data, dict) else None
    existing = existing if isinstance(existing, dict) else {}
    present_keys = {
        endpoint(str(d.get("transport")), reveal_text(d.get("address", "")), d.get("unit")): dev_id
        for dev_id, d in existing.items()
        if isinstance(d, dict) and isinstance(d.get("address", ""), (str, Secret))
    }
    added: list[str] = []
    present: list[str] = []
    entries: dict[str, dict[str, Any]] = {}
    taken = set(existing)
    for candidate in sorted((c for c in candidates if c.template), key=_order):
        key = endpoint(candidate.transport, candidate.address, candidate.unit)
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
        entries[new_id] = _entry(candidate)
    if not entries:
        return added, present
    new_text = add_devices(text, entries, str(site_path))
    try:  # never leave a site file that no longer loads
        load_text(new_text, str(site_path))
    except ConfigError as error:
        raise ConfigError(
            Problem(f"cannot add devices without breaking the file: {error}", file=str(site_path))
        ) from None
    write_atomically(target, new_text.replace("\n", newline))
    return added, present


def _read(target: Path, shown: Path) -> str:
    try:
        return target.read_bytes().decode("utf-8")
    except FileNotFoundError:
        return ""
    except UnicodeDecodeError as error:
        raise ConfigError(Problem(f"not UTF-8 text ({error.reason})", file=str(shown))) from None
    except OSError as error:
        raise ConfigError(
            Problem(f"cannot read the site file: {error.strerror}", file=str(shown))
        ) from None


def _order(candidate: Candidate) -> tuple[Any, ...]:
    """Sort key: transport, then address with its numbers compared as numbers, then unit."""
    parts = tuple(
        (0, int(p), "") if p.isdigit() else (1, 0, p)
        for p in re.split(r"(\d+)", candidate.address)
        if p
    )
    return candidate.transport, parts, candidate.unit if candidate.unit is not None else -1
