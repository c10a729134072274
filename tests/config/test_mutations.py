"""Property test: mutated site files and templates never crash and always point at a line.

Run with HYPOTHESIS_PROFILE=ci for a few thousand cases (as .ci/run does).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smartbuild.templates import TEMPLATE_DIR
from tests.conftest import EXAMPLES

SITE = (EXAMPLES / "site.yaml").read_text()
TEMPLATE = (TEMPLATE_DIR / "acme-th200.yaml").read_text()

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
    result = run("validate", str(path))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    assert result.exit_code in (0, 2), result.output
    if result.exit_code == 2:
        errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
        assert errors, result.stderr
        for line in errors:
            assert LOCATED.match(line), line
            assert str(path) in line


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=mutated(SITE))
def test_mutated_sites(run, tmp_path, text):
    _check(run, tmp_path / "site.yaml", text)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=mutated(TEMPLATE))
def test_mutated_templates(run, tmp_path, text):
    _check(run, tmp_path / "template.yaml", text)
