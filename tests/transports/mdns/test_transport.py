"""MdnsTransport against real zeroconf responders on 127.0.0.1 (same event loop), plus pure tests
of TXT points, addresses and interface selection.

Every browse is pinned to 127.0.0.1. Other rigs may share the loopback, so names carry a tag and
assertions look only at what this test announced.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from smartbuild.config.schema import DeviceSpec
from smartbuild.errors import SmartbuildError, UsageError
from smartbuild.services.registry import load_template_file as load_template
from smartbuild.sim.peers.mdns import (
    Announcement,
    MdnsResponder,
    catalogue_examples,
    garbage_announcements,
    spread,
    with_tag,
)
from smartbuild.templates import TEMPLATE_DIR
from smartbuild.transports.base import Candidate, Device, DiscoverContext
from smartbuild.transports.mdns.catalogue import identify
from smartbuild.transports.mdns.family import MdnsOptions
from smartbuild.transports.mdns.interfaces import IFF_MULTICAST, IFF_UP, resolve_interfaces
from smartbuild.transports.mdns.records import MdnsDevice, MdnsService
from smartbuild.transports.mdns.schema import MdnsPoint as PointSpec
from smartbuild.transports.mdns.transport import (
    MdnsTransport,
    device_candidate,
    short_type,
    split_address,
    txt_reading,
)

LO = ["127.0.0.1"]


@pytest.fixture
async def responder() -> AsyncIterator[MdnsResponder]:
    async with MdnsResponder() as rig:
        yield rig


def new_tag() -> str:
    return uuid.uuid4().hex[:6]


def service_of(item: Announcement, interface: str = "127.0.0.1") -> MdnsService:
    txt = {str(k): str(v) for k, v in item.txt.items()}
    return MdnsService(item.full_type, item.name, item.server, item.addresses, item.port, txt,
                       interface)  # fmt: skip


class Recorder:
    """A transport with its warnings, reports and progress texts kept for assertions."""

    def __init__(self) -> None:
        self.warnings: list[str] = []
        self.reports: list[Candidate] = []
        self.progress: list[str] = []
        self.transport = MdnsTransport(warn=self.warnings.append)

    async def discover(
        self, until: Callable[[Recorder], bool] | None = None, **options: Any
    ) -> None:
        """Run a discovery, ending it once until(self) holds (else at the timeout)."""
        stop = asyncio.Event()

        def found(candidate: Candidate) -> None:
            self.reports.append(candidate)
            if until is not None and until(self):
                stop.set()

        settings = MdnsOptions(**{"interfaces": LO, "timeout": 8.0, **options})
        context = DiscoverContext({}, self.progress.append, stop)
        await self.transport.discover(settings, context, found)

    def ours(self, tag: str) -> dict[str, Candidate]:
        """Return the last report of each device whose host carries the tag."""
        return {c.address: c for c in self.reports if f"-{tag}.local:" in c.address}


def count(tag: str, n: int) -> Callable[[Recorder], bool]:
    """Return a predicate: n devices carrying the tag were reported."""
    return lambda rec: len(rec.ours(tag)) >= n


async def test_discover_reports_every_catalogue_device_identified(
    responder: MdnsResponder,
) -> None:
    tag = new_tag()
    examples = with_tag(catalogue_examples(), tag)
    await responder.add(*examples)
    rec = Recorder()
    await rec.discover(count(tag, len(examples)))
    found = rec.ours(tag)
    assert len(found) == len(examples)
    for item in examples:
        candidate = found[f"{item.host}.local:{item.port}"]
        expected = identify(service_of(item))
        assert candidate.transport == "mdns"
        assert candidate.identity["rule"] == item.rule
        for key in ("vendor", "model", "firmware", "kind"):
            assert candidate.identity.get(key) == getattr(expected, key), (item.rule, key)
        assert candidate.identity["type"] == item.type
        assert candidate.identity["types"] == [item.type]
        assert candidate.identity["txt"] == {str(k): str(v) for k, v in item.txt.items()}
        assert candidate.identity["name"] == item.instance
        assert candidate.identity["service"] == item.name
        assert candidate.name == expected.details.get("name", item.instance)
        assert candidate.extra["addresses"] == list(item.addresses)
        assert candidate.extra["interfaces"] == LO
        assert [s["port"] for s in candidate.extra["services"]] == [item.port]
        endpoint = (candidate.extra.get("endpoints") or {}).get("modbus-tcp", [None])[0]
        assert endpoint == (f"{item.addresses[0]}:{item.port}" if item.rule == "modbus" else None)
    assert found[f"living-room-air-{tag}.local:6053"].name == "Living Room Air"
    assert not [w for w in rec.warnings if tag in w]
    assert rec.progress[0].startswith("browsing ") and "127.0.0.1" in rec.progress[0]
    assert rec.progress[-1].endswith(" services")


async def test_services_of_one_host_merge_into_one_device_with_a_stable_address(
    responder: MdnsResponder,
) -> None:
    tag = new_tag()
    host = f"plug-{tag}"
    web = Announcement("_http._tcp", f"Plug web {tag}", host, 8080, {"path": "/"},
                       ("127.0.5.1", "127.0.5.2"))  # fmt: skip
    hap = Announcement("_hap._tcp", f"Plug {tag}", host, 80,
                       {"md": "Plug 1", "ci": "7", "id": "11:22:33:44:55:66", "sf": "1"},
                       ("127.0.5.1",))  # fmt: skip
    await responder.add(web)
    rec = Recorder()
    added: list[bool] = []

    def both_seen(rec: Recorder) -> bool:
        if rec.ours(tag) and not added:  # the web page is known: now the HomeKit service comes
            added.append(True)
            asyncio.get_running_loop().create_task(responder.add(hap))
        return any(len(c.identity["types"]) == 2 for c in rec.ours(tag).values())

    await rec.discover(both_seen)
    # HomeKit identifies the device better, yet it keeps the address it was first reported
    # with: that address is its key in the discovery table and the inventory.
    (device,) = rec.ours(tag).values()
    assert device.address == f"{host}.local:8080"
    assert device.identity["type"] == "_hap._tcp"
    assert sorted(device.identity["types"]) == ["_hap._tcp", "_http._tcp"]
    assert device.identity["model"] == "Plug 1"
    assert device.identity["txt_by_type"]["_http._tcp"] == {"path": "/"}
    assert device.identity["txt"]["md"] == "Plug 1"
    assert sorted(device.extra["addresses"]) == ["127.0.5.1", "127.0.5.2"]
    assert sorted(s["type"] for s in device.extra["services"]) == ["_hap._tcp", "_http._tcp"]


def test_the_main_service_is_the_most_informative_one() -> None:
    tag = new_tag()
    host = f"combo-{tag}"
    web = service_of(Announcement("_http._tcp", "Combo web", host, 80, {"path": "/"}))
    shelly = service_of(Announcement("_shelly._tcp", "Combo", host, 8080,
                                     {"gen": "2", "app": "Plus1PM", "ver": "1.4.4"}))  # fmt: skip
    device = MdnsDevice(f"host:{host}.local", f"{host}.local", ("127.0.0.1",), ("127.0.0.1",),
                        (web, shelly))  # fmt: skip
    candidate = device_candidate(device)
    assert candidate.address == f"{host}.local:8080"
    assert candidate.identity["type"] == "_shelly._tcp"
    assert candidate.identity["rule"] == "shelly-gen2"
    assert candidate.identity["txt"] == {"gen": "2", "app": "Plus1PM", "ver": "1.4.4",
                                         "path": "/"}  # fmt: skip
    assert device_candidate(device, "kept:1").address == "kept:1"


async def test_garbage_is_skipped_with_warnings_and_good_devices_still_come() -> None:
    tag = new_tag()
    good = with_tag(catalogue_examples()[:2], tag)
    garbage = with_tag(garbage_announcements(), tag)
    oversized, latin, no_address, _, _ = garbage
    groups = spread([*good, *garbage])
    async with MdnsResponder() as one, MdnsResponder() as two:
        await one.add(*groups[0])
        await two.add(*groups[1])
        rec = Recorder()
        # The address-less service never resolves: the browse runs to its timeout, and the
        # resolve still pending then becomes a warning.
        await rec.discover(timeout=1.5)
    found = rec.ours(tag)
    hosts = {c.identity["host"] for c in found.values()}
    assert {f"{g.host}.local" for g in good} <= hosts
    assert f"{oversized.host}.local" in hosts and f"{latin.host}.local" in hosts
    assert f"{no_address.host}.local" not in hosts
    text = "\n".join(w for w in rec.warnings if tag in w)
    assert all(w.startswith("mdns: ") for w in rec.warnings)
    assert "above the 1300-byte limit" in text
    assert "is not UTF-8" in text
    assert f"No address {tag}._http._tcp.local. on 127.0.0.1: skipped" in text
    assert "duplicate instance name" in text
    latin_device = next(c for c in found.values() if c.identity["host"] == f"{latin.host}.local")
    assert latin_device.identity["txt"]["path"] == "/caf\ufffd"


async def test_extra_types_and_all_types(responder: MdnsResponder) -> None:
    tag = new_tag()
    odd = Announcement("_acme-x._tcp", f"Odd {tag}", f"odd-{tag}", 4000, {"v": "1"})
    (shelly,) = with_tag(catalogue_examples()[1:2], tag)
    await responder.add(odd, shelly)
    address = f"odd-{tag}.local:4000"
    rec = Recorder()
    await rec.discover(count(tag, 1))
    assert set(rec.ours(tag)) == {f"{shelly.host}.local:80"}  # _acme-x is no catalogue type
    rec = Recorder()
    await rec.discover(count(tag, 2), types=["_acme-x._tcp"])
    assert rec.ours(tag)[address].identity["types"] == ["_acme-x._tcp"]
    assert "rule" not in rec.ours(tag)[address].identity  # no catalogue rule knows it
    rec = Recorder()
    await rec.discover(count(tag, 2), all_types=True)
    assert rec.ours(tag)[address].identity["txt"] == {"v": "1"}
    with pytest.raises(UsageError, match="not a DNS-SD service type"):
        await Recorder().discover(types=["acme"])


async def test_a_device_that_withdraws_during_the_browse_is_reported_and_warned(
    responder: MdnsResponder,
) -> None:
    tag = new_tag()
    (item,) = with_tag(catalogue_examples()[1:2], tag)  # the Shelly Plus 1PM
    await responder.add(item)
    removed: list[bool] = []

    def withdrawn(rec: Recorder) -> bool:
        if rec.ours(tag) and not removed:
            removed.append(True)
            asyncio.get_running_loop().create_task(responder.remove(item))
        return False  # runs to the timeout, long enough for the goodbye to arrive

    rec = Recorder()
    await rec.discover(withdrawn, timeout=1.0)
    assert len(rec.ours(tag)) == 1
    assert [w for w in rec.warnings if tag in w] == [
        f"mdns: {item.host}.local:{item.port} withdrew its services during the browse"
    ]


def device(template: str, address: str, **spec: Any) -> Device:
    loaded = load_template(TEMPLATE_DIR / f"{template}.yaml")
    return Device("dev", DeviceSpec(template=template, transport="mdns", address=address, **spec),
                  loaded)  # fmt: skip


async def test_read_re_resolves_the_service_and_returns_txt_points(
    responder: MdnsResponder,
) -> None:
    tag = new_tag()
    examples = {e.rule: e for e in with_tag(catalogue_examples(), tag)}
    await responder.add(examples["shelly-gen2"], examples["homekit"])
    transport = MdnsTransport()
    shelly = examples["shelly-gen2"]
    readings = await transport.read(
        device("shelly-plus-1pm", f"{shelly.host}.local:80", identity={"interface": "127.0.0.1"}),
        ["firmware", "generation", "application"],
    )
    assert [(r.point, r.value, r.error) for r in readings] == [
        ("firmware", "1.4.4", None), ("generation", 2, None), ("application", "Plus1PM", None)
    ]  # fmt: skip
    hap = examples["homekit"]
    # A hand-written entry: found by its address alone, on the interface named by `adapter`.
    readings = await transport.read(
        device("homekit-accessory", f"{hap.addresses[0]}:80", adapter="lo"),
        ["category", "status_flags", "model"],
    )
    by_point = {r.point: r for r in readings}
    assert (by_point["category"].value, by_point["category"].text) == (7, "outlet")
    assert by_point["status_flags"].value == 0
    assert by_point["model"].value == "Eve Energy 20EBO8301"
    assert transport.stats["dev"].requests == 2
    assert transport.stats["dev"].errors == 0


async def test_read_of_an_absent_device_or_key_gives_errors_not_exceptions(
    responder: MdnsResponder,
) -> None:
    tag = new_tag()
    (esp,) = (e for e in with_tag(catalogue_examples(), tag) if e.rule == "esphome")
    txt = {k: v for k, v in esp.txt.items() if k != "project_version"}
    await responder.add(
        Announcement(esp.type, esp.instance, esp.host, esp.port, txt, esp.addresses)
    )
    transport = MdnsTransport()
    node = device("esphome-node", f"{esp.host}.local:6053", adapter="127.0.0.1")
    readings = await transport.read(node, ["firmware", "platform"])
    assert readings[0].error == "the device announces no TXT key 'project_version'"
    assert readings[1].value == "ESP32"
    absent = device("esphome-node", f"gone-{tag}.local:6053", adapter="127.0.0.1", timeout=0.3)
    readings = await transport.read(absent, ["firmware", "platform"])
    assert [r.error for r in readings] == [
        f"no _esphomelib._tcp service of gone-{tag}.local:6053 within 0.3 s"
    ] * 2
    assert transport.stats["dev"].timeouts == 1
    with pytest.raises(UsageError, match="cannot write points"):
        await transport.write(node, "firmware", "2.0")


def test_txt_reading_converts_by_point_type() -> None:
    txt = {"ver": "1.4.4", "ff": "0x1", "t": "21.5", "ci": "7", "bad": "n/a"}
    assert txt_reading("d", "v", PointSpec(txt="ver", type="string"), txt).value == "1.4.4"
    assert txt_reading("d", "f", PointSpec(txt="ff"), txt).value == 1
    scaled = txt_reading("d", "t", PointSpec(txt="t", scale=10, unit="dK"), txt)
    assert (scaled.value, scaled.unit, scaled.raw) == (215.0, "dK", "21.5")
    assert txt_reading("d", "c", PointSpec(txt="CI", enum={7: "outlet"}), txt).text == "outlet"
    bad = txt_reading("d", "b", PointSpec(txt="bad"), txt)
    assert (bad.ok, bad.error) == (False, "TXT bad='n/a' is not a number")


def test_addresses_and_types() -> None:
    assert split_address("lamp.local:80") == ("lamp.local", 80)
    assert split_address("[fd00::5]:5540") == ("fd00::5", 5540)
    assert split_address("fd00::5") == ("fd00::5", None)
    assert split_address("lamp.local") == ("lamp.local", None)
    assert short_type("_hap._tcp.local.") == "_hap._tcp"


def fake_adapters() -> list[Any]:
    import ifaddr

    return [
        ifaddr.Adapter("lo", "lo", [ifaddr.IP("127.0.0.1", 8, "lo")], index=1),
        ifaddr.Adapter("eth0", "eth0", [ifaddr.IP("198.51.100.20", 24, "eth0")], index=2),
        ifaddr.Adapter("eth1", "eth1", [ifaddr.IP("203.0.113.2", 16, "eth1")], index=3),
    ]


def test_default_interfaces_skip_those_down_or_without_multicast() -> None:
    up = IFF_UP | IFF_MULTICAST
    flags = {"lo": 0x9, "eth0": up, "eth1": IFF_UP}  # eth1: multicast off
    chosen = resolve_interfaces([], adapters=fake_adapters(), flags=flags.get)
    assert chosen == ["198.51.100.20"]
    with pytest.raises(SmartbuildError, match="is multicast-capable; eth0, eth1: down") as info:
        resolve_interfaces([], adapters=fake_adapters(), flags={"eth0": 0, "eth1": 0}.get)
    assert "--interface 127.0.0.1" in (info.value.hint or "")
    with pytest.raises(
        SmartbuildError, match=r"interface eth1 \(203.0.113.2\) has multicast turned off"
    ):
        resolve_interfaces(["eth1"], adapters=fake_adapters(), flags=flags.get)
    # Loopback has no MULTICAST flag on Linux, yet pinned zeroconf works there.
    assert resolve_interfaces(["lo"], adapters=fake_adapters(), flags=flags.get) == LO


def test_mdns_templates_are_shipped_with_identify_blocks_and_txt_points() -> None:
    names = ["shelly-plus-1pm", "esphome-node", "hue-bridge", "homekit-accessory"]
    for name in names:
        template = load_template(Path(TEMPLATE_DIR) / f"{name}.yaml")
        assert template.transport == "mdns"
        assert template.identify is not None and template.identify.mdns is not None
        assert template.source and template.points
        assert all(p.txt and not p.writable for p in template.points.values())


def test_templates_match_through_identify_device_on_each_types_own_txt() -> None:
    from smartbuild.services.identify import identify_device
    from smartbuild.transports.mdns.schema import MdnsTemplate as Template

    host = "duo.local."
    shelly = MdnsService("_shelly._tcp.local.", "Duo._shelly._tcp.local.", host, ("127.0.0.1",),
                         80, {"gen": "2", "app": "Plus1PM", "ver": "1.4.4"})  # fmt: skip
    web = MdnsService("_http._tcp.local.", "Duo._http._tcp.local.", host, ("127.0.0.1",), 80,
                      {"app": "WebUI"})  # fmt: skip
    candidate = device_candidate(MdnsDevice("host:duo.local", "duo.local", ("127.0.0.1",),
                                            ("127.0.0.1",), (web, shelly)))  # fmt: skip
    shipped = {"shelly-plus-1pm": load_template(TEMPLATE_DIR / "shelly-plus-1pm.yaml")}
    match = identify_device(candidate=candidate, templates=shipped)
    assert match == ("shelly-plus-1pm", "mDNS _shelly._tcp, TXT app ~ ^Plus1PM$")

    def template(rule: dict[str, Any]) -> dict[str, Any]:
        data = {"template": "t", "title": "t", "transport": "mdns", "identify": {"mdns": rule}}
        return {"t": Template.model_validate(data)}

    # The rule's TXT is checked against its own type's record, not another service's.
    assert identify_device(candidate=candidate, templates=template(
        {"type": "_http._tcp", "txt": {"app": "^Plus1PM$"}})) is None  # fmt: skip
    # Fully qualified types in a template match too.
    assert identify_device(candidate=candidate, templates=template(
        {"type": "_http._tcp.local.", "txt": {"app": "^WebUI$"}})) is not None  # fmt: skip
    assert identify_device(candidate=candidate, templates=template({"type": "_hap._tcp"})) is None


def test_tagging_a_synthetic_fleet_keeps_every_name_unique() -> None:
    from smartbuild.sim.peers.mdns import synthetic_announcements

    fleet = with_tag(synthetic_announcements(300), "abcdef")
    assert len({item.name.lower() for item in fleet}) == 300
    assert all("abcdef" in item.instance and item.host.endswith("-abcdef") for item in fleet)
