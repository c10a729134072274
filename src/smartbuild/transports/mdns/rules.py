"""The mDNS catalogue's rule format: loading, validating and normalising rules.

Pure code: no sockets, no zeroconf. The format is described at the top of
``smartbuild/data/mdns_catalogue.yaml`` and in docs/mdns.md.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from smartbuild.errors import ConfigError, Problem

CATALOGUE_NAME = "mdns_catalogue.yaml"

_MATCH_KEYS = frozenset({"type", "txt", "name"})
_VALUE_KEYS = frozenset({"vendor", "model", "firmware", "kind", "details"})
_RULE_KEYS = _MATCH_KEYS | _VALUE_KEYS | {"id", "offers", "source"}
_SPEC_KEYS = frozenset({"txt", "from", "regex", "value", "map", "unmapped", "format", "default"})
_FROM_VALUES = ("instance", "host")
_VALUE_FIELDS = ("vendor", "model", "firmware", "kind")
# RFC 6763 §7: service names are 1-15 characters; optional "_sub" subtype prefix.
_TYPE_RE = re.compile(
    r"^(?:[^.]+\._sub\.)?_[A-Za-z0-9](?:[A-Za-z0-9-]{0,14})\._(?:tcp|udp)(?:\.local)?\.?$"
)


@dataclass(frozen=True)
class Catalogue:
    """The loaded, validated catalogue."""

    rules: tuple[dict[str, Any], ...]
    maps: dict[str, dict[str, str]] = field(hash=False)
    source: str = CATALOGUE_NAME

    def types(self) -> list[str]:
        """Return the distinct service types of all rules, fully qualified, in rule order."""
        return list(dict.fromkeys(rule["type"] for rule in self.rules))

    def rule(self, rule_id: str) -> dict[str, Any]:
        """Return the rule with this id or raise KeyError."""
        for rule in self.rules:
            if rule["id"] == rule_id:
                return rule
        raise KeyError(rule_id)


def normalise_type(service_type: str) -> str:
    """Return a DNS-SD type as ``_name._tcp.local.``; raise ValueError when it is not one."""
    text = service_type.strip()
    if not _TYPE_RE.match(text):
        raise ValueError(f"not a DNS-SD service type: {service_type!r} (expected e.g. _hap._tcp)")
    text = text.rstrip(".")
    if not text.endswith(".local"):
        text += ".local"
    return text + "."


def load_catalogue(path: str | Path | None = None) -> Catalogue:
    """Load and validate a catalogue file (the shipped one, cached, when path is None)."""
    if path is None:
        return _shipped_catalogue()
    file = Path(path)
    return _parse(file.read_text(encoding="utf-8"), str(file))


@functools.lru_cache(maxsize=1)
def _shipped_catalogue() -> Catalogue:
    from importlib.resources import files

    resource = files("smartbuild") / "data" / CATALOGUE_NAME
    return _parse(resource.read_text(encoding="utf-8"), f"smartbuild/data/{CATALOGUE_NAME}")


def catalogue_types() -> list[str]:
    """Return the service types of the shipped catalogue (the default browse list)."""
    return load_catalogue().types()


def _parse(text: str, source: str) -> Catalogue:
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ConfigError(
            Problem(
                f"invalid YAML: {getattr(exc, 'problem', exc)}",
                file=source,
                line=mark.line + 1 if mark else None,
                col=mark.column + 1 if mark else None,
            )
        ) from exc
    problems: list[Problem] = []
    if not isinstance(data, dict):
        raise ConfigError(Problem("the catalogue must be a mapping", file=source))
    if data.get("version") != 1:
        problems.append(Problem("unsupported catalogue version (expected 1)", path="version"))
    maps = _parse_maps(data.get("maps") or {}, problems)
    rules: list[dict[str, Any]] = []
    raw_rules = data.get("rules")
    if not isinstance(raw_rules, list) or not raw_rules:
        problems.append(Problem("expected a non-empty list of rules", path="rules"))
        raw_rules = []
    seen: set[str] = set()
    for index, raw in enumerate(raw_rules):
        where = f"rules[{index}]"
        rule_problems = validate_rule(raw, maps=maps, where=where)
        problems.extend(rule_problems)
        if rule_problems:
            continue
        rule = _normalised(raw)
        if rule["id"] in seen:
            problems.append(Problem(f"duplicate rule id {rule['id']!r}", path=f"{where}.id"))
        seen.add(rule["id"])
        rules.append(rule)
    unknown = set(data) - {"version", "maps", "rules"}
    problems.extend(Problem("unknown key", path=key) for key in sorted(map(str, unknown)))
    if problems:
        raise ConfigError([_located(p, text, source) for p in problems])
    return Catalogue(rules=tuple(rules), maps=maps, source=source)


def _parse_maps(raw: Any, problems: list[Problem]) -> dict[str, dict[str, str]]:
    if not isinstance(raw, dict):
        problems.append(Problem("expected a mapping of named tables", path="maps"))
        return {}
    maps: dict[str, dict[str, str]] = {}
    for name, table in raw.items():
        if not isinstance(table, dict):
            problems.append(Problem("expected a mapping of raw -> name", path=f"maps.{name}"))
            continue
        # YAML turns unquoted 5 into an int; TXT values are always text.
        maps[str(name)] = {str(k): str(v) for k, v in table.items()}
    return maps


def _located(problem: Problem, text: str, source: str) -> Problem:
    """Attach file, line and column by walking the composed YAML node tree along the path."""
    import yaml

    line = col = None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        node = None
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", problem.path):
        if node is None:
            break
        line, col = node.start_mark.line + 1, node.start_mark.column + 1
        child = None
        if part.startswith("[") and isinstance(node, yaml.SequenceNode):
            items = node.value
            index = int(part[1:-1])
            child = items[index] if index < len(items) else None
        elif isinstance(node, yaml.MappingNode):
            child = next((v for k, v in node.value if str(k.value) == part), None)
        node = child
    if node is not None and problem.path:
        line, col = node.start_mark.line + 1, node.start_mark.column + 1
    return Problem(problem.message, file=source, line=line, col=col, path=problem.path)


def validate_rule(
    rule: Any,
    *,
    maps: Mapping[str, Mapping[str, str]] | None = None,
    where: str = "rule",
    matcher_only: bool = False,
) -> list[Problem]:
    """Return the problems of one rule (empty when it is valid)."""
    maps = maps if maps is not None else {}
    if not isinstance(rule, Mapping):
        return [Problem("expected a mapping", path=where)]
    problems: list[Problem] = []
    allowed = _MATCH_KEYS if matcher_only else _RULE_KEYS
    for key in rule:
        if key not in allowed:
            hint = _did_you_mean(str(key), allowed)
            problems.append(Problem(f"unknown key{hint}", path=f"{where}.{key}"))
    if not matcher_only and not isinstance(rule.get("id"), str):
        problems.append(Problem("every rule needs a string id", path=f"{where}.id"))
    service_type = rule.get("type")
    try:
        normalise_type(service_type) if isinstance(service_type, str) else None
    except ValueError as exc:
        problems.append(Problem(str(exc), path=f"{where}.type"))
    if not isinstance(service_type, str):
        problems.append(Problem("every rule needs a service type", path=f"{where}.type"))
    txt = rule.get("txt", {})
    if not isinstance(txt, Mapping):
        problems.append(Problem("expected a mapping of TXT key -> regex", path=f"{where}.txt"))
    else:
        for key, pattern in txt.items():
            problems.extend(_regex_problems(pattern, f"{where}.txt.{key}", allow_none=True))
    if "name" in rule:
        problems.extend(_regex_problems(rule["name"], f"{where}.name"))
    if matcher_only:
        return problems
    for key in _VALUE_FIELDS:
        if key in rule:
            problems.extend(_spec_problems(rule[key], maps, f"{where}.{key}"))
    details = rule.get("details", {})
    if not isinstance(details, Mapping):
        problems.append(Problem("expected a mapping of name -> value", path=f"{where}.details"))
    else:
        for name, spec in details.items():
            problems.extend(_spec_problems(spec, maps, f"{where}.details.{name}"))
    offers = rule.get("offers", [])
    if not isinstance(offers, list) or not all(isinstance(o, str) for o in offers):
        problems.append(Problem("expected a list of protocol names", path=f"{where}.offers"))
    return problems


def _did_you_mean(key: str, allowed: Iterable[str]) -> str:
    import difflib

    close = difflib.get_close_matches(key, sorted(allowed), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def _regex_problems(pattern: Any, path: str, *, allow_none: bool = False) -> list[Problem]:
    if pattern is None and allow_none:
        return []
    if isinstance(pattern, (int, float)) and not isinstance(pattern, bool):
        pattern = str(pattern)
    if not isinstance(pattern, str):
        return [Problem("expected a regular expression", path=path)]
    try:
        re.compile(pattern)
    except re.error as exc:
        return [Problem(f"invalid regular expression {pattern!r}: {exc}", path=path)]
    return []


def _spec_problems(spec: Any, maps: Mapping[str, Mapping[str, str]], path: str) -> list[Problem]:
    if isinstance(spec, str):
        return []
    if isinstance(spec, list):
        return [
            p for i, item in enumerate(spec) for p in _spec_problems(item, maps, f"{path}[{i}]")
        ]
    if not isinstance(spec, Mapping):
        return [Problem("expected a literal, a value spec or a list of them", path=path)]
    problems = [
        Problem(f"unknown key{_did_you_mean(str(k), _SPEC_KEYS)}", path=f"{path}.{k}")
        for k in spec
        if k not in _SPEC_KEYS
    ]
    if ("txt" in spec) == ("from" in spec):
        problems.append(Problem("a value spec needs exactly one of 'txt' or 'from'", path=path))
    if "from" in spec and spec["from"] not in _FROM_VALUES:
        problems.append(Problem(f"'from' must be one of {', '.join(_FROM_VALUES)}", path=path))
    if "regex" in spec:
        problems.extend(_regex_problems(spec["regex"], f"{path}.regex"))
    if "unmapped" in spec and "map" not in spec:
        problems.append(Problem("'unmapped' only applies together with 'map'", path=path))
    if "format" in spec and "{}" not in str(spec["format"]):
        problems.append(Problem("'format' needs a {} field for the value", path=f"{path}.format"))
    table = spec.get("map")
    if isinstance(table, str) and table not in maps:
        hint = _did_you_mean(table, maps)
        problems.append(Problem(f"no map named {table!r}{hint}", path=f"{path}.map"))
    elif table is not None and not isinstance(table, (str, Mapping)):
        problems.append(Problem("expected a map name or an inline mapping", path=f"{path}.map"))
    return problems


def _normalised(raw: Mapping[str, Any]) -> dict[str, Any]:
    rule = dict(raw)
    rule["type"] = normalise_type(rule["type"])
    rule["txt"] = {
        str(k): (None if v is None else str(v)) for k, v in (raw.get("txt") or {}).items()
    }
    rule["offers"] = tuple(raw.get("offers") or ())
    rule["details"] = dict(raw.get("details") or {})
    return rule
