"""Builtin identification (a plugin): match a discovered candidate to a template's identify rules.

A template matches when every rule it gives matches; among matches the one with the most rules wins
(the most specific), so a vendor-wide template yields to a model-specific one.
"""

from __future__ import annotations

import re
from typing import Any

from smartbuild.hookspecs import hookimpl

MODBUS_FIELDS = (
    "vendor_name",
    "product_code",
    "revision",
    "product_name",
    "model_name",
    "server_id",
)


def _search(pattern: str, value: Any) -> bool:
    return value is not None and re.search(pattern, str(value)) is not None


def match_modbus(rules: Any, identity: dict[str, Any], template_name: str) -> list[str] | None:
    """Return the rules that matched (all given must), or None."""
    matched = []
    for field in MODBUS_FIELDS:
        pattern = getattr(rules, field)
        if pattern is None:
            continue
        if not _search(pattern, identity.get(field)):
            return None
        source = "FC17" if field == "server_id" else "FC43"
        matched.append(f"{source} {field} ~ {pattern}")
    if rules.sunspec:
        models = set((identity.get("sunspec") or {}).get("models", []))
        if not set(rules.sunspec) <= models:
            return None
        matched.append(f"SunSpec models {'+'.join(map(str, rules.sunspec))}")
    if rules.probe is not None:
        value = (identity.get("probes") or {}).get(template_name)
        if not isinstance(value, (int, float)):
            return None
        probe = rules.probe
        if probe.equals is not None and value != probe.equals:
            return None
        if (probe.min is not None and value < probe.min) or (
            probe.max is not None and value > probe.max
        ):
            return None
        matched.append(f"probe {probe.point} = {value:g}")
    return matched or None


def _short_type(service_type: str) -> str:
    return service_type.rstrip(".").removesuffix(".local").lower()  # _hap._tcp.local. = _hap._tcp


def match_mdns(rules: Any, identity: dict[str, Any]) -> list[str] | None:
    """Return the mDNS rules that matched, or None."""
    types = identity.get("types") or ([identity["type"]] if identity.get("type") else [])
    wanted = _short_type(rules.type)
    if wanted not in {_short_type(t) for t in types}:
        return None
    matched = [f"mDNS {rules.type}"]
    # A device with several services has one TXT record per type: check the rule's own.
    by_type = {_short_type(t): v for t, v in (identity.get("txt_by_type") or {}).items()}
    txt = by_type.get(wanted, identity.get("txt") or {})
    for key, pattern in rules.txt.items():
        if not _search(pattern, txt.get(key)):
            return None
        matched.append(f"TXT {key} ~ {pattern}")
    if rules.name is not None:
        if not _search(rules.name, identity.get("name")):
            return None
        matched.append(f"name ~ {rules.name}")
    return matched


def match_ble(rules: Any, identity: dict[str, Any]) -> list[str] | None:
    """Return the BLE advert rules that matched, or None."""
    matched = []
    if rules.manufacturer_id is not None:
        if rules.manufacturer_id not in identity.get("manufacturer_ids", []):
            return None
        matched.append(f"manufacturer {rules.manufacturer_id:#06x}")
    for field, key in (
        ("service_uuid", "service_uuids"),
        ("service_data_uuid", "service_data_uuids"),
    ):
        wanted = getattr(rules, field)
        if wanted is None:
            continue
        have = {str(u).lower() for u in identity.get(key, [])}
        if _full_uuid(wanted) not in {_full_uuid(u) for u in have}:
            return None
        matched.append(f"{field.replace('_', ' ')} {wanted}")
    if rules.name is not None:
        if not _search(rules.name, identity.get("name")):
            return None
        matched.append(f"name ~ {rules.name}")
    if rules.decoder_type is not None:
        if identity.get("decoder_type") != rules.decoder_type:
            return None
        matched.append(f"decoded as {rules.decoder_type}")
    return matched or None


def _full_uuid(uuid: str) -> str:
    """Return a 128-bit UUID for a 16-bit short form such as "fcd2" or "0xFCD2"."""
    text = uuid.lower().removeprefix("0x")
    if len(text) == 4:
        return f"0000{text}-0000-1000-8000-00805f9b34fb"
    return text


FAMILY = {"modbus-tcp": "modbus", "modbus-rtu": "modbus", "ble": "ble", "mdns": "mdns"}


@hookimpl
def identify_device(candidate: Any, templates: dict[str, Any]) -> Any:
    """Return (template, how) for the most specific template whose rules all match."""
    family = FAMILY.get(candidate.transport)
    best: tuple[int, str, str] | None = None
    for name, template in templates.items():
        rules = template.identify
        if rules is None or template.transport != family:
            continue
        if family == "modbus" and rules.modbus is not None:
            matched = match_modbus(rules.modbus, candidate.identity, name)
        elif family == "mdns" and rules.mdns is not None:
            matched = match_mdns(rules.mdns, candidate.identity)
        elif family == "ble" and rules.ble is not None:
            matched = match_ble(rules.ble, candidate.identity)
        else:
            continue
        if matched and (best is None or len(matched) > best[0]):
            best = (len(matched), name, ", ".join(matched))
    return (best[1], best[2]) if best else None
