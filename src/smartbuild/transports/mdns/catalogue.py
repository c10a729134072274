"""The mDNS service catalogue: which DNS-SD types matter here and how to identify a service.

Pure code: no sockets, no zeroconf. The data lives in ``smartbuild/data/mdns_catalogue.yaml``
(see the comment block at its top for the rule format); loading and validating rules is in
``mdns_rules``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from smartbuild.errors import ConfigError, Problem
from smartbuild.transports.mdns.rules import (
    CATALOGUE_NAME,
    Catalogue,
    catalogue_types,
    load_catalogue,
    normalise_type,
    validate_rule,
)

if TYPE_CHECKING:
    from smartbuild.transports.mdns.records import MdnsDevice, MdnsService

# Re-exported: the catalogue's whole API is importable from this module.
__all__ = [
    "CATALOGUE_NAME",
    "Catalogue",
    "Identity",
    "catalogue_types",
    "evaluate",
    "identify",
    "identify_device",
    "load_catalogue",
    "match_rule",
    "normalise_type",
    "txt_get",
    "validate_rule",
]


@dataclass(frozen=True)
class Identity:
    """What the catalogue can tell about one service (None where the TXT record is silent)."""

    vendor: str | None = None
    model: str | None = None
    firmware: str | None = None
    kind: str | None = None
    offers: tuple[str, ...] = ()
    rule: str | None = None  # id of the rule that matched; None when no rule did
    details: dict[str, str] = field(default_factory=dict, hash=False)


def txt_get(txt: Mapping[str, str], key: str) -> str | None:
    """Return the TXT value for key, ignoring case as RFC 6763 §6.4 asks."""
    if key in txt:
        return txt[key]
    lowered = key.lower()
    for candidate, value in txt.items():
        if candidate.lower() == lowered:
            return value
    return None


def match_rule(rule: Mapping[str, Any], service: MdnsService) -> bool:
    """Return True when the service has the rule's type, TXT values and instance name.

    ``rule`` is a catalogue rule or a template's ``mdns:`` identify block, e.g.
    ``{"type": "_shelly._tcp", "txt": {"app": "^Plus1PM$"}}``. A TXT condition of None only
    asks for the key to be present. Raises ConfigError for a malformed rule.
    """
    service_type = rule.get("type")
    if not isinstance(service_type, str):
        raise ConfigError(Problem("an mDNS rule needs a service type", path="mdns.type"))
    try:
        wanted = normalise_type(service_type)
    except ValueError as exc:
        raise ConfigError(Problem(str(exc), path="mdns.type")) from exc
    if wanted.lower() != service.type.lower():
        return False
    txt = rule.get("txt") or {}
    if not isinstance(txt, Mapping):
        raise ConfigError(Problem("expected a mapping of TXT key -> regex", path="mdns.txt"))
    for key, pattern in txt.items():
        value = txt_get(service.txt, str(key))
        if value is None:
            return False
        if pattern is not None and not _search(str(pattern), value, f"mdns.txt.{key}"):
            return False
    name_pattern = rule.get("name")
    return name_pattern is None or bool(
        _search(str(name_pattern), service.instance, "mdns.name", flags=re.IGNORECASE)
    )


def _search(pattern: str, text: str, path: str, flags: int = 0) -> re.Match[str] | None:
    try:
        return re.search(pattern, text, flags)
    except re.error as exc:
        raise ConfigError(
            Problem(f"invalid regular expression {pattern!r}: {exc}", path=path)
        ) from exc


def evaluate(spec: Any, service: MdnsService, maps: Mapping[str, Mapping[str, str]]) -> str | None:
    """Return the value a rule field gives for this service (None when it gives none)."""
    if spec is None:
        return None
    if isinstance(spec, str):
        return spec or None
    if isinstance(spec, list):
        for item in spec:
            value = evaluate(item, service, maps)
            if value:
                return value
        return None
    raw: str | None
    if "txt" in spec:
        raw = txt_get(service.txt, str(spec["txt"]))
    elif spec.get("from") == "instance":
        raw = service.instance
    else:
        raw = (service.server or "").removesuffix(".").removesuffix(".local")
    raw = raw.strip() if raw else None
    if raw and "regex" in spec:
        match = re.search(str(spec["regex"]), raw)
        raw = (match.group(1) if match.re.groups else match.group(0)) if match else None
    if raw and "value" in spec:
        raw = str(spec["value"])
    elif raw and "map" in spec:
        raw = _mapped(raw, spec, maps)
    if raw and "format" in spec:
        raw = str(spec["format"]).replace("{}", raw)
    if not raw and spec.get("default") is not None:
        raw = str(spec["default"])
    return raw or None


def _mapped(raw: str, spec: Mapping[str, Any], maps: Mapping[str, Mapping[str, str]]) -> str | None:
    table = spec["map"]
    table = maps.get(table, {}) if isinstance(table, str) else table
    table = {str(k): str(v) for k, v in table.items()}
    if raw in table:
        return table[raw]
    lowered = {k.lower(): v for k, v in table.items()}
    if raw.lower() in lowered:
        return lowered[raw.lower()]
    fmt = spec.get("unmapped", "{}")
    return None if fmt is None else str(fmt).replace("{}", raw)


def identify(
    service: MdnsService,
    extra_rules: Sequence[Mapping[str, Any]] = (),
    *,
    catalogue: Catalogue | None = None,
) -> Identity:
    """Identify a service by the first matching rule (extra rules are tried first)."""
    cat = catalogue or load_catalogue()
    for index, rule in enumerate(extra_rules):
        problems = validate_rule(rule, maps=cat.maps, where=f"extra_rules[{index}]")
        if problems:
            raise ConfigError(problems)
        if match_rule(rule, service):
            return _identity(rule, service, cat.maps)
    for rule in cat.rules:
        if match_rule(rule, service):
            return _identity(rule, service, cat.maps)
    return Identity()


def _identity(rule: Mapping[str, Any], service: MdnsService, maps: Mapping[str, Any]) -> Identity:
    details = {}
    for name, spec in (rule.get("details") or {}).items():
        value = evaluate(spec, service, maps)
        if value is not None:
            details[str(name)] = value
    return Identity(
        vendor=evaluate(rule.get("vendor"), service, maps),
        model=evaluate(rule.get("model"), service, maps),
        firmware=evaluate(rule.get("firmware"), service, maps),
        kind=evaluate(rule.get("kind"), service, maps),
        offers=tuple(rule.get("offers") or ()),
        rule=str(rule["id"]),
        details=details,
    )


def identify_device(device: MdnsDevice, extra_rules: Sequence[Mapping[str, Any]] = ()) -> Identity:
    """Combine the identities of a device's services, the most informative one first."""
    identities = [identify(s, extra_rules) for s in device.services]
    if not identities:
        return Identity()

    def score(identity: Identity) -> int:
        return sum(v is not None for v in (identity.vendor, identity.model, identity.firmware))

    # A stable sort keeps service order among equals, so the result does not depend on luck.
    ranked = sorted(identities, key=score, reverse=True)
    base = ranked[0]

    def first(attr: str) -> str | None:
        return next((getattr(i, attr) for i in ranked if getattr(i, attr)), None)

    details: dict[str, str] = {}
    for identity in reversed(ranked):
        details.update(identity.details)
    offers = tuple(dict.fromkeys(o for i in ranked for o in i.offers))
    return Identity(
        vendor=first("vendor"),
        model=first("model"),
        firmware=first("firmware"),
        kind=first("kind"),
        offers=offers,
        rule=base.rule,
        details=details,
    )
