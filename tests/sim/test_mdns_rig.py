"""The mDNS responder rig: its data is sound and it refuses what it must not do."""

from __future__ import annotations

import ipaddress

import pytest

from smartbuild.errors import UsageError
from smartbuild.sim.peers.mdns import (
    Announcement,
    MdnsResponder,
    catalogue_examples,
    garbage_announcements,
    main,
    spread,
    synthetic_announcements,
    with_tag,
)
from smartbuild.transports.mdns.catalogue import load_catalogue


def test_one_example_per_catalogue_rule_on_distinct_loopback_hosts() -> None:
    examples = catalogue_examples()
    assert sorted(e.rule for e in examples) == sorted(r["id"] for r in load_catalogue().rules)
    assert len({e.name.lower() for e in examples}) == len(examples)
    assert len({e.host.lower() for e in examples}) == len(examples)
    addresses = [a for e in examples for a in e.addresses]
    assert len(set(addresses)) == len(examples)
    assert all(ipaddress.ip_address(a).is_loopback for a in addresses)


def test_tags_make_names_unique_and_keep_identification() -> None:
    from smartbuild.transports.mdns.browser import MdnsService
    from smartbuild.transports.mdns.catalogue import identify

    tagged = with_tag(catalogue_examples(), "0a1b2c")
    assert all(t.host.endswith("-0a1b2c") for t in tagged)
    assert {t.instance for t in tagged}.isdisjoint({e.instance for e in catalogue_examples()})
    by_rule = {t.rule: t for t in tagged}
    assert by_rule["shelly-http"].instance == "shelly1pm-84CCA80A1B2C"
    assert by_rule["homekit"].instance == "Eve Energy 2A3F 0a1b2c"
    for item in tagged:
        service = MdnsService(item.full_type, item.name, item.server, item.addresses, item.port,
                              {str(k): str(v) for k, v in item.txt.items()})  # fmt: skip
        assert identify(service).rule == item.rule
    with pytest.raises(UsageError, match="6 lower-case hex digits"):
        with_tag(tagged, "XYZ")


def test_garbage_contains_each_kind_of_trouble() -> None:
    garbage = garbage_announcements()
    sizes = [sum(len(str(k)) + 1 + len(str(v)) + 1 for k, v in g.txt.items()) for g in garbage]
    assert max(sizes) > 1300
    assert any(isinstance(v, bytes) for g in garbage for v in g.txt.values())
    assert any(isinstance(k, bytes) for g in garbage for k in g.txt)
    assert any(g.addresses == () for g in garbage)
    names = [g.name for g in garbage]
    assert len(names) - len(set(names)) == 1
    groups = spread(garbage)
    assert [len(g) for g in groups] == [len(garbage) - 1, 1]


def test_synthetic_devices_are_distinct() -> None:
    devices = synthetic_announcements(300)
    assert len({d.name for d in devices}) == 300
    assert len({d.addresses for d in devices}) == 300
    assert all(d.rule == "shelly-gen2" for d in devices)


def test_the_rig_refuses_non_loopback_interfaces() -> None:
    with pytest.raises(UsageError, match="loopback only"):
        MdnsResponder("192.0.2.1")


async def test_the_rig_refuses_duplicates_oversized_entries_and_unknown_names() -> None:
    item = synthetic_announcements(1)[0]
    async with MdnsResponder() as rig:
        await rig.add(item)
        assert rig.announcements == [item]
        with pytest.raises(UsageError, match="already announced"):
            await rig.add(item)
        long = Announcement("_http._tcp", "Long", "long", 80, {"k": "x" * 260})
        with pytest.raises(UsageError, match="above 255"):
            await rig.add(long)
        with pytest.raises(UsageError, match="not announced"):
            await rig.remove("nothing._http._tcp.local.")
        await rig.remove(item)
        assert rig.announcements == []


def test_the_command_line_needs_something_to_announce(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main([])
    assert info.value.code == 2
    assert "nothing to announce" in capsys.readouterr().err
