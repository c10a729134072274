"""`read DEVICE` on a warm config cache: plain data, no schema, and the same answers as validating.

Every run here is a real `smartbuild` process against a Modbus peer on loopback: the first run
validates and writes the cache entry, the next ones read through its plain view
(services/plainsite.py). Each is compared with SMARTBUILD_NO_CACHE=1 (validate everything).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from smartbuild.sim.peers.modbus_farm import ServerSpec, SimUnit
from tests.rigs import farm_thread

HOST = "127.0.3.86"
SILENT = "127.0.3.87:1"  # loopback, nothing listens: refused at once
ALSO_SILENT = "127.0.3.88:1"

# a site-local template whose enum label and unit carry markup and an emoji code
TEMPLATE = """\
template: test-plain-valve
title: A valve
transport: modbus
defaults: {word_order: CDAB}
points:
  position: {table: holding, address: 0, type: uint16, unit: "%"}
  mode: {table: holding, address: 1, type: uint16, enum: {0: "[red]shut[/red]", 7: ":fire: open"}}
  flow: {table: holding, address: 2, type: float32, unit: "m³/h"}
  alarm: {table: coil, address: 0}
"""

SCHEMA_MODULES = ("pydantic", "pydantic_core", "yaml", "ruamel", "sqlite3")
SMARTBUILD_HEAVY = (
    "smartbuild.config.schema",
    "smartbuild.config.site",
    "smartbuild.config.yamlload",
    "smartbuild.transports.modbus.schema",
    "smartbuild.services.plugins",
    "smartbuild.journal",
    "smartbuild.templates",
    "smartbuild.transports.ble",
    "smartbuild.transports.mdns",
    "smartbuild.transports.bacnet",
)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Path]:
    """A site with a thermostat (!secret address), the valve, a silent device and a BLE sensor."""
    th = SimUnit(1, input={0: 215, 1: 450}, holding={10: 200, 11: 260, 12: 1}, discrete={0: True})
    valve = SimUnit(2, holding={0: 42, 1: 7, 2: 0x0000, 3: 0x4120, 4: 9}, coils={0: True})
    with farm_thread([ServerSpec(HOST, [th, valve], port=0)]) as farm:
        ((host, port),) = farm.endpoints
        (tmp_path / "tpl").mkdir()
        (tmp_path / "tpl" / "valve.yaml").write_text(TEMPLATE)
        (tmp_path / "secrets.yaml").write_text(f'th_address: "{host}:{port}"\n')
        (tmp_path / "site.yaml").write_text(
            textwrap.dedent(
                f"""\
                site: plain-read
                templates: [tpl]
                zones: {{z1: {{building: main, floor: 0}}, z2: {{building: main, floor: 1}}}}
                devices:
                  th: {{template: acme-th200, transport: modbus-tcp, address: !secret th_address,
                        unit: 1, zone: z1}}
                  valve: {{template: test-plain-valve, transport: modbus-tcp,
                           address: "{host}:{port}", unit: 2, zone: z1}}
                  silent: {{template: acme-th200, transport: modbus-tcp, address: "{SILENT}",
                            unit: 1, zone: z2, timeout: 0.3, retries: 0}}
                  ble-th: {{template: govee-h5075, transport: ble, address: "A4:C1:38:00:00:01",
                            zone: z2}}
                """
            )
        )
        yield tmp_path


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "SMARTBUILD_HOME": str(home), "SMARTBUILD_LOAD_PLUGINS": "",
           "NO_COLOR": "1", "COLUMNS": "200", **extra}  # fmt: skip
    env.pop("SMARTBUILD_SITE", None)
    return env


# Runs the CLI as `python -m smartbuild` does, then writes the modules it imported to a file.
PROBE = (
    "import atexit, json, os, sys\n"
    "atexit.register(lambda: json.dump(sorted(sys.modules), open(os.environ['MODULES_OUT'], 'w')))\n"
    "from smartbuild.cli import main\n"
    "main(sys.argv[1:])\n"
)


def _smartbuild(
    site: Path, home: Path, *args: str, cache: bool = True
) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    out = home.parent / "modules.json"
    env = _env(home, MODULES_OUT=str(out), **({} if cache else {"SMARTBUILD_NO_CACHE": "1"}))
    argv = [sys.executable, "-c", PROBE, "--site", str(site / "site.yaml"), *args]
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60)
    return done, set(json.loads(out.read_text()))


def _without_time(stdout: str) -> dict[str, object]:
    data = json.loads(stdout)
    for reading in data["readings"]:
        reading.pop("time")
    return data


@pytest.mark.parametrize(
    "args",
    [
        ("read", "th", "heating_setpoint", "cooling_setpoint", "hvac_mode"),
        ("read", "valve"),
        ("read", "th", "valve"),  # several devices
        ("read", "--zone", "z1"),
    ],
)
def test_a_cached_read_imports_no_schema_and_answers_the_same(site, tmp_path, args):
    home = tmp_path / "home"
    uncached, modules = _smartbuild(site, home, *args, cache=False)
    assert uncached.returncode == 0, uncached.stderr
    assert "pydantic" in modules  # the validating path, for contrast
    cold, _ = _smartbuild(site, home, *args)  # validates and writes the entry
    warm, modules = _smartbuild(site, home, *args)
    assert warm.returncode == 0, warm.stderr
    heavy = [m for m in modules if m.startswith(SCHEMA_MODULES + SMARTBUILD_HEAVY)]
    assert heavy == []
    assert "smartbuild.services.plainsite" in modules  # it did take the plain view
    assert uncached.stdout == cold.stdout == warm.stdout  # the same table, byte for byte
    assert uncached.stderr == cold.stderr == warm.stderr == ""
    documents = [_without_time(_smartbuild(site, home, "--json", *args, cache=c)[0].stdout)
                 for c in (False, True)]  # fmt: skip
    assert documents[0] == documents[1]


def test_the_plain_view_decodes_like_the_validated_templates(site, tmp_path):
    home = tmp_path / "home"
    _smartbuild(site, home, "read", "valve")
    warm, _ = _smartbuild(site, home, "--json", "read", "valve")
    values = {r["point"]: (r["value"], r.get("text")) for r in json.loads(warm.stdout)["readings"]}
    assert values == {"position": (42, None), "mode": (7, ":fire: open"),
                      "flow": (10.0, None), "alarm": (True, None)}  # fmt: skip
    table, _ = _smartbuild(site, home, "read", "valve")
    # device text is printed as written: markup escaped, no emoji
    assert "7 (:fire: open)" in table.stdout
    assert "10 m³/h" in table.stdout


def test_a_changed_template_is_read_through_the_new_file(site, tmp_path):
    home = tmp_path / "home"
    _smartbuild(site, home, "read", "valve", "position")
    path = site / "tpl" / "valve.yaml"
    before = os.stat(path).st_mtime_ns
    path.write_text(TEMPLATE.replace("address: 0, type: uint16", "address: 4, type: uint16"))
    os.utime(path, ns=(before, before))  # same mtime: the SHA-256 of the text tells
    changed, modules = _smartbuild(site, home, "--json", "read", "valve", "position")
    assert changed.returncode == 0, changed.stderr
    assert "pydantic" in modules  # a miss validates again ...
    assert json.loads(changed.stdout)["readings"][0]["value"] == 9
    again, modules = _smartbuild(site, home, "--json", "read", "valve", "position")
    assert "pydantic" not in modules  # ... and writes the entry the next read takes
    assert json.loads(again.stdout)["readings"][0]["value"] == 9


def test_a_changed_secret_is_read_through_the_new_file(site, tmp_path):
    home = tmp_path / "home"
    _smartbuild(site, home, "read", "th", "hvac_mode")
    (site / "secrets.yaml").write_text(f'th_address: "{ALSO_SILENT}"\n')
    moved, _ = _smartbuild(site, home, "read", "th", "hvac_mode")
    assert moved.returncode == 3, moved.stdout


@pytest.mark.parametrize(
    ("args", "code", "expected"),
    [
        (("read", "tth"), 2, "unknown device 'tth'. Did you mean 'th'?"),
        (("read", "--zone", "z3"), 2, "unknown zone 'z3'"),
        (("read", "th", "heating_setpoin"), 2, "no point 'heating_setpoin'"),
        (("read", "silent", "hvac_mode"), 3, "silent"),
    ],
)
def test_errors_are_the_same_with_and_without_the_cache(site, tmp_path, args, code, expected):
    home = tmp_path / "home"
    assert _smartbuild(site, home, "read", "th")[0].returncode == 0  # writes the entry
    warm, modules = _smartbuild(site, home, *args)
    uncached, _ = _smartbuild(site, home, *args, cache=False)
    assert warm.returncode == uncached.returncode == code, warm.stderr
    assert expected in warm.stdout + warm.stderr
    assert (warm.stdout, warm.stderr) == (uncached.stdout, uncached.stderr)
    assert "pydantic" not in modules


def test_an_unreachable_device_names_itself_and_the_cause(site, tmp_path):
    home = tmp_path / "home"
    _smartbuild(site, home, "read", "silent")
    warm, modules = _smartbuild(site, home, "--json", "read", "silent", "hvac_mode")
    assert warm.returncode == 3
    (reading,) = json.loads(warm.stdout)["readings"]
    assert reading["device"] == "silent" and reading["value"] is None
    assert SILENT in reading["error"] and "unit 1" in reading["error"]
    assert "pydantic" not in modules


def test_a_secret_address_stays_masked(site, tmp_path):
    home = tmp_path / "home"
    (site / "secrets.yaml").write_text(f'th_address: "{ALSO_SILENT}"\n')  # errors name the link
    _smartbuild(site, home, "read", "th")
    warm, modules = _smartbuild(site, home, "read", "th", "hvac_mode")
    assert warm.returncode == 3
    assert "127.0.3.88" not in warm.stdout + warm.stderr and "***" in warm.stdout
    assert "pydantic" not in modules


def test_a_device_of_a_family_without_plain_templates_takes_the_validated_site(site, tmp_path):
    home = tmp_path / "home"
    _smartbuild(site, home, "read", "th")
    done, modules = _smartbuild(site, home, "read", "ble-th", "no_such_point")
    assert done.returncode == 2 and "no point 'no_such_point'" in done.stderr
    assert "pydantic" in modules  # BLE has no plain copy: the cached validated site is used


def test_no_cache_writes_no_entry_and_takes_no_plain_view(site, tmp_path):
    home = tmp_path / "home"
    done, modules = _smartbuild(site, home, "read", "th", cache=False)
    assert done.returncode == 0
    assert not (home / "cache").exists()
    assert "smartbuild.services.plainsite" not in modules


def test_read_raw_imports_no_schema(site, tmp_path):
    home = tmp_path / "home"
    address = (site / "secrets.yaml").read_text().split('"')[1]
    done, modules = _smartbuild(site, home, "read", "--raw", address, "--address", "10",
                                "--count", "3")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert [m for m in modules if m.startswith(SCHEMA_MODULES + SMARTBUILD_HEAVY)] == []
