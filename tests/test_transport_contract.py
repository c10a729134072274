"""The open transport contract: a family that exists only in a test plugin works end to end.

tests/plugins/kv.py declares a "kv" family (template schema, matcher, discover options) and its
transport; smartbuild loads it through SMARTBUILD_PLUGIN_MODULES like any plugin module. Nothing
in smartbuild names it, yet its template validates and discover, read, write (bounds, journal,
verify) and rollback work through the CLI against a real TCP peer.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.plugins.kv import KvDevice
from tests.rigs import LoopThread

TEMPLATE = Path(__file__).parent / "plugins" / "kv_templates" / "kv-thermostat.yaml"


@pytest.fixture
def kv(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[tuple[KvDevice, str, Path]]:
    """Load the kv plugin, serve one kv thermostat and write a site without it yet."""
    monkeypatch.setenv("SMARTBUILD_PLUGIN_MODULES", "tests.plugins.kv")
    lt = LoopThread()
    device = KvDevice({"t": 215.0, "sp": 40.0})  # 21.5 °C; setpoint 20 °C in half degrees
    address = lt.run(device.start())
    site = tmp_path / "site.yaml"
    site.write_text("site: kv-test\nzones:\n  office: {tags: [office]}\ndevices: {}\n")
    yield device, address, site
    lt.run(device.stop())
    lt.stop()


def ok(result: Any) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout) if result.stdout.strip().startswith("{") else result


def test_a_plugin_family_template_validates_and_bad_ones_are_located(run, kv, tmp_path):
    ok(run("--json", "templates", "validate", str(TEMPLATE)))
    listed = ok(run("--json", "templates", "list"))["templates"]
    assert {t["template"]: t["transport"] for t in listed}["kv-thermostat"] == "kv"
    bad = tmp_path / "bad.yaml"
    bad.write_text(TEMPLATE.read_text().replace("key: sp,", "key: t,"))
    result = run("templates", "validate", str(bad))
    assert result.exit_code == 2
    assert "key 't' is used twice" in result.stderr and "bad.yaml:" in result.stderr
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text(TEMPLATE.read_text().replace("transport: kv", "transport: kvv"))
    result = run("templates", "validate", str(unknown))
    assert result.exit_code == 2
    assert "unknown transport family 'kvv'. Did you mean 'kv'?" in result.stderr


def test_discover_read_write_and_rollback_through_the_public_hooks(run, kv):
    device, address, site = kv
    found = ok(run("--json", "--site", str(site), "discover", "--kv", address, "--save"))
    (candidate,) = found["candidates"]
    assert (candidate["template"], candidate["matched_by"]) == ("kv-thermostat", "kv model = KV-1")
    assert found["saved"]["added"]
    text = site.read_text()
    device_id = found["saved"]["added"][0]
    assert "transport: kv" in text.replace('"', "") and address in text

    readings = ok(run("--json", "--site", str(site), "read", device_id))["readings"]
    assert {r["point"]: r["value"] for r in readings} == {"temperature": 21.5, "setpoint": 20.0}

    # bounds are the template's, checked before anything is sent
    refused = run("--site", str(site), "write", device_id, "setpoint", "27", "--yes")
    assert refused.exit_code == 5, refused.output
    assert "above the maximum 26" in refused.stderr
    between = run("--site", str(site), "write", device_id, "setpoint", "21.3", "--yes")
    assert between.exit_code == 5 and "nearest: 21 or 21.5" in between.stderr
    assert device.sets == []

    written = ok(
        run("--json", "--site", str(site), "write", device_id, "setpoint", "22.5", "--yes")
    )
    assert written["outcome"]["status"] == "written" and written["outcome"]["after"] == 22.5
    assert device.sets == [("sp", "45")] and device.values["sp"] == 45.0
    log = ok(run("--json", "log", "--run", written["run"]))
    assert [e["kind"] for e in log["entries"]] == ["intent", "written"]
    assert log["entries"][1]["plugin"] == "tests.plugins.kv"

    undone = ok(run("--json", "--site", str(site), "rollback", "--last", "--yes"))
    assert [o["status"] for o in undone["outcomes"]] == ["written"]
    assert device.values["sp"] == 40.0


def test_a_device_exception_is_rejected_and_nothing_to_roll_back(run, kv):
    device, address, site = kv
    ok(run("--site", str(site), "discover", "--kv", address, "--save"))
    device_id = next(line.split(":")[0].strip() for line in site.read_text().splitlines()
                     if line.startswith("  kv-"))  # fmt: skip
    device.refuse.add("sp")
    result = run("--json", "--site", str(site), "write", device_id, "setpoint", "22", "--yes")
    assert result.exit_code == 4, result.output
    outcome = json.loads(result.stdout)["outcome"]
    assert outcome["status"] == "rejected" and "read-only now" in outcome["message"]
    assert device.values["sp"] == 40.0
    again = run("--site", str(site), "rollback", "--last", "--yes")
    assert again.exit_code == 2 and "wrote anything" in again.stderr


def test_ctrl_c_mid_write_says_what_is_unknown_and_how_to_undo_it(kv, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    from tests.conftest import REPO

    device, address, site = kv
    site.write_text(
        "site: s\ndevices:\n"
        f"  th: {{template: kv-thermostat, transport: kv, address: '{address}'}}\n"
    )
    device.slow["sp"] = 30.0  # the answer to SET never comes in time
    env = {**os.environ, "PYTHONPATH": str(REPO), "SMARTBUILD_HOME": str(tmp_path / "home")}
    for json_mode in (False, True):
        device.sets.clear()
        args = [sys.executable, "-m", "smartbuild", "--site", str(site)]
        args += ["--json"] if json_mode else []
        proc = subprocess.Popen([*args, "write", "th", "setpoint", "22", "--yes"], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
        deadline = time.monotonic() + 20
        while not device.sets and time.monotonic() < deadline:  # bounded: the SET has arrived
            time.sleep(0.05)
        assert device.sets, "the write never reached the device"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
        assert proc.returncode == 130, err
        assert "Traceback" not in err
        assert "1 unknown" in err and "unknown: th.setpoint" in err
        run_id = err.split("smartbuild rollback ")[1].split()[0]
        if json_mode:
            data = json.loads(out)  # one document
            assert (data["run"], data["unknown"], data["exit_status"]) == (
                run_id,
                ["th.setpoint"],
                130,
            )
        else:
            assert out == ""


def test_ctrl_c_ends_json_watch_with_clean_json_lines(kv, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    from tests.conftest import REPO

    _device, address, site = kv
    site.write_text(
        "site: s\ndevices:\n"
        f"  th: {{template: kv-thermostat, transport: kv, address: '{address}'}}\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "SMARTBUILD_HOME": str(tmp_path / "home")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "smartbuild", "--site", str(site), "--json", "watch", "th",
         "--interval", "0.1", "--duration", "30"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    first = proc.stdout.readline()  # bounded by the --duration of the watch
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    rest, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, err
    lines = [first, *rest.splitlines()]
    rows = [json.loads(line) for line in lines if line.strip()]  # every line is one JSON value
    assert rows and all(set(r) >= {"device", "point", "value"} for r in rows)
    assert "interrupted" in err


def test_hostile_device_text_is_shown_escaped_and_kept_exact_in_json(run, kv, tmp_path):
    device, address, site = kv
    device.vendor = "\x1b[31mEVIL[/red]\x1b]0;title\x07"
    table = run("--site", str(site), "discover", "--kv", address, "--save")
    assert table.exit_code == 0, table.output
    assert "\x1b" not in table.stdout and "\\x1b[31mEVIL" in table.stdout
    data = json.loads(run("--json", "--site", str(site), "discover", "--kv", address).stdout)
    assert data["candidates"][0]["identity"]["vendor"] == device.vendor
    listed = run("--site", str(site), "devices")
    assert listed.exit_code == 0, listed.output


def test_a_second_writer_waits_for_the_lease_with_wait_or_is_refused(kv, tmp_path):
    import os
    import subprocess
    import sys
    import time

    from tests.conftest import REPO

    device, address, site = kv
    site.write_text(
        "site: s\ndevices:\n"
        f"  th: {{template: kv-thermostat, transport: kv, address: '{address}'}}\n"
    )
    device.slow["sp"] = 1.0  # the first write holds its lease a while (within the kv timeout)
    env = {**os.environ, "PYTHONPATH": str(REPO), "SMARTBUILD_HOME": str(tmp_path / "home")}
    base = [sys.executable, "-m", "smartbuild", "--site", str(site), "--json", "write", "th"]

    def start(*args: str) -> subprocess.Popen[str]:
        return subprocess.Popen([*base, *args], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)  # fmt: skip

    first = start("setpoint", "22", "--yes")
    deadline = time.monotonic() + 20
    while not device.sets and time.monotonic() < deadline:  # the first holds the lease now
        time.sleep(0.05)
    refused = start("setpoint", "23", "--yes")
    out, _err = refused.communicate(timeout=30)
    assert refused.returncode == 5, out
    assert "is being written by run" in json.loads(out)["message"]
    waiting = start("setpoint", "23", "--yes", "--wait", "20")
    assert first.wait(timeout=30) == 0
    out, err = waiting.communicate(timeout=30)
    assert waiting.returncode == 0, err
    assert json.loads(out)["outcome"]["status"] == "written"
    assert device.values["sp"] == 46.0 and len(device.sets) == 2  # the refused one sent nothing
