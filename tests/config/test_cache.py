"""The validated-config cache: hits, invalidation by every input, corrupt and unwritable caches."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from smartbuild.config import cache
from smartbuild.sim.peers.modbus_farm import ServerSpec, SimUnit
from tests.rigs import farm_thread

HOST = "127.0.3.61"

TEMPLATE = """\
template: test-cached-valve
title: A valve
transport: modbus
points:
  position: {table: holding, address: 0, type: uint16, unit: "%"}
"""


@pytest.fixture
def site(tmp_path: Path):
    """A site with an !include, a !secret address, an !env title and a site-local template folder."""
    with farm_thread([ServerSpec(HOST, [SimUnit(1, holding={0: 42, 1: 7})], port=0)]) as farm:
        ((host, port),) = farm.endpoints
        (tmp_path / "tpl").mkdir()
        (tmp_path / "tpl" / "valve.yaml").write_text(TEMPLATE)
        (tmp_path / "secrets.yaml").write_text(f'valve_address: "{host}:{port}"\n')
        (tmp_path / "zones.yaml").write_text("z1: {building: main, floor: 0}\n")
        (tmp_path / "site.yaml").write_text(
            textwrap.dedent(
                """\
                site: cache-test
                title: !env CACHE_TEST_TITLE
                templates: [tpl]
                zones: !include zones.yaml
                devices:
                  valve: {template: test-cached-valve, transport: modbus-tcp,
                          address: !secret valve_address, unit: 1, zone: z1, timeout: 0.5}
                """
            )
        )
        yield tmp_path


@pytest.fixture(autouse=True)
def _title(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CACHE_TEST_TITLE", "first")


def _read(run, folder: Path):
    return run("--site", str(folder / "site.yaml"), "--json", "read", "valve")


def _entry(home: Path, folder: Path) -> Path:
    return cache.cache_file(home, folder / "site.yaml")


def _hit(home: Path, folder: Path) -> bool:
    return cache.load(home, folder / "site.yaml") is not None


def test_a_second_read_is_a_hit_with_the_same_output(run, site, isolated_home):
    first = _read(run, site)
    assert first.exit_code == 0, first.output
    entry = _entry(isolated_home, site)
    assert entry.is_file() and (entry.stat().st_mode & 0o777) == 0o600
    assert _hit(isolated_home, site)
    second = _read(run, site)
    assert second.exit_code == 0, second.output
    strip = [
        {k: v for k, v in r.items() if k != "time"} for r in json.loads(first.stdout)["readings"]
    ]
    again = [
        {k: v for k, v in r.items() if k != "time"} for r in json.loads(second.stdout)["readings"]
    ]
    assert strip == again == [{"device": "valve", "point": "position", "value": 42, "unit": "%",
                               "raw": 42}]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("zones.yaml", "z2: {building: main, floor: 0}\n"),  # an included file
        ("tpl/valve.yaml", TEMPLATE.replace("address: 0", "address: 1")),  # a site template
        ("secrets.yaml", 'valve_address: "127.0.3.62:5020"\n'),  # the secrets file
        ("tpl/other.yaml", TEMPLATE.replace("test-cached-valve", "test-other")),  # a new template
    ],
)
def test_editing_any_input_invalidates(run, site, isolated_home, name, text):
    assert _read(run, site).exit_code == 0
    assert _hit(isolated_home, site)
    before = os.stat(site / name).st_mtime_ns if (site / name).exists() else None
    (site / name).write_text(text)
    if before is not None:  # same mtime: the content alone must tell
        os.utime(site / name, ns=(before, before))
    assert not _hit(isolated_home, site)


def test_an_included_edit_is_seen_by_the_next_read(run, site, isolated_home):
    assert _read(run, site).exit_code == 0
    (site / "tpl" / "valve.yaml").write_text(TEMPLATE.replace("address: 0", "address: 1"))
    result = _read(run, site)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["readings"][0]["value"] == 7
    assert _hit(isolated_home, site)


def test_a_broken_edit_is_a_located_error_never_the_cached_site(run, site, isolated_home):
    assert _read(run, site).exit_code == 0
    (site / "zones.yaml").write_text("z1: {building: main, floor: [\n")
    result = _read(run, site)
    assert result.exit_code == 2, result.output
    assert "zones.yaml:2:1: invalid YAML" in result.output


def test_an_env_value_is_part_of_the_key(run, site, isolated_home, monkeypatch):
    assert _read(run, site).exit_code == 0
    monkeypatch.setenv("CACHE_TEST_TITLE", "second")
    assert not _hit(isolated_home, site)


def test_a_corrupt_cache_falls_back_silently(run, site, isolated_home):
    assert _read(run, site).exit_code == 0
    _entry(isolated_home, site).write_bytes(b"\x80\x05not a pickle")
    result = _read(run, site)
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    assert _hit(isolated_home, site)  # rewritten after a successful validation


def test_a_read_only_cache_dir_costs_only_speed(run, site, isolated_home):
    if os.geteuid() == 0:
        (isolated_home / "cache").parent.mkdir(parents=True, exist_ok=True)
        (isolated_home / "cache").write_text("a file where the folder should be")
    else:
        (isolated_home / "cache").mkdir(parents=True)
        (isolated_home / "cache").chmod(0o500)
    result = _read(run, site)
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    assert not _hit(isolated_home, site)


def test_no_cache_env_bypasses_it(run, site, isolated_home, monkeypatch):
    monkeypatch.setenv("SMARTBUILD_NO_CACHE", "1")
    assert _read(run, site).exit_code == 0
    assert not _entry(isolated_home, site).exists()


def test_read_through_the_cli_process_cached_and_uncached(site, isolated_home):
    env = {**os.environ, "SMARTBUILD_HOME": str(isolated_home)}
    argv = [sys.executable, "-m", "smartbuild", "--site", str(site / "site.yaml"), "--json",
            "read", "valve"]  # fmt: skip
    outputs, inodes = [], []
    for _ in range(2):
        done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60)
        assert done.returncode == 0, done.stderr
        outputs.append([(r["point"], r["value"]) for r in json.loads(done.stdout)["readings"]])
        inodes.append(_entry(isolated_home, site).stat().st_ino)
    assert outputs[0] == outputs[1] == [("position", 42)]
    assert inodes[0] == inodes[1]  # the second process used the entry (a miss replaces it)


def test_an_unpicklable_plain_view_still_caches_the_site(tmp_path):
    home, site_path = tmp_path / "home", tmp_path / "site.yaml"
    cache.store(home, site_path, {}, {"site": 1}, plain=lambda: "a lambda cannot be pickled")
    entry = cache.load_entry(home, site_path)
    assert entry is not None
    assert entry.site() == {"site": 1}
    assert entry.plain() is None  # reads take the validated site
