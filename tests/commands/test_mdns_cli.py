"""mDNS end to end through the CLI: discover, templates, save, read, Modbus chaining, the merged run
and bad input, against real zeroconf responders pinned to 127.0.0.1.

CliRunner runs the command (and its event loop) in the test thread, so responders run in another
process (`python -m smartbuild.sim.peers.mdns`) or on a loop in a background thread. Every browse here
is pinned to 127.0.0.1 with --interface or a saved interface; other rigs may share the loopback,
so names carry a tag and assertions look only at what this module announced. A browse ends early
with --expect where the test knows every device on the loopback (the catalogue examples plus its
own; tests run in a private network namespace), with --timeout as the bound; browses that must
see a device stay absent, or garbage of unknown count, run for their --timeout.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from smartbuild.sim.peers.mdns import (
    Announcement,
    MdnsResponder,
    catalogue_examples,
    garbage_announcements,
    spread,
    with_tag,
)
from smartbuild.transports.mdns.catalogue import identify
from tests.rigs import LoopThread, farm_thread

SRC = Path(__file__).resolve().parents[2] / "src"
LO = ("--interface", "127.0.0.1")
TEMPLATES = {
    "shelly-gen2": "shelly-plus-1pm",
    "esphome": "esphome-node",
    "hue-bridge": "hue-bridge",
    "homekit": "homekit-accessory",
}


class Responders:
    """MdnsResponders on a loop in a background thread (CliRunner blocks the test thread)."""

    def __init__(self) -> None:
        self.lt = LoopThread()
        self.rigs: list[MdnsResponder] = []

    def add(self, *items: Announcement) -> None:
        """Announce items, spreading duplicate instance names over several responders."""

        async def start(group: list[Announcement]) -> MdnsResponder:
            rig = MdnsResponder()
            await rig.__aenter__()
            await rig.add(*group)
            return rig

        for group in spread(items):
            self.rigs.append(self.lt.run(start(group)))

    def close(self) -> None:
        """Send goodbyes, close the sockets, stop the loop."""
        for rig in self.rigs:
            self.lt.run(rig.close())
        self.lt.stop()


@pytest.fixture
def announce() -> Iterator[Responders]:
    rigs = Responders()
    yield rigs
    rigs.close()


@pytest.fixture(scope="module")
def examples() -> Iterator[dict[str, Announcement]]:
    """Announce every catalogue example from another process for the whole module."""
    tag = uuid.uuid4().hex[:6]
    proc = subprocess.Popen(
        [sys.executable, "-m", "smartbuild.sim.peers.mdns", "--examples", "--tag", tag,
         "--until-stdin-closes"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(SRC)},
    )  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None
    try:
        items = with_tag(catalogue_examples(), tag)
        assert proc.stdout.readline().split() == ["READY", str(len(items))]
        yield {item.rule or item.name: item for item in items}
    finally:
        proc.stdin.close()  # the rig stops at the end of its stdin
        try:
            assert proc.wait(10) == 0
        finally:
            if proc.poll() is None:
                proc.kill()


def tag_of(items: dict[str, Announcement]) -> str:
    return next(iter(items.values())).host[-6:]


def ok(result: Any) -> Any:
    assert result.exit_code == 0, result.output
    return result


def ours(result: Any, tag: str) -> dict[str, dict[str, Any]]:
    """Return the candidates whose address carries the tag, by address."""
    found = json.loads(result.stdout)["candidates"]
    return {c["address"]: c for c in found if tag in c["address"]}


def test_discover_finds_and_identifies_every_catalogue_device(
    run: Any, examples: dict[str, Announcement]
) -> None:
    tag = tag_of(examples)
    result = ok(run("--json", "discover", "--mdns", *LO, "--expect", str(len(examples))))
    found = ours(result, tag)
    mdns = {a: c for a, c in found.items() if c["transport"] == "mdns"}
    assert len(mdns) == len(examples)
    for rule, item in examples.items():
        candidate = mdns[f"{item.host}.local:{item.port}"]
        service = item.full_type, item.name, item.server, item.addresses, item.port
        expected = identify(_service(*service, item.txt))
        assert candidate["identity"]["rule"] == rule
        for key in ("vendor", "model", "firmware", "kind"):
            assert candidate["identity"].get(key) == getattr(expected, key), (rule, key)
        assert candidate["template"] == TEMPLATES.get(rule), rule
        assert candidate["extra"]["interfaces"] == ["127.0.0.1"]
    shelly = mdns[f"{examples['shelly-gen2'].host}.local:80"]
    assert shelly["matched_by"] == "mDNS _shelly._tcp, TXT app ~ ^Plus1PM$"
    assert (shelly["identity"]["vendor"], shelly["identity"]["model"]) == ("Shelly", "Plus1PM")
    assert shelly["identity"]["firmware"] == "1.4.4"
    assert json.loads(result.stdout)["errors"] == []


def _service(stype: str, name: str, server: str, addresses: Any, port: int, txt: Any) -> Any:
    from smartbuild.transports.mdns.records import MdnsService

    text = {str(k): str(v) for k, v in txt.items()}
    return MdnsService(stype, name, server, addresses, port, text, "127.0.0.1")


def test_save_merges_services_of_a_device_and_read_returns_txt_points(
    run: Any, announce: Responders, examples: dict[str, Announcement], tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:6]
    host = f"porch-{tag}"
    hap = Announcement("_hap._tcp", f"Porch light {tag}", host, 80,
                       {"md": "Porch 2", "ci": "5", "id": "A0:B1:C2:D3:E4:F5", "sf": "0",
                        "c#": "4", "pv": "1.1"}, ("127.0.6.1",))  # fmt: skip
    web = Announcement("_http._tcp", f"Porch light web {tag}", host, 80, {"path": "/"},
                       ("127.0.6.1", "127.0.6.2"))  # fmt: skip
    announce.add(hap, web)
    site = tmp_path / "site.yaml"
    expect = str(len(examples) + 1)  # the porch's two services are one device
    args = ("--site", str(site), "discover", "--mdns", *LO, "--save", "--expect", expect,
            "--timeout", "5")  # fmt: skip
    table = ok(run(*args))  # a table on stdout, people's messages on stderr
    assert "Porch 2" in table.stdout and "homekit-accessory" in table.stdout
    assert "Shelly Plus1PM 1.4.4" in table.stdout and "shelly-plus-1pm" in table.stdout
    assert f"saved to {site}" in table.stderr
    devices = yaml.safe_load(site.read_text())["devices"]
    (porch_id,) = [d for d, spec in devices.items() if tag in spec["address"]]
    entry = devices[porch_id]
    assert entry["address"] == f"{host}.local:80"
    assert entry["transport"] == "mdns" and entry["template"] == "homekit-accessory"
    assert entry["identity"]["interface"] == "127.0.0.1"  # `read` browses there only
    assert entry["identity"]["model"] == "Porch 2"
    again = ok(run("--json", *args))
    (porch,) = ours(again, tag).values()
    assert sorted(porch["identity"]["types"]) == ["_hap._tcp", "_http._tcp"]
    assert sorted(porch["extra"]["addresses"]) == ["127.0.6.1", "127.0.6.2"]
    assert porch_id in json.loads(again.stdout)["saved"]["present"]
    after = yaml.safe_load(site.read_text())["devices"]
    assert len([d for d in after.values() if tag in d["address"]]) == 1
    assert set(after) >= set(devices)

    read = ok(run("--site", str(site), "--json", "read", porch_id))
    values = {r["point"]: (r["value"], r.get("text")) for r in json.loads(read.stdout)["readings"]}
    assert values == {
        "model": ("Porch 2", None), "device_id": ("A0:B1:C2:D3:E4:F5", None),
        "category": (5, "lighting"), "status_flags": (0, None), "config_number": (4, None),
        "protocol_version": ("1.1", None),
    }  # fmt: skip
    shelly_id = next(d for d, s in after.items() if s["address"].startswith("shellyplus1pm")
                     and tag_of(examples) in s["address"])  # fmt: skip
    read = ok(run("--site", str(site), "--json", "read", shelly_id, "firmware", "generation"))
    assert [r["value"] for r in json.loads(read.stdout)["readings"]] == ["1.4.4", 2]
    write = run("--site", str(site), "write", shelly_id, "firmware", "2.0", "--yes")
    assert write.exit_code == 5, write.output  # TXT points are read-only: refused before any I/O
    assert "is read-only in template 'shelly-plus-1pm'" in write.output


def test_a_modbus_announcement_chains_into_modbus_identification(
    run: Any, announce: Responders, examples: dict[str, Announcement]
) -> None:
    from smartbuild.sim.peers.modbus_farm import ServerSpec, SimUnit

    tag = uuid.uuid4().hex[:6]
    host = f"127.0.{7 + int(tag[:2], 16) % 100}.{1 + int(tag[2:4], 16) % 250}"
    unit = SimUnit(1, input={0: 215, 1: 450}, holding={10: 210, 11: 260, 12: 1},
                   discrete={0: True}, identity={"VendorName": "ACME", "ProductCode": "TH-200",
                                                 "MajorMinorRevision": "2.1"})  # fmt: skip
    with farm_thread([ServerSpec(host, [unit], port=0)]) as farm:
        ((_, port),) = farm.endpoints
        announce.add(Announcement("_modbus._tcp", f"Thermostat {tag}", f"th-{tag}", port,
                                  {"vendor": "ACME", "model": "TH-200", "unit": "1"}, (host,)))  # fmt: skip
        expect = str(len(examples) + 1)
        result = ok(run("--json", "discover", "--mdns", *LO, "--expect", expect, "--timeout", "5"))
        served = farm.stats(f"{host}:{port}").total()
    found = json.loads(result.stdout)["candidates"]
    (announced,) = [c for c in found if c["address"] == f"th-{tag}.local:{port}"]
    assert announced["extra"]["endpoints"] == {"modbus-tcp": [f"{host}:{port}"]}
    modbus = [
        c for c in found if c["transport"] == "modbus-tcp" and c["address"] == f"{host}:{port}"
    ]
    assert modbus and {c["template"] for c in modbus} == {"acme-th200"}
    assert modbus[0]["identity"]["vendor_name"] == "ACME"
    assert served > 0  # the farm answered requests: identification really went over Modbus


@pytest.mark.skipif(shutil.which("dbus-daemon") is None, reason="needs dbus-daemon")
def test_discover_without_a_protocol_flag_merges_every_transport(
    run: Any, announce: Responders, examples: dict[str, Announcement],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    from smartbuild.sim.peers.bluez import BlueZService, sensor_device
    from smartbuild.sim.peers.dbusd import PrivateBus

    with PrivateBus() as bus:
        monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", bus.address)
        ble = LoopThread()
        service = BlueZService(bus.address)
        ble.run(service.start())

        async def add() -> None:
            service.add_device(sensor_device("5A:0B:00:00:00:42"))

        ble.run(add())
        try:
            # No --mdns, --ble or --modbus: every loaded transport runs; --interface keeps
            # mDNS on loopback and --duration bounds the BLE scan.
            result = run("--json", "discover", *LO, "--expect", str(len(examples)),
                         "--timeout", "5", "--duration", "5", "--until", "1")  # fmt: skip
        finally:
            ble.run(service.stop())
            ble.stop()
    ok(result)
    found = json.loads(result.stdout)["candidates"]
    transports = {c["transport"] for c in found}
    assert {"mdns", "ble"} <= transports
    assert len([c for c in found if c["transport"] == "mdns" and tag_of(examples) in c["address"]]) == len(examples)  # fmt: skip
    assert [c["address"] for c in found if c["transport"] == "ble"] == ["5A:0B:00:00:00:42"]
    assert json.loads(result.stdout)["errors"] == []


def test_garbage_announcements_are_skipped_with_warnings(run: Any, announce: Responders) -> None:
    tag = uuid.uuid4().hex[:6]
    oversized, latin, no_address, duplicate, _ = garbage = with_tag(garbage_announcements(), tag)
    announce.add(*garbage)
    result = ok(run("--json", "discover", "--mdns", *LO, "--timeout", "1.5"))
    hosts = {c["identity"]["host"] for c in ours(result, tag).values()}
    assert {f"{oversized.host}.local", f"{latin.host}.local"} <= hosts
    assert f"{no_address.host}.local" not in hosts
    warnings = [line for line in result.stderr.splitlines() if tag in line]
    assert all(line.startswith("warning: mdns: ") for line in warnings)
    text = "\n".join(warnings)
    assert "above the 1300-byte limit" in text and "is not UTF-8" in text
    assert f"{no_address.instance}._http._tcp.local. on 127.0.0.1: skipped" in text
    assert f"{duplicate.instance}._http._tcp.local. on 127.0.0.1: duplicate instance name" in text
    assert "Traceback" not in result.output


def test_type_and_all_types(
    run: Any, announce: Responders, examples: dict[str, Announcement]
) -> None:
    tag = uuid.uuid4().hex[:6]
    announce.add(Announcement("_acme-x._tcp", f"Odd {tag}", f"odd-{tag}", 4000, {"v": "1"}))
    address = f"odd-{tag}.local:4000"
    plain = run("--json", "discover", "--mdns", *LO, "--expect", "1", "--timeout", "5")
    assert plain.exit_code == 0, plain.output  # the catalogue examples answer the default types
    assert ours(plain, tag_of(examples))
    assert address not in ours(plain, tag)
    typed = ok(run("--json", "discover", "--mdns", *LO, "--type", "_acme-x._tcp", "--timeout", "2"))
    assert ours(typed, tag)[address]["identity"]["types"] == ["_acme-x._tcp"]
    every = ok(run("--json", "discover", "--mdns", *LO, "--all-types", "--timeout", "3"))
    assert ours(every, tag)[address]["identity"]["txt"] == {"v": "1"}
    bad = run("discover", "--mdns", *LO, "--type", "acme")
    assert bad.exit_code == 2, bad.output
    assert "not a DNS-SD service type: 'acme'" in bad.stderr


def test_an_unknown_interface_is_a_clear_usage_error(run: Any) -> None:
    result = run("discover", "--mdns", "--interface", "nosuch0")
    assert result.exit_code == 2, result.output
    assert "unknown network interface 'nosuch0'" in result.stderr
    assert "available: lo (127.0.0.1" in result.stderr
    assert "Traceback" not in result.output


def _in_private_netns(tmp_path: Path, script: str) -> subprocess.CompletedProcess[str]:
    """Run a shell script in a new network namespace holding only a loopback interface."""
    out = subprocess.run(
        ["unshare", "-n", "sh", "-c", f"ip link set lo up && {script}"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(SRC), "SMARTBUILD_HOME": str(tmp_path / "home"),
             "SMARTBUILD_LOAD_PLUGINS": "", "NO_COLOR": "1"},
    )  # fmt: skip
    if out.returncode != 0 and "unshare" in out.stderr:
        pytest.skip(f"no network namespace here: {out.stderr.strip()}")
    return out


needs_netns = pytest.mark.skipif(
    shutil.which("unshare") is None or shutil.which("ip") is None or os.geteuid() != 0,
    reason="needs root, unshare(1) and ip(8)",
)


@needs_netns
def test_no_multicast_capable_interface_is_a_clear_error(tmp_path: Path) -> None:
    # A private namespace has only lo: the default (every non-loopback interface) finds none.
    out = _in_private_netns(tmp_path, f"{sys.executable} -m smartbuild discover --mdns")
    assert out.returncode == 1, out.stderr
    assert "no network interface other than loopback is multicast-capable" in out.stderr
    assert "--interface 127.0.0.1" in out.stderr and "Traceback" not in out.stderr


@needs_netns
def test_port_5353_held_by_another_program_is_a_clear_error(tmp_path: Path) -> None:
    holder = tmp_path / "hold.py"
    holder.write_text(textwrap.dedent("""
        import socket, subprocess, sys
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("0.0.0.0", 5353))  # no SO_REUSEPORT, like a responder that will not share
        cmd = [sys.executable, "-m", "smartbuild", "discover", "--mdns", "--interface", "lo"]
        sys.exit(subprocess.run(cmd).returncode)
    """))  # fmt: skip
    out = _in_private_netns(tmp_path, f"{sys.executable} {holder}")
    assert out.returncode == 1, out.stderr
    assert "mDNS port 5353 on 127.0.0.1 is held by a program" in out.stderr
    assert "avahi" in out.stderr and "Traceback" not in out.stderr


def test_the_mdns_docs_name_every_rule_template_and_option() -> None:
    from smartbuild.services.plugins import get_plugin_manager
    from smartbuild.services.registry import build_registry
    from smartbuild.transports.mdns.catalogue import load_catalogue

    docs = (SRC.parent / "docs" / "mdns.md").read_text()
    for rule in load_catalogue().rules:
        assert f"| `{rule['id']}` | `{rule['type'].removesuffix('.local.')}` |" in docs, rule["id"]
    templates = build_registry(get_plugin_manager()).templates
    for name, entry in templates.items():
        if entry.value.transport == "mdns":
            assert f"`{name}`" in docs, f"docs/mdns.md does not name the template {name}"
    for option in ("--mdns", "--interface", "--type", "--all-types", "--timeout", "--expect",
                   "--save", "--json"):  # fmt: skip
        assert option in docs, option
