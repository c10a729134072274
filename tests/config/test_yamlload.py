"""The located YAML loader: positions, tags, YAML 1.2-style scalars, located syntax errors."""

from __future__ import annotations

import pytest

from smartbuild.config.yamlload import load_document, load_text
from smartbuild.errors import ConfigError


def test_every_value_and_key_has_a_location():
    doc = load_text("a: 1\nb:\n  c: [x, {d: 2}]\n", "f.yaml")
    assert doc.values[("b", "c", 1, "d")].line == 3
    assert doc.values[("b", "c", 1, "d")].col == 14
    assert doc.keys[("b", "c")].line == 3 and doc.keys[("b", "c")].col == 3
    assert doc.locate(("b", "c", 5)).line == 3  # falls back to the deepest located parent


def test_times_and_words_stay_strings():
    doc = load_text("from: 7:00\nto: 19:30\nmode: on\nother: no\nflag: true\nn: 010\n", "f.yaml")
    assert doc.data == {
        "from": "7:00",
        "to": "19:30",
        "mode": "on",
        "other": "no",
        "flag": True,
        "n": 8,
    }


@pytest.mark.parametrize(
    ("text", "line", "col"),
    [("a: [1, 2\n", 2, 1), ("a: 1\n b: 2\n", 2, 3), ("a: 'x\n", 2, 1), ("- a\nb: 1\n", 2, 1)],
)
def test_syntax_errors_are_located(text, line, col):
    with pytest.raises(ConfigError) as info:
        load_text(text, "broken.yaml")
    problem = info.value.problems[0]
    assert problem.file == "broken.yaml"
    assert (problem.line, problem.col) == (line, col)
    assert str(problem).startswith(f"broken.yaml:{line}:{col}: invalid YAML")


def test_duplicate_keys_are_errors():
    with pytest.raises(ConfigError, match=r"f.yaml:3:1: duplicate key 'a' \(first at line 1\)"):
        load_text("a: 1\nb: 2\na: 3\n", "f.yaml")


def test_env_tag(monkeypatch):
    monkeypatch.setenv("SB_HOST", "127.0.0.9")
    assert load_text("host: !env SB_HOST\n", "f.yaml").data == {"host": "127.0.0.9"}
    monkeypatch.delenv("SB_HOST")
    with pytest.raises(ConfigError, match=r"f.yaml:1:7: environment variable 'SB_HOST' is not set"):
        load_text("host: !env SB_HOST\n", "f.yaml")


def test_secret_tag_reads_secrets_beside_the_file_and_marks_the_path(tmp_path):
    (tmp_path / "secrets.yaml").write_text("gw_password: hunter2\n")
    site = tmp_path / "site.yaml"
    site.write_text("devices:\n  gw: {password: !secret gw_password}\n")
    doc = load_document(site)
    assert doc.data["devices"]["gw"]["password"].reveal() == "hunter2"
    assert doc.is_secret(("devices", "gw", "password"))
    site.write_text("p: !secret nope\n")
    with pytest.raises(ConfigError, match="'nope' is not defined"):
        load_document(site)


def test_include_tag_keeps_locations_of_the_included_file(tmp_path):
    (tmp_path / "zones.yaml").write_text("office:\n  floor: 1\n")
    main = tmp_path / "site.yaml"
    main.write_text("site: x\nzones: !include zones.yaml\n")
    doc = load_document(main)
    assert doc.data["zones"]["office"]["floor"] == 1
    loc = doc.values[("zones", "office", "floor")]
    assert loc.file.endswith("zones.yaml") and loc.line == 2


def test_include_cycle_and_missing_file(tmp_path):
    a = tmp_path / "a.yaml"
    a.write_text("x: !include a.yaml\n")
    with pytest.raises(ConfigError, match="includes itself"):
        load_document(a)
    a.write_text("x: !include missing.yaml\n")
    with pytest.raises(ConfigError, match=r"a.yaml:1:4: !include 'missing.yaml': file not found"):
        load_document(a)


def test_unreadable_and_missing_files(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_document(tmp_path / "none.yaml")
    with pytest.raises(ConfigError, match="is a directory"):
        load_document(tmp_path)
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes(b"a: \xe9\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_document(bad)


def test_unsafe_tags_are_refused():
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_text("a: !!python/object/apply:os.system ['true']\n", "evil.yaml")
