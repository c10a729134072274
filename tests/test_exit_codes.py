"""docs/safety.md's exit-code table, checked against the CLI on a real peer (the kv test family)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.plugins.kv import KvDevice
from tests.rigs import LoopThread


@pytest.fixture
def site(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[tuple[Path, KvDevice, LoopThread]]:
    monkeypatch.setenv("SMARTBUILD_PLUGIN_MODULES", "tests.plugins.kv")
    lt = LoopThread()
    device = KvDevice({"t": 215.0, "sp": 40.0})
    address = lt.run(device.start())
    path = tmp_path / "site.yaml"
    path.write_text(
        "site: s\nzones:\n  office: {tags: [office]}\ndevices:\n"
        f"  th: {{template: kv-thermostat, transport: kv, address: '{address}', zone: office}}\n"
    )
    yield path, device, lt
    lt.run(device.stop())
    lt.stop()


def test_an_unreachable_device_is_3_for_read_write_and_watch(run, site):
    path, device, lt = site
    lt.run(device.stop())  # nobody listens any more
    for args in (["read", "th"], ["write", "th", "setpoint", "21", "--yes"],
                 ["watch", "th", "--count", "1"]):  # fmt: skip
        result = run("--json", "--site", str(path), *args)
        assert result.exit_code == 3, (args, result.output)
        if args[0] != "watch":
            json.loads(result.stdout)  # one document


def test_an_unknown_zone_is_2_for_read_and_profile_plan(run, site):
    path, _device, _lt = site
    assert run("--site", str(path), "read", "--zone", "ofice").exit_code == 2
    plan = run("--site", str(path), "profile", "plan", "office-en16798-cat2", "--zone", "ofice")
    assert plan.exit_code == 2, plan.output
    assert "no zone matches 'ofice'. Did you mean 'office'?" in plan.stderr


def test_traceback_keeps_the_exit_status(run, site):
    path, _device, _lt = site
    result = run("--traceback", "--site", str(path), "read", "nosuch")
    assert result.exit_code == 2
    assert "Traceback" in result.stderr and "unknown device 'nosuch'" in result.stderr


def test_a_value_the_register_cannot_hold_is_refused_not_an_overflow(run, site):
    path, device, _lt = site
    result = run("--json", "--site", str(path), "write", "th", "setpoint", "1e308", "--yes")
    assert result.exit_code == 5, result.output
    assert json.loads(result.stdout)["error"] == "SafetyRefusal"  # before the journal, too
    assert device.sets == []


def test_the_table_is_in_the_docs():
    text = (Path(__file__).resolve().parent.parent / "docs" / "safety.md").read_text()
    for command in (
        "discover",
        "read",
        "write",
        "watch",
        "profile plan",
        "profile apply",
        "rollback",
    ):
        assert f"| `{command}` |" in text


def test_read_takes_several_devices(run, site, tmp_path):
    path, _device, lt = site
    second = KvDevice({"t": 19.0, "sp": 40.0})  # a site refuses two entries for one device
    address = lt.run(second.start())
    text = path.read_text()
    line = text.splitlines()[-1].replace("  th:", "  th2:")
    path.write_text(text + re.sub(r"address: '[^']*'", f"address: '{address}'", line) + "\n")
    data = json.loads(run("--json", "--site", str(path), "read", "th", "th2").stdout)
    lt.run(second.stop())
    assert sorted({r["device"] for r in data["readings"]}) == ["th", "th2"]
    one = json.loads(run("--json", "--site", str(path), "read", "th", "setpoint").stdout)
    assert [r["point"] for r in one["readings"]] == ["setpoint"]


def test_discover_works_beside_an_invalid_site_file(run, site):
    path, _device, _lt = site
    path.write_text(path.read_text().replace("template: kv-thermostat", "template: nope"))
    result = run("--site", str(path), "discover", "--kv", "127.0.0.1:9")  # nobody listens there
    assert result.exit_code == 3, result.output  # nothing found; the site is only a warning
    assert "site file not used" in result.stderr and "unknown template 'nope'" in result.stderr


def test_write_takes_values_with_units_and_refuses_a_decimal_comma(run, site):
    path, device, _lt = site
    result = run("--json", "--site", str(path), "write", "th", "setpoint", "71.6 °F", "--yes")
    assert result.exit_code == 0, result.output  # 71.6 °F = 22 °C
    assert json.loads(result.stdout)["outcome"]["requested"] == 22.0
    assert device.values["sp"] == 44.0
    comma = run("--site", str(path), "write", "th", "setpoint", "21,5", "--yes")
    assert comma.exit_code == 2 and "write '21.5'" in comma.stderr
    wrong = run("--site", str(path), "write", "th", "setpoint", "21 ppm", "--yes")
    assert wrong.exit_code == 2, wrong.output


def test_a_reader_closing_the_pipe_is_not_an_error(tmp_path):
    import os
    import subprocess
    import sys

    from smartbuild.journal import open_journal
    from smartbuild.model.events import Event, run_started

    journal = open_journal(tmp_path / "home")
    journal.record(run_started("r1", "write th setpoint 22"))
    for i in range(3000):  # more than a pipe buffer holds
        journal.record(Event("written", "r1", "th", "setpoint", before=i, requested=i + 1))
    journal.close()
    env = {**os.environ, "SMARTBUILD_HOME": str(tmp_path / "home")}
    proc = subprocess.run(
        f"{sys.executable} -m smartbuild log --jsonl | head -1; exit ${{PIPESTATUS[0]}}",
        shell=True, executable="/bin/bash", env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "" and json.loads(proc.stdout)["kind"] == "written"
