"""`smartbuild doctor` end to end: each condition is broken for real (buses, mounts, sockets).

Checks that need their own namespace (a read-only mount, a dummy interface, a tmpfs over the
systemd unit directory, a socket holding UDP 5353) run smartbuild in a child process inside
``unshare``, so nothing reaches this machine's real network or filesystems.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from smartbuild.sim.peers.dbusd import PrivateBus
from tests.commands.test_ble_cli import ThreadedBlueZ
from tests.conftest import REPO

ROOT = os.geteuid() == 0 and shutil.which("unshare") is not None
needs_root = pytest.mark.skipif(not ROOT, reason="needs root and unshare for private namespaces")
needs_dbus = pytest.mark.skipif(shutil.which("dbus-daemon") is None, reason="needs dbus-daemon")

BLE_SITE = """\
site: t
zones: {z1: {}}
devices:
  tag: {template: bthome-sensor, transport: ble, address: "5A:0B:00:00:00:01", zone: z1}
"""


def checks(result: Any) -> dict[str, dict[str, Any]]:
    """Return the checks of a --json doctor run by name."""
    data = json.loads(result.output if hasattr(result, "output") else result)
    return {c["name"]: c for c in data["checks"]}


def doctor(run: Any, *args: str, env: dict[str, str] | None = None) -> Any:
    return run("--json", "doctor", *args, env=env)


# ---- exit codes and selection ----------------------------------------------------------------


def test_selected_checks_that_pass_exit_0(run: Any) -> None:
    result = doctor(run, "--only", "python", "--only", "profiles", "--only", "templates")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["ok"] is True and data["counts"] == {"ok": 3, "warn": 0, "fail": 0}
    assert {c["name"] for c in data["checks"]} == {"python", "profiles", "templates"}


def test_a_warning_exits_4_and_says_the_fix(run: Any, chdir_tmp: Path) -> None:
    result = doctor(run, "--only", "site")  # no ./site.yaml
    assert result.exit_code == 4, result.output
    site = checks(result)["site"]
    assert site["status"] == "warn" and "no site file" in site["summary"]
    assert "discover" in site["fix"]


def test_an_explicit_missing_site_fails(run: Any, tmp_path: Path) -> None:
    result = run("--json", "--site", str(tmp_path / "nope.yaml"), "doctor", "--only", "site")
    assert result.exit_code == 4
    assert checks(result)["site"]["status"] == "fail"


def test_unknown_check_is_a_usage_error(run: Any) -> None:
    result = run("doctor", "--only", "nonsense")
    assert result.exit_code == 2
    assert "no check is called nonsense" in result.output


def test_table_lists_every_check_with_its_status(run: Any, chdir_tmp: Path) -> None:
    result = run("doctor", "--only", "core")
    assert result.exit_code == 4, result.output  # no site file here
    for name in ("python", "dependencies", "journal", "site", "profiles", "clock", "timezone"):
        assert name in result.output
    assert "fix:" in result.output


# ---- the site and its files ---------------------------------------------------------------


def test_broken_site_file_is_located(run: Any, tmp_path: Path) -> None:
    site = tmp_path / "site.yaml"
    site.write_text("site: t\nzones: {z1: {}}\ndevices:\n  d1: {template: acme-th200, "
                    "transport: modbus-tcp, address: '127.0.0.1:5020', zone: z9}\n")  # fmt: skip
    result = run("--json", "--site", str(site), "doctor", "--only", "site")
    assert result.exit_code == 4
    check = checks(result)["site"]
    assert check["status"] == "fail"
    assert f"{site}:4:" in check["summary"] and "unknown zone 'z9'" in check["summary"]


def test_invalid_site_profile_is_located(run: Any, tmp_path: Path) -> None:
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "bad.yaml").write_text(
        "profile: bad\nmodes: {x: {heatng_setpoint: 20}}\n"
    )
    site = tmp_path / "site.yaml"
    site.write_text("site: t\nprofiles: [profiles]\n")
    result = run("--json", "--site", str(site), "doctor", "--only", "profiles")
    check = checks(result)["profiles"]
    assert check["status"] == "fail", check
    assert "bad.yaml:" in check["summary"]


def test_a_broken_routine_is_located(run: Any, tmp_path: Path) -> None:
    (tmp_path / "routines").mkdir()
    (tmp_path / "routines" / "bad.yaml").write_text(
        "routine: bad\ntriggers: [{hub_start: true}]\nsteps: [{wait: soon}]\n"
    )
    site = tmp_path / "site.yaml"
    site.write_text("site: t\nzones: {z1: {}}\n")
    result = run("--json", "--site", str(site), "doctor", "--only", "routines")
    check = checks(result)["routines"]
    assert check["status"] == "fail", check
    assert "bad.yaml:3:" in check["summary"], check
    (tmp_path / "routines" / "bad.yaml").write_text(
        "routine: good\ntriggers: [{hub_start: true}]\nsteps: [{wait: 5m}]\n"
    )
    result = run("--json", "--site", str(site), "doctor", "--only", "routines")
    assert checks(result)["routines"]["status"] == "ok", checks(result)


# ---- the journal and the clock ----------------------------------------------------------------


def _journal(home: Path) -> Path:
    from smartbuild.journal import Journal

    journal = Journal(home)
    journal.start_run("r1", "test")
    journal.finish_run("r1", "done")
    journal.close()
    return home / "journal.db"


def test_journal_integrity_and_size(run: Any, isolated_home: Path) -> None:
    _journal(isolated_home)
    result = doctor(run, "--only", "journal")
    assert result.exit_code == 0, result.output
    check = checks(result)["journal"]
    assert check["details"]["integrity"] == ["ok"] and check["details"]["size_bytes"] > 0


def test_damaged_journal_fails_its_integrity_check(run: Any, isolated_home: Path) -> None:
    path = _journal(isolated_home)
    db = sqlite3.connect(path)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.executemany("INSERT INTO entries (run, time, kind, message) VALUES ('r1', ?, 'note', ?)",
                   [(time.time() - 10, "x" * 200) for _ in range(200)])  # fmt: skip
    db.commit()
    db.execute("PRAGMA journal_mode=DELETE")
    db.close()
    data = bytearray(path.read_bytes())
    page = 4096
    data[3 * page + 8 : 3 * page + 400] = b"\xff" * 392  # scribble over an index/table page
    path.write_bytes(bytes(data))
    result = doctor(run, "--only", "journal")
    assert result.exit_code == 4, result.output
    check = checks(result)["journal"]
    assert check["status"] == "fail", check
    assert "integrity" in check["summary"] or "cannot be read" in check["summary"]
    assert path.exists()  # never moved, deleted or recreated


def test_clock_behind_the_journal_fails(run: Any, isolated_home: Path) -> None:
    path = _journal(isolated_home)
    db = sqlite3.connect(path)
    db.execute(
        "INSERT INTO entries (run, time, kind) VALUES ('r1', ?, 'note')", (time.time() + 7200,)
    )
    db.commit()
    db.close()
    check = checks(doctor(run, "--only", "clock"))["clock"]
    assert check["status"] == "fail" and "went backwards" in check["summary"]


def _in_namespace(script: str, *, flags: str = "-m", env: dict[str, str] | None = None,
                  timeout: float = 60) -> subprocess.CompletedProcess[str]:  # fmt: skip
    """Run a shell script in new namespaces (``unshare -m``, ``-n`` ...) with smartbuild on PATH."""
    full = {**os.environ, **(env or {}), "SMARTBUILD": f"{sys.executable} -m smartbuild",
            "PYTHONPATH": str(REPO / "src"), "NO_COLOR": "1"}  # fmt: skip
    return subprocess.run(["unshare", *flags.split(), "sh", "-ec", script], capture_output=True,
                          text=True, env=full, timeout=timeout, check=False)  # fmt: skip


@needs_root
def test_read_only_home_fails_the_journal_check(tmp_path: Path) -> None:
    home = tmp_path / "home"
    _journal(home)
    done = _in_namespace(
        f"mount --bind {home} {home}; mount -o remount,ro,bind {home}; "
        f"$SMARTBUILD --home {home} --json doctor --only journal"
    )
    assert done.returncode == 4, done.stderr
    check = checks(done.stdout)["journal"]
    assert check["status"] == "fail", check
    assert "read-only" in check["summary"] and "--home" in check["fix"]


@needs_root
def test_read_only_parent_of_a_new_home_fails(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    done = _in_namespace(
        f"mount --bind {state} {state}; mount -o remount,ro,bind {state}; "
        f"$SMARTBUILD --home {state}/smartbuild --json doctor --only journal"
    )
    assert done.returncode == 4, done.stderr
    assert "not writable" in checks(done.stdout)["journal"]["summary"]


# ---- the MQTT broker ------------------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_broker_fails(run: Any) -> None:
    port = _closed_port()
    result = doctor(run, "--only", "mqtt", "--broker", f"mqtt://127.0.0.1:{port}")
    assert result.exit_code == 4
    check = checks(result)["mqtt"]
    assert check["status"] == "fail" and f"127.0.0.1:{port}" in check["summary"]
    assert "refused" in check["summary"].lower()


def test_listening_broker_accepts_a_connection(run: Any) -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        result = doctor(run, "--only", "mqtt", "--broker", f"127.0.0.1:{port}")
    assert result.exit_code == 0, result.output
    assert "accepts connections" in checks(result)["mqtt"]["summary"]


@needs_root
def test_broker_that_drops_packets_times_out() -> None:
    if shutil.which("iptables") is None:
        pytest.skip("needs iptables")
    done = _in_namespace(
        "ip link set lo up; iptables -A INPUT -d 127.0.9.0/24 -p tcp --syn -j DROP; "
        "$SMARTBUILD --json doctor --only mqtt --broker mqtt://127.0.9.9:1883 --timeout 0.5",
        flags="-n",
    )
    assert done.returncode == 4, done.stderr
    assert "no answer within 0.5 s" in checks(done.stdout)["mqtt"]["summary"]


# ---- BLE: the bus, BlueZ, adapters ----------------------------------------------------------


def test_no_system_bus(run: Any, tmp_path: Path) -> None:
    env = {"DBUS_SYSTEM_BUS_ADDRESS": f"unix:path={tmp_path}/missing"}
    result = doctor(run, "--only", "ble", env=env)
    assert result.exit_code == 4
    check = checks(result)["dbus"]
    assert check["status"] == "warn"  # the site uses no BLE device: a warning
    assert "No such file" in check["summary"] and "dbus" in check["fix"]
    site = tmp_path / "site.yaml"
    site.write_text(BLE_SITE)
    result = run("--json", "--site", str(site), "doctor", "--only", "ble", env=env)
    assert checks(result)["dbus"]["status"] == "fail"  # the site relies on it


@pytest.fixture
def bus() -> Iterator[PrivateBus]:
    if shutil.which("dbus-daemon") is None:
        pytest.skip("needs dbus-daemon")
    with PrivateBus() as private:
        yield private


def test_bus_without_bluez(run: Any, bus: PrivateBus) -> None:
    result = doctor(run, "--only", "ble", env={"DBUS_SYSTEM_BUS_ADDRESS": bus.address})
    found = checks(result)
    assert found["dbus"]["status"] == "ok"
    assert found["bluez"]["status"] == "warn" and "ServiceUnknown" in found["bluez"]["summary"]


def test_simulated_bluez_is_healthy(run: Any, bus: PrivateBus) -> None:
    rig = ThreadedBlueZ(bus.address)
    try:
        result = doctor(run, "--only", "ble", env={"DBUS_SYSTEM_BUS_ADDRESS": bus.address})
    finally:
        rig.stop()
    assert result.exit_code == 0, result.output
    found = checks(result)
    assert [found[n]["status"] for n in ("dbus", "bluez", "ble-adapter", "ble-passive")] == [
        "ok"
    ] * 4
    assert "hci0 00:1A:7D:DA:71:13" in found["ble-adapter"]["summary"]
    assert found["ble-passive"]["details"]["adapters"] == ["hci0"]


def test_powered_off_adapter(run: Any, bus: PrivateBus, tmp_path: Path) -> None:
    site = tmp_path / "site.yaml"
    site.write_text(BLE_SITE)
    rig = ThreadedBlueZ(bus.address, powered=False)
    try:
        result = run("--json", "--site", str(site), "doctor", "--only", "ble-adapter",
                     env={"DBUS_SYSTEM_BUS_ADDRESS": bus.address})  # fmt: skip
    finally:
        rig.stop()
    check = checks(result)["ble-adapter"]
    assert check["status"] == "fail" and "powered off" in check["summary"]
    assert "power on" in check["fix"]


# ---- Modbus RTU: serial ports ---------------------------------------------------------------


def _rtu_site(path: Path, port: str) -> Path:
    path.write_text("site: t\nzones: {z1: {}}\ndevices:\n  hp: {template: acme-hp-50, "
                    f"transport: modbus-rtu, address: '{port}', unit: 2, zone: z1}}\n")  # fmt: skip
    return path


def test_missing_serial_port_fails(run: Any, tmp_path: Path) -> None:
    site = _rtu_site(tmp_path / "site.yaml", "/dev/ttyUSB-smartbuild-missing")
    result = run("--json", "--site", str(site), "doctor", "--only", "modbus")
    check = checks(result)["serial-ports"]
    assert check["status"] == "fail" and "does not exist" in check["summary"]


def test_present_serial_port_passes(run: Any, tmp_path: Path) -> None:
    main, secondary = os.openpty()
    try:
        site = _rtu_site(tmp_path / "site.yaml", os.ttyname(secondary))
        result = run("--json", "--site", str(site), "doctor", "--only", "serial-ports")
    finally:
        os.close(main)
        os.close(secondary)
    assert result.exit_code == 0, result.output
    assert "RTU port(s) open" in checks(result)["serial-ports"]["summary"]


# ---- mDNS: interfaces and UDP 5353 ------------------------------------------------------------

HOLD_5353 = (
    "import socket, time; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
    "s.bind(('', 5353)); open('{ready}', 'w').close(); time.sleep(30)"
)


@needs_root
def test_port_5353_held_without_reuseport_fails(tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    holder = HOLD_5353.format(ready=ready)
    done = _in_namespace(
        f'ip link set lo up; {sys.executable} -c "{holder}" & pid=$!; '
        f"while [ ! -e {ready} ]; do sleep 0.05; done; "
        '$SMARTBUILD --json doctor --only mdns-port || true; echo "holder=$pid"; kill $pid',
        flags="-n",
    )
    out, _, tail = done.stdout.rpartition("holder=")
    check = checks(out)["mdns-port"]
    assert check["status"] == "warn", check  # the site has no mDNS device
    assert "without SO_REUSEPORT" in check["summary"]
    assert check["details"]["holders"][0]["pid"] == int(tail.strip())


@needs_root
def test_port_5353_shared_by_zeroconf_style_socket_passes() -> None:
    holder = ("import socket, time; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
              "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); "
              "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1); s.bind(('', 5353)); "
              "time.sleep(30)")  # fmt: skip
    done = _in_namespace(
        f'ip link set lo up; {sys.executable} -c "{holder}" & pid=$!; sleep 0.5; '
        "$SMARTBUILD --json doctor --only mdns-port; kill $pid",
        flags="-n",
    )
    check = checks(done.stdout)["mdns-port"]
    assert check["status"] == "ok", (check, done.stderr)
    assert "shared with python" in check["summary"]


@needs_root
def test_multicast_interfaces_loopback_only_then_a_veth_pair() -> None:
    done = _in_namespace(
        "ip link set lo up; $SMARTBUILD --json doctor --only multicast-interfaces || true; "
        "echo ---; ip link add sb0 type veth peer name sb1; ip link set sb0 up; "
        "$SMARTBUILD --json doctor --only multicast-interfaces",
        flags="-n",
    )
    before, _, after = done.stdout.partition("---")
    assert checks(before)["multicast-interfaces"]["status"] == "warn"
    check = checks(after)["multicast-interfaces"]
    assert check["status"] == "ok" and check["details"]["interfaces"] == ["sb0"], (
        done.stderr
    )  # its peer stays down


# ---- the hub's systemd unit -----------------------------------------------------------------


@needs_root
def test_broken_hub_unit_fails(tmp_path: Path) -> None:
    unit = (
        "[Service]\nExecStart=/opt/nowhere/smartbuild --site /srv/none.yaml hub run\nUser=nobody\n"
    )
    good = f"[Service]\nExecStart={sys.executable} -m smartbuild hub run\n"
    done = _in_namespace(
        "mount -t tmpfs tmpfs /etc/systemd/system 2>/dev/null || "
        "{ mkdir -p /etc/systemd/system && mount -t tmpfs tmpfs /etc/systemd/system; }; "
        f"printf '{unit}' > /etc/systemd/system/smartbuild-hub.service; "
        "$SMARTBUILD --json doctor --only hub-unit || true; echo ---; "
        f"printf '{good}' > /etc/systemd/system/smartbuild-hub.service; "
        "$SMARTBUILD --json doctor --only hub-unit"
    )
    broken, _, fixed = done.stdout.partition("---")
    check = checks(broken)["hub-unit"]
    assert check["status"] == "fail", (check, done.stderr)
    assert "/opt/nowhere/smartbuild does not exist" in check["summary"]
    assert "/srv/none.yaml does not exist" in check["summary"]
    assert checks(fixed)["hub-unit"]["status"] == "ok", done.stderr
    assert not Path("/etc/systemd/system/smartbuild-hub.service").exists()  # namespace only
