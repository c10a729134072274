"""The mDNS browser against real zeroconf responders on 127.0.0.1 (same loop and another
process), plus pure tests of TXT decoding, merging, interface selection and error mapping.

Every browse here is pinned to 127.0.0.1; waits are for counts with timeouts, never sleeps.
"""

from __future__ import annotations

import asyncio
import errno
import os
import shutil
import subprocess
import sys
import textwrap
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from smartbuild.errors import SmartbuildError, UsageError
from smartbuild.sim.peers.mdns import (
    Announcement,
    MdnsResponder,
    catalogue_examples,
    garbage_announcements,
    spread,
    synthetic_announcements,
    with_tag,
)
from smartbuild.transports.mdns.browser import (
    TXT_SIZE_LIMIT,
    BrowseResult,
    MdnsService,
    browse,
    decode_txt,
    interface_error,
    merge_services,
    resolve_interfaces,
)
from smartbuild.transports.mdns.catalogue import identify

LO = ["127.0.0.1"]
SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.fixture
async def responder() -> AsyncIterator[MdnsResponder]:
    async with MdnsResponder() as rig:
        yield rig


async def wait_until(predicate: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    """Poll predicate until it holds; fail naming what was awaited."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.01)


def unique(label: str) -> str:
    """Return a name part no other rig on this machine's loopback is using."""
    return f"{label}{uuid.uuid4().hex[:8]}"


def tagged_examples() -> tuple[str, list[Announcement]]:
    """Return a fresh tag and the catalogue examples carrying it (see sim.mdns.with_tag)."""
    tag = uuid.uuid4().hex[:6]
    return tag, with_tag(catalogue_examples(), tag)


def by_name(result: BrowseResult) -> dict[str, MdnsService]:
    names = [s.name for s in result.services]
    assert len(names) == len(set(names)), "one service per name on one interface"
    return {s.name: s for s in result.services}


def ours(result: BrowseResult, announced: list[Announcement]) -> dict[str, MdnsService]:
    """Return the found services we announced (other rigs may share the loopback)."""
    names = {a.name for a in announced}
    return {name: s for name, s in by_name(result).items() if name in names}


async def browse_until_found(
    announced: list[Announcement], *, grace: float = 0.0, **kwargs: object
) -> BrowseResult:
    """Browse until every announced service was added (or the timeout), then grace seconds."""
    missing = {a.name for a in announced}
    stop = asyncio.Event()

    def on_update(event: str, service: MdnsService) -> None:
        missing.discard(service.name)
        if not missing:
            asyncio.get_running_loop().call_later(grace, stop.set)

    result = await browse(LO, stop=stop, on_update=on_update, **kwargs)  # type: ignore[arg-type]
    assert not missing, f"not found: {sorted(missing)}"
    return result


def assert_found_and_identified(result: BrowseResult, expected: list[Announcement]) -> None:
    found = ours(result, expected)
    assert len(found) == len(expected)
    for item in expected:
        service = found[item.name]
        assert service.type == item.full_type
        assert service.server == item.server
        assert service.port == item.port
        assert service.addresses == item.addresses
        assert service.interface == "127.0.0.1"
        assert service.txt == {str(k): str(v) for k, v in item.txt.items()}
        assert identify(service).rule == item.rule, item.name


async def test_finds_and_identifies_every_catalogue_example(responder: MdnsResponder) -> None:
    _, examples = tagged_examples()
    await responder.add(*examples)
    result = await browse_until_found(examples, timeout=8.0)
    assert result.stopped_early
    assert_found_and_identified(result, examples)
    hosts = {s.server for s in ours(result, examples).values()}
    assert len([d for d in result.devices if d.services[0].server in hosts]) == len(examples)
    assert not [w for w in result.warnings if any(e.instance in w for e in examples)]
    assert not [r for r in result.removed if r.name in {e.name for e in examples}]


async def test_finds_services_announced_by_another_process() -> None:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    tag, examples = tagged_examples()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "smartbuild.sim.peers.mdns", "--examples", "--tag", tag,
        "--until-stdin-closes",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 15)
        assert line.decode().split() == ["READY", str(len(examples))]
        result = await browse_until_found(examples, timeout=8.0)
        assert_found_and_identified(result, examples)
    finally:
        assert proc.stdin is not None
        proc.stdin.close()  # the rig stops at end of stdin
        try:
            code = await asyncio.wait_for(proc.wait(), 10)
        except asyncio.TimeoutError:
            proc.kill()
            raise
    assert code == 0


async def test_appear_update_and_disappear_during_a_browse(responder: MdnsResponder) -> None:
    first, second, third, late = synthetic_announcements(4, prefix=unique("shellyplus1pm-"))
    await responder.add(first, second, third)
    events: list[tuple[str, str]] = []
    stop = asyncio.Event()
    task = asyncio.create_task(
        browse(LO, ["_shelly._tcp"], timeout=20.0, stop=stop,
               on_update=lambda event, s: events.append((event, s.instance)))
    )  # fmt: skip

    def seen(event: str, item: Announcement) -> bool:
        return (event, item.instance) in events

    await wait_until(lambda: all(seen("added", a) for a in (first, second, third)), "3 added")
    await responder.remove(first)
    await responder.add(late)
    await responder.update_txt(second, {"gen": "2", "app": "Plus1PM", "ver": "1.5.0"})
    await wait_until(lambda: seen("removed", first), "removal of the first device")
    await wait_until(lambda: seen("added", late), "the late device")
    await wait_until(lambda: seen("updated", second), "the TXT update")
    stop.set()
    result = await asyncio.wait_for(task, 10)

    assert result.stopped_early
    found = ours(result, [first, second, third, late])
    assert set(found) == {second.name, third.name, late.name}
    assert [s.name for s in result.removed if s.name == first.name] == [first.name]
    assert found[second.name].txt["ver"] == "1.5.0"
    assert identify(found[second.name]).firmware == "1.5.0"
    assert events.count(("added", first.instance)) == 1
    assert events.count(("removed", first.instance)) == 1


async def test_garbage_is_skipped_with_warnings() -> None:
    tag = uuid.uuid4().hex[:6]
    good = with_tag(catalogue_examples()[:2], tag)
    garbage = with_tag(garbage_announcements(), tag)
    oversized, latin, no_address, duplicate, _ = garbage
    groups = spread([*good, *garbage])
    assert len(groups) == 2  # the duplicate instance name needs a second responder
    survivors = [oversized, latin, duplicate]
    async with MdnsResponder() as one, MdnsResponder() as two:
        await one.add(*groups[0])
        await two.add(*groups[1])
        # The address-less service never resolves: the browse ends on the stop, and the
        # resolve still pending for it becomes a warning. The grace lets the second claim of
        # the duplicate name arrive from the other responder.
        result = await browse_until_found(
            [*good, *survivors],
            grace=1.0,
            types=["_http._tcp", "_hap._tcp", "_shelly._tcp"],
            timeout=8.0,
        )
    found = ours(result, garbage + good)
    assert len(found) == 5
    assert no_address.name not in found
    assert found[oversized.name].txt["k11"] == "x" * 200
    assert found[latin.name].txt == {"path": "/caf\ufffd", "r\ufffdle": "boiler"}
    assert found[duplicate.name].port in (8081, 8082)
    mine = [w for w in result.warnings if any(g.name in w for g in garbage)]
    text = "\n".join(mine)
    assert f"above the {TXT_SIZE_LIMIT}-byte limit" in text
    assert "TXT 'path' is not UTF-8" in text
    assert "a TXT key is not UTF-8" in text
    assert f"{duplicate.name} on 127.0.0.1: duplicate instance name" in text
    assert f"{no_address.name} on 127.0.0.1: skipped, no address answered" in text
    assert len(mine) == 5, text
    assert_found_and_identified(result, good)


async def test_expect_ends_the_browse_early_and_timeout_otherwise(
    responder: MdnsResponder,
) -> None:
    # A type of its own: expect counts every device of the browsed types.
    service_type = f"_{unique('sbt')}._tcp"
    devices = synthetic_announcements(5, service_type=service_type)
    await responder.add(*devices)
    early = await browse(LO, [service_type], timeout=15.0, expect=5, quiet=0.2)
    assert early.stopped_early
    assert len(early.devices) == 5
    full = await browse(LO, [service_type], timeout=1.5)
    assert not full.stopped_early
    assert len(full.devices) == 5


async def test_all_types_enumerates_types_beyond_the_catalogue(responder: MdnsResponder) -> None:
    _, examples = tagged_examples()
    custom_type = f"_{unique('hvac')}._tcp"
    custom = Announcement(custom_type, "AHU 1", "ahu-1", 8080, {"fw": "3.2"}, ("127.0.5.1",))
    await responder.add(*examples, custom)
    result = await browse_until_found([*examples, custom], all_types=True, timeout=8.0)
    assert {e.full_type for e in examples} | {custom.full_type} <= set(result.types)
    assert_found_and_identified(result, examples)
    assert by_name(result)[custom.name].txt == {"fw": "3.2"}
    assert identify(by_name(result)[custom.name]).rule is None


async def test_types_limit_what_is_browsed(responder: MdnsResponder) -> None:
    _, examples = tagged_examples()
    await responder.add(*examples)
    hue = [e for e in examples if e.type == "_hue._tcp"]
    result = await browse_until_found(hue, types=["_hue._tcp"], timeout=5.0)
    assert result.types == ("_hue._tcp.local.",)
    assert {s.type for s in result.services} == {"_hue._tcp.local."}
    assert_found_and_identified(result, hue)


async def test_an_on_update_error_ends_the_browse_and_is_raised(responder: MdnsResponder) -> None:
    service_type = f"_{unique('sbt')}._tcp"
    await responder.add(*synthetic_announcements(1, service_type=service_type))

    def explode(event: str, service: MdnsService) -> None:
        raise RuntimeError(f"callback saw {event}")

    with pytest.raises(RuntimeError, match="callback saw added"):
        await browse(LO, [service_type], timeout=10.0, on_update=explode)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"interfaces": []}, "no interface"),
        ({"timeout": 0}, "timeout"),
        ({"timeout": 10_000}, "timeout"),
        ({"expect": 0}, "expect"),
        ({"quiet": -1}, "quiet"),
        ({"types": ["hap"]}, "not a DNS-SD service type"),
    ],
)
async def test_bad_arguments_are_usage_errors(kwargs: dict, message: str) -> None:
    args = {"interfaces": LO, **kwargs}
    with pytest.raises(UsageError, match=message):
        await browse(**args)


def test_importing_the_browser_does_not_import_zeroconf() -> None:
    code = "import sys, smartbuild.transports.mdns.browser, smartbuild.sim.peers.mdns; print('zeroconf' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True,
        env={**os.environ, "PYTHONPATH": str(SRC)},
    )  # fmt: skip
    assert out.stdout.strip() == "False"


@pytest.mark.skipif(
    shutil.which("unshare") is None or os.geteuid() != 0, reason="needs root and unshare(1)"
)
def test_port_5353_held_without_reuseport_is_a_clear_error(tmp_path: Path) -> None:
    # A private network namespace: blocking 5353 there cannot disturb anything else.
    script = tmp_path / "busy.py"
    script.write_text(textwrap.dedent("""
        import asyncio, socket
        from smartbuild.errors import SmartbuildError
        from smartbuild.transports.mdns.browser import browse
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("0.0.0.0", 5353))
        try:
            asyncio.run(browse(["127.0.0.1"], ["_http._tcp"], timeout=1))
        except SmartbuildError as exc:
            print("ERROR", exc.message, "|", exc.hint)
    """))  # fmt: skip
    out = subprocess.run(
        ["unshare", "-n", "sh", "-c", f"ip link set lo up && {sys.executable} {script}"],
        capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(SRC)},
    )  # fmt: skip
    if out.returncode != 0 and "unshare" in out.stderr:
        pytest.skip(f"no network namespace here: {out.stderr.strip()}")
    assert out.stdout.startswith("ERROR mDNS port 5353 on 127.0.0.1 is held"), out.stderr
    assert "SO_REUSEPORT" in out.stdout


# ---- pure parts ---------------------------------------------------------------------------


def test_decode_txt_repairs_and_warns() -> None:
    txt, warnings = decode_txt(
        {b"md": b"Eve", b"flag": None, b"v": b"\xffok", b"MD": b"second"}, 40, label="x"
    )
    assert txt == {"md": "Eve", "flag": "", "v": "\ufffdok"}  # first of md/MD wins (RFC 6763)
    assert warnings == ["x: TXT 'v' is not UTF-8; decoded as '\ufffdok' with replacements"]
    _, warnings = decode_txt({}, TXT_SIZE_LIMIT + 1, label="y")
    assert len(warnings) == 1
    assert "1301 bytes" in warnings[0]
    assert decode_txt({}, TXT_SIZE_LIMIT) == ({}, [])


def mk(name: str, server: str | None, addresses: tuple[str, ...], interface: str) -> MdnsService:
    return MdnsService("_http._tcp.local.", f"{name}._http._tcp.local.", server, addresses, 80,
                       {}, interface)  # fmt: skip


def test_merge_by_host_name_across_interfaces_and_types() -> None:
    a = mk("panel", "plc-7.local.", ("192.0.2.7",), "192.0.2.1")
    b = mk("panel", "PLC-7.local.", ("198.51.100.7",), "198.51.100.1")
    c = MdnsService("_modbus._tcp.local.", "plc._modbus._tcp.local.", "plc-7.local.",
                    ("192.0.2.7",), 502, {}, "192.0.2.1")  # fmt: skip
    other = mk("x", "other.local.", ("192.0.2.9",), "192.0.2.1")
    devices = merge_services([a, b, c, other])
    assert len(devices) == 2
    plc = next(d for d in devices if d.key == "host:plc-7.local")
    assert len(plc.services) == 3
    assert set(plc.interfaces) == {"192.0.2.1", "198.51.100.1"}
    assert set(plc.addresses) == {"192.0.2.7", "198.51.100.7"}


def test_merge_without_host_name_uses_the_address_set() -> None:
    devices = merge_services([
        mk("a", None, ("192.0.2.5", "fd00::5"), "i"),
        mk("b", None, ("fd00::5", "192.0.2.5"), "i"),
        mk("c", None, ("192.0.2.6",), "i"),
    ])  # fmt: skip
    assert sorted(len(d.services) for d in devices) == [1, 2]


def adapters() -> list:
    import ifaddr

    return [
        ifaddr.Adapter("lo", "lo", [ifaddr.IP("127.0.0.1", 8, "lo"), ifaddr.IP(("::1", 0, 0), 128, "lo")], index=1),
        ifaddr.Adapter("eth0", "eth0", [ifaddr.IP("198.51.100.20", 24, "eth0"),
                       ifaddr.IP(("fe80::1", 0, 2), 64, "eth0")], index=2),
        ifaddr.Adapter("wlan0", "wlan0", [ifaddr.IP("198.51.100.30", 24, "wlan0")], index=3),
        ifaddr.Adapter("thread0", "thread0", [ifaddr.IP(("fd11::5", 0, 0), 64, "thread0")], index=4),
    ]  # fmt: skip


def test_resolve_interfaces_by_name_and_address() -> None:
    assert resolve_interfaces(["eth0"], adapters=adapters()) == ["198.51.100.20"]
    assert resolve_interfaces(["thread0"], adapters=adapters()) == ["fd11::5"]
    assert resolve_interfaces(["fe80::1%eth0", "lo"], adapters=adapters()) == [
        "fe80::1",
        "127.0.0.1",
    ]
    assert resolve_interfaces(["eth0", "198.51.100.20"], adapters=adapters()) == ["198.51.100.20"]


def test_resolve_interfaces_default_is_every_non_loopback_interface() -> None:
    warnings: list[str] = []
    chosen = resolve_interfaces([], adapters=adapters(), warnings=warnings)
    assert chosen == ["198.51.100.20", "198.51.100.30", "fd11::5"]
    assert len(warnings) == 1
    assert "eth0" in warnings[0]
    assert "wlan0" in warnings[0]
    assert "198.51.100.0/24" in warnings[0]


def test_resolve_interfaces_rejects_unknown_names_listing_the_available_ones() -> None:
    with pytest.raises(UsageError) as info:
        resolve_interfaces(["eht0"], adapters=adapters())
    assert "'eht0'" in info.value.message
    assert info.value.hint is not None
    assert "eth0 (198.51.100.20, fe80::1)" in info.value.hint
    with pytest.raises(UsageError, match=r"unknown network address '203\.0\.113\.9'"):
        resolve_interfaces(["203.0.113.9"], adapters=adapters())
    with pytest.raises(SmartbuildError, match="no network interface other than loopback"):
        resolve_interfaces([], adapters=adapters()[:1])


def test_resolve_interfaces_on_this_machine_finds_loopback() -> None:
    assert resolve_interfaces(["lo"]) == ["127.0.0.1"]  # lists adapters only, opens nothing


def test_interface_errors_name_the_interface() -> None:
    busy = interface_error("192.0.2.1", OSError(errno.EADDRINUSE, "Address already in use"))
    assert "5353 on 192.0.2.1" in busy.message
    assert busy.hint is not None
    nodev = interface_error("203.0.113.9", OSError(errno.ENODEV, "No such device"))
    assert nodev.message == "cannot join the mDNS multicast group on 203.0.113.9: No such device"
    assert "MULTICAST" in (nodev.hint or "")
    other = interface_error("192.0.2.1", RuntimeError("No adapter found for IP address fd00::9"))
    assert "192.0.2.1" in other.message
