"""Property test: mutated sites, templates and profiles never crash and always point at a line.

Mutations change values, keys and text, and add YAML's own constructs: anchors and aliases (up to
alias bombs and recursive aliases), merge keys, and tags (!secret, !include, !env, unknown and
Python tags). A !secret value never reaches the output. HYPOTHESIS_PROFILE=ci runs a few thousand
cases (as .ci/run does); HYPOTHESIS_PROFILE=deep runs over 30,000.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smartbuild.profiles.loading import shipped_profiles
from smartbuild.templates import TEMPLATE_DIR
from tests.conftest import EXAMPLES

SITE = (EXAMPLES / "site.yaml").read_text()
TEMPLATE = (TEMPLATE_DIR / "acme-th200.yaml").read_text()
PROFILES = [p.read_text() for p in shipped_profiles()]
SECRET = "s3cr3t-fuzz-value"

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


def _paths(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(data, dict):
        for key, value in data.items():
            out.extend(_paths(value, (*prefix, key)))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            out.extend(_paths(value, (*prefix, index)))
    return out


def _set(data: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    parent = data
    for part in path[:-1]:
        parent = parent[part]
    parent[path[-1]] = value
    return data


@st.composite
def mutated(draw: st.DrawFn, text: str) -> str:
    """Return a structurally or textually mutated YAML document."""
    kind = draw(st.sampled_from(["value", "extra-key", "drop-key", "text"]))
    data = yaml.safe_load(text)
    if kind == "text":
        lines = text.splitlines()
        index = draw(st.integers(0, len(lines) - 1))
        line = lines[index]
        pos = draw(st.integers(0, len(line)))
        junk = draw(st.sampled_from([":", "{", "]", "'", "\t", "- ", "&a", "*b", "!x ", "  ", "#"]))
        lines[index] = line[:pos] + junk + line[pos:]
        return "\n".join(lines) + "\n"
    paths = [p for p in _paths(data) if p]
    path = draw(st.sampled_from(paths))
    if kind == "value":
        data = _set(data, path, draw(scalars))
    elif kind == "extra-key":
        parent_path = path[:-1]
        parent = data
        for part in parent_path:
            parent = parent[part]
        if isinstance(parent, dict):
            parent[draw(st.sampled_from(["bogus", "flor", "adress", "tempalte", "scal"]))] = 1
    else:
        parent = data
        for part in path[:-1]:
            parent = parent[part]
        if isinstance(parent, dict):
            del parent[path[-1]]
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


LOCATED = re.compile(r"^error: (?P<file>[^:]+):(?P<line>\d+)(:\d+)?: ")


def _check(run: Any, path: Path, text: str) -> None:
    path.write_text(text)
    (path.parent / "secrets.yaml").write_text(f"pw: {SECRET}\nnum: 21\n")
    (path.parent / "part.yaml").write_text("{floor: 1, tags: [office]}\n")
    result = run("validate", str(path))
    assert SECRET not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    assert result.exit_code in (0, 2), result.output
    if result.exit_code == 2:
        errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
        assert errors, result.stderr
        for line in errors:
            located = LOCATED.match(line)
            assert located, line
            # the file itself, or a file it includes (then the value's own location)
            assert Path(located["file"]).parent == path.parent, line


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=mutated(SITE))
def test_mutated_sites(run, tmp_path, text):
    _check(run, tmp_path / "site.yaml", text)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=mutated(TEMPLATE))
def test_mutated_templates(run, tmp_path, text):
    _check(run, tmp_path / "template.yaml", text)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.sampled_from(PROFILES).flatmap(mutated))
def test_mutated_profiles(run, tmp_path, text):
    _check(run, tmp_path / "profile.yaml", text)


TAGS = [
    "!secret pw",
    "!secret num",
    "!secret nope",
    "!include part.yaml",
    "!include ../part.yaml",
    "!include /etc/hostname",
    "!include missing.yaml",
    "!include secrets.yaml",
    "!env HOME",
    "!env SMARTBUILD_SURELY_UNSET",
    "!foo bar",
    "!!python/object/apply:os.getcwd []",
    "!!binary aGVsbG8=",
    "!!timestamp 2026-01-01",
    "!!set {a, b}",
]


def _bomb(levels: int, width: int) -> str:
    lines = [f"z0: &z0 [{', '.join(['x'] * width)}]"]
    for level in range(1, levels + 1):
        lines.append(f"z{level}: &z{level} [{', '.join([f'*z{level - 1}'] * width)}]")
    return "\n".join(lines) + "\n"


_VALUE_LINE = re.compile(r"^(?P<lead>\s*(?:- )?[A-Za-z_][\w.-]*:)(?P<value>(?: .*)?)$")


@st.composite
def with_yaml_extras(draw: st.DrawFn, text: str) -> str:
    """Return a document with anchors, aliases, merge keys, tags or an alias bomb added."""
    lines = text.splitlines()
    keyed = [i for i, line in enumerate(lines) if _VALUE_LINE.match(line)]
    kind = draw(st.sampled_from(["tag", "alias", "merge", "bomb", "recursive", "tag+alias"]))
    if kind == "bomb":
        levels = draw(st.integers(1, 12))
        width = draw(st.integers(1, 12))
        return text + _bomb(levels, width)
    if not keyed:
        return text
    if kind in ("tag", "tag+alias"):
        index = draw(st.sampled_from(keyed))
        match = _VALUE_LINE.match(lines[index])
        assert match is not None
        lines[index] = f"{match['lead']} {draw(st.sampled_from(TAGS))}"
    if kind in ("alias", "tag+alias", "recursive", "merge"):
        first = draw(st.sampled_from(keyed))
        second = draw(st.sampled_from(keyed))
        match = _VALUE_LINE.match(lines[first])
        assert match is not None
        lines[first] = f"{match['lead']} &a{match['value']}"
        if kind == "recursive":
            lines.insert(
                first + 1, " " * (len(lines[first]) - len(lines[first].lstrip()) + 2) + "self: *a"
            )
        elif kind == "merge":
            other = _VALUE_LINE.match(lines[second])
            assert other is not None
            indent = " " * (len(lines[second]) - len(lines[second].lstrip()) + 2)
            lines[second] = f"{other['lead']}\n{indent}<<: *a"
        else:
            other = _VALUE_LINE.match(lines[second])
            assert other is not None
            lines[second] = f"{other['lead']} *a"
    return "\n".join(lines) + "\n"


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.sampled_from([SITE, TEMPLATE, *PROFILES]).flatmap(with_yaml_extras))
def test_yaml_extras_in_every_kind_of_file(run, tmp_path, text):
    _check(run, tmp_path / "file.yaml", text)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.sampled_from([SITE, *PROFILES]).flatmap(mutated).flatmap(with_yaml_extras))
def test_mutations_and_yaml_extras_together(run, tmp_path, text):
    _check(run, tmp_path / "file.yaml", text)
