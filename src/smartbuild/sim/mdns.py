"""mDNS responder rig for tests, the simulator and benchmarks (loopback only by default).

One ``AsyncZeroconf`` pinned to one loopback address announces many services at once
(``cooperating_responders=True`` skips the ~1 s name probe per service). Run it in another
process with ``python -m smartbuild.sim.mdns --examples``; it prints ``READY <n>`` once the
services are registered and stops on SIGTERM, SIGINT or end of stdin.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import ipaddress
import os
import re
import signal
import sys
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any

from smartbuild.errors import SmartbuildError, UsageError
from smartbuild.transports.mdns_catalogue import normalise_type

if TYPE_CHECKING:
    from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

TxtValue = str | bytes | None


@dataclass(frozen=True)
class Announcement:
    """One service to announce: type, instance name, host, port, TXT and addresses."""

    type: str  # e.g. "_hap._tcp"
    instance: str
    host: str  # without ".local."
    port: int
    txt: Mapping[str | bytes, TxtValue] = field(default_factory=dict, hash=False)
    addresses: tuple[str, ...] = ("127.0.0.1",)  # empty: announce no address at all
    rule: str | None = None  # the catalogue rule this announcement should match

    @property
    def full_type(self) -> str:
        """Return the fully qualified service type."""
        return normalise_type(self.type)

    @property
    def name(self) -> str:
        """Return the fully qualified instance name."""
        return f"{self.instance}.{self.full_type}"

    @property
    def server(self) -> str:
        """Return the SRV target host name."""
        return f"{self.host}.local."


def _loopback_only(interface: str) -> str:
    if not ipaddress.ip_address(interface).is_loopback:
        raise UsageError(
            f"the mDNS rig announces on loopback only, not {interface}",
            hint="use an address in 127.0.0.0/8",
        )
    return interface


class MdnsResponder:
    """Announce many DNS-SD services from one zeroconf instance pinned to a loopback address."""

    def __init__(self, interface: str = "127.0.0.1") -> None:
        self.interface = _loopback_only(interface)
        self._azc: AsyncZeroconf | None = None
        self._infos: dict[str, AsyncServiceInfo] = {}
        self._announcements: dict[str, Announcement] = {}
        self._broadcasts: list[Awaitable[Any]] = []

    async def __aenter__(self) -> MdnsResponder:
        from zeroconf import IPVersion
        from zeroconf.asyncio import AsyncZeroconf

        self._azc = AsyncZeroconf(interfaces=[self.interface], ip_version=IPVersion.V4Only)
        await self._azc.zeroconf.async_wait_for_start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def announcements(self) -> list[Announcement]:
        """Return what is announced now."""
        return list(self._announcements.values())

    def _zc(self) -> AsyncZeroconf:
        if self._azc is None:
            raise SmartbuildError("MdnsResponder is not started; use 'async with MdnsResponder()'")
        return self._azc

    async def add(self, *announcements: Announcement) -> None:
        """Register announcements concurrently (no name probing: the rig owns its names)."""
        azc = self._zc()
        batch: dict[str, AsyncServiceInfo] = {}
        for item in announcements:
            key = item.name.lower()
            if key in self._infos or key in batch:
                raise UsageError(
                    f"{item.name} is already announced by this responder",
                    hint="announce duplicate instance names from a second MdnsResponder",
                )
            batch[key] = _info(item)
            self._announcements[key] = item
        tasks = await asyncio.gather(
            *(azc.async_register_service(i, cooperating_responders=True) for i in batch.values())
        )
        self._infos.update(batch)
        self._broadcasts.extend(tasks)

    async def remove(self, *items: Announcement | str) -> None:
        """Withdraw services (goodbye packets), by announcement or full instance name."""
        azc = self._zc()
        for item in items:
            key = (item.name if isinstance(item, Announcement) else item).lower()
            info = self._infos.pop(key, None)
            if info is None:
                raise UsageError(f"{key} is not announced by this responder")
            self._announcements.pop(key, None)
            self._broadcasts.append(await azc.async_unregister_service(info))

    async def update_txt(
        self, item: Announcement | str, txt: Mapping[str | bytes, TxtValue]
    ) -> None:
        """Replace the TXT record of an announced service and re-announce it."""
        azc = self._zc()
        key = (item.name if isinstance(item, Announcement) else item).lower()
        if key not in self._infos:
            raise UsageError(f"{key} is not announced by this responder")
        old = self._announcements[key]
        new = Announcement(
            old.type, old.instance, old.host, old.port, dict(txt), old.addresses, old.rule
        )
        info = _info(new)
        self._infos[key] = info
        self._announcements[key] = new
        self._broadcasts.append(await azc.async_update_service(info))

    async def close(self) -> None:
        """Send goodbyes for everything and close the socket."""
        if self._azc is None:
            return
        azc, self._azc = self._azc, None
        for pending in self._broadcasts:
            if isinstance(pending, asyncio.Future):
                pending.cancel()
        await asyncio.gather(*self._broadcasts, return_exceptions=True)
        self._broadcasts.clear()
        await azc.async_close()
        self._infos.clear()
        self._announcements.clear()


def _info(item: Announcement) -> AsyncServiceInfo:
    from zeroconf.asyncio import AsyncServiceInfo

    for key, value in item.txt.items():
        size = len(key if isinstance(key, bytes) else key.encode()) + (
            0 if value is None else 1 + len(value if isinstance(value, bytes) else value.encode())
        )
        if size > 255:  # one TXT string carries at most 255 bytes (RFC 6763 §6.1)
            raise UsageError(f"{item.name}: TXT entry {key!r} is {size} bytes, above 255")
    return AsyncServiceInfo(
        item.full_type,
        item.name,
        port=item.port,
        properties=dict(item.txt),
        server=item.server,
        parsed_addresses=list(item.addresses),
    )


def catalogue_examples(first_address: str = "127.0.2.1") -> list[Announcement]:
    """Return one realistic announcement per catalogue rule, each on its own host and address."""
    base = ipaddress.ip_address(first_address)
    rows: list[tuple[str, str, str, str, int, dict[str | bytes, TxtValue]]] = [
        ("homekit", "_hap._tcp", "Eve Energy 2A3F", "Eve-Energy-2A3F", 80,
         {"c#": "3", "ff": "1", "id": "A1:B2:C3:D4:E5:F6", "md": "Eve Energy 20EBO8301",
          "pv": "1.1", "s#": "1", "sf": "0", "ci": "7", "sh": "nJ3Ltw=="}),
        ("shelly-gen2", "_shelly._tcp", "shellyplus1pm-a8032ab12345", "shellyplus1pm-a8032ab12345",
         80, {"gen": "2", "app": "Plus1PM", "ver": "1.4.4"}),
        ("esphome", "_esphomelib._tcp", "living-room-air", "living-room-air", 6053,
         {"friendly_name": "Living Room Air", "version": "2025.5.0", "config_hash": "5f3e1a2b",
          "mac": "a4cf12b3c4d5", "platform": "ESP32", "board": "esp32dev", "network": "wifi",
          "project_name": "acme.air-quality", "project_version": "1.2.0"}),
        ("hue-bridge", "_hue._tcp", "Hue Bridge - 1A2B3C", "ecb5fa1a2b3c", 443,
         {"bridgeid": "ECB5FAFFFE1A2B3C", "modelid": "BSB002"}),
        ("matter-commissionable", "_matterc._udp", "2F4C1D9A8B7E6C5D", "0E1D2C3B4A596877", 5540,
         {"D": "3840", "VP": "65521+32769", "CM": "1", "DT": "266", "DN": "Smart Plug",
          "SII": "5000", "SAI": "300", "T": "0", "PH": "33"}),
        ("matter-operational", "_matter._tcp", "2906C908D115D362-8FC7772401CD96F3",
         "B0D5CC9A1E2F0001", 5540, {"SII": "5000", "SAI": "300", "T": "1"}),
        ("google-cast", "_googlecast._tcp", "Google-Nest-Mini-0a1b2c3d4e5f60718293a4b5c6d7e8f9",
         "0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9", 8009,
         {"id": "0a1b2c3d4e5f60718293a4b5c6d7e8f9", "cd": "1C8D6E2F0A4B", "rm": "", "ve": "05",
          "md": "Google Nest Mini", "ic": "/setup/icon.png", "fn": "Kitchen speaker",
          "ca": "199172", "st": "0", "bs": "FA8FCA7EE8A9", "nf": "1", "rs": ""}),
        ("airplay", "_airplay._tcp", "Living Room", "Living-Room-Apple-TV", 7000,
         {"deviceid": "AA:BB:CC:DD:EE:FF", "features": "0x4A7FDFD5,0xBC157FDE",
          "flags": "0x18644", "model": "AppleTV6,2", "protovers": "1.1", "srcvers": "770.8.1",
          "osvers": "17.5"}),
        ("sonos", "_sonos._tcp", "Sonos-48A6B8C0FFEE@Office", "Sonos-48A6B8C0FFEE", 1443,
         {"info": "/api/v1/players/RINCON_48A6B8C0FFEE01400/info", "vers": "3",
          "protovers": "1.24.1", "bootseq": "80", "hhid": "Sonos_abcdEFGH1234",
          "locationid": "lc_12345", "sslport": "1443", "mdnssequence": "0"}),
        ("ipp-printer", "_ipp._tcp", "HP OfficeJet Pro 9010 [1A2B3C]", "HP1A2B3C", 631,
         {"txtvers": "1", "qtotal": "1", "rp": "ipp/print", "ty": "HP OfficeJet Pro 9010 series",
          "product": "(HP OfficeJet Pro 9010 series)", "note": "2nd floor copy room",
          "pdl": "application/pdf,image/urf,image/jpeg", "adminurl": "http://HP1A2B3C.local./",
          "UUID": "1c852a4d-b800-1f08-abcd-a0d3c11a2b3c", "usb_MFG": "HP",
          "usb_MDL": "OfficeJet Pro 9010 series", "Color": "T", "Duplex": "T"}),
        ("mqtt-broker", "_mqtt._tcp", "Mosquitto MQTT Broker", "broker", 1883, {}),
        ("home-assistant", "_home-assistant._tcp", "Home", "c1a2b3c4d5e6f708", 8123,
         {"location_name": "Home", "uuid": "0123456789abcdef0123456789abcdef",
          "version": "2025.6.1", "external_url": "", "internal_url": "http://127.0.2.12:8123",
          "base_url": "http://127.0.2.12:8123", "requires_api_password": "True"}),
        ("modbus", "_modbus._tcp", "Heat pump controller", "heatpump-ctl", 5020,
         {"vendor": "Acme", "model": "TH-200", "version": "2.1", "unit": "1"}),
        ("shelly-http", "_http._tcp", "shelly1pm-84CCA8A1B2C3", "shelly1pm-84CCA8A1B2C3", 80, {}),
        ("http", "_http._tcp", "Boiler room panel", "panel-boiler", 80, {"path": "/"}),
    ]  # fmt: skip
    return [
        Announcement(stype, instance, host, port, txt, (str(base + i),), rule)
        for i, (rule, stype, instance, host, port, txt) in enumerate(rows)
    ]


def garbage_announcements(first_address: str = "127.0.3.1") -> list[Announcement]:
    """Return announcements a browser must survive: oversized and non-UTF-8 TXT, a duplicate
    instance name (the last two: announce them from two responders, see ``spread``) and a
    service with no address."""
    base = ipaddress.ip_address(first_address)
    big: dict[str | bytes, TxtValue] = {f"k{i:02d}": "x" * 200 for i in range(12)}
    return [
        Announcement("_http._tcp", "Oversized TXT", "oversized", 80, big, (str(base),)),
        Announcement(
            "_http._tcp",
            "Latin-1 panel",
            "latin1-panel",
            80,
            {"path": b"/caf\xe9", b"r\xf4le": "boiler"},
            (str(base + 1),),
        ),
        Announcement("_http._tcp", "No address", "no-address", 80, {"path": "/"}, ()),
        Announcement(
            "_http._tcp", "Duplicate", "duplicate-a", 8081, {"who": "a"}, (str(base + 2),)
        ),
        Announcement(
            "_http._tcp", "Duplicate", "duplicate-b", 8082, {"who": "b"}, (str(base + 3),)
        ),
    ]


def synthetic_announcements(
    count: int,
    *,
    service_type: str = "_shelly._tcp",
    first_address: str = "127.0.4.1",
    prefix: str = "shellyplus1pm",
) -> list[Announcement]:
    """Return count Shelly-like devices, each with its own host and loopback address.

    Pass a unique ``prefix`` (and ``service_type``) when other rigs may announce on the same
    loopback at the same time, so names cannot collide.
    """
    base = ipaddress.ip_address(first_address)
    return [
        Announcement(
            service_type,
            f"{prefix}-{i:012x}",
            f"{prefix}-{i:012x}",
            80,
            {"gen": "2", "app": "Plus1PM", "ver": "1.4.4"},
            (str(base + i),),
            "shelly-gen2" if normalise_type(service_type) == "_shelly._tcp.local." else None,
        )
        for i in range(count)
    ]


def with_tag(announcements: Sequence[Announcement], tag: str) -> list[Announcement]:
    """Return copies whose instance and host names carry tag (6 hex digits).

    Rigs in different processes that share the loopback must not announce the same names:
    one rig's goodbye would withdraw the other's service. A trailing 6-hex-digit id (MAC or
    node id) is replaced by the tag, so rules that parse it still match; other instance
    names get " <tag>" appended.
    """
    if not re.fullmatch(r"[0-9a-f]{6}", tag):
        raise UsageError(f"a rig tag is 6 lower-case hex digits, not {tag!r}")
    tagged = []
    for item in announcements:
        instance = item.instance
        if re.search(r"[-0-9A-Fa-f][0-9A-Fa-f]{6}$", instance):
            tail = instance[-6:]
            instance = instance[:-6] + (tag.upper() if tail.isupper() else tag)
        else:
            instance = f"{instance} {tag}"
        tagged.append(dataclasses.replace(item, instance=instance, host=f"{item.host}-{tag}"))
    return tagged


def spread(announcements: Sequence[Announcement]) -> list[list[Announcement]]:
    """Split announcements into groups with unique instance names, one group per responder."""
    groups: list[list[Announcement]] = []
    for item in announcements:
        for group in groups:
            if all(other.name.lower() != item.name.lower() for other in group):
                group.append(item)
                break
        else:
            groups.append([item])
    return groups


async def serve(
    announcements: Sequence[Announcement],
    interface: str = "127.0.0.1",
    *,
    until_stdin_closes: bool = False,
) -> None:
    """Announce until SIGTERM or SIGINT (or end of stdin); print READY <n> once registered."""
    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, done.set)
    if until_stdin_closes:
        # A parent that dies without signalling still closes our stdin: no rig is left behind.
        fd = sys.stdin.fileno()

        def on_stdin() -> None:
            if not os.read(fd, 4096):
                loop.remove_reader(fd)
                done.set()

        loop.add_reader(fd, on_stdin)
    async with contextlib.AsyncExitStack() as responders:
        for group in spread(announcements):
            responder = await responders.enter_async_context(MdnsResponder(interface))
            await responder.add(*group)
        print(f"READY {len(announcements)}", flush=True)
        await done.wait()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the rig from the command line (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m smartbuild.sim.mdns", description=__doc__)
    parser.add_argument("--examples", action="store_true", help="announce catalogue_examples()")
    parser.add_argument("--garbage", action="store_true", help="announce garbage_announcements()")
    parser.add_argument(
        "--synthetic", type=int, default=0, metavar="N", help="N Shelly-like devices"
    )
    parser.add_argument("--interface", default="127.0.0.1", help="loopback address to announce on")
    parser.add_argument("--tag", help="6 hex digits added to every name (see with_tag)")
    parser.add_argument(
        "--until-stdin-closes", action="store_true", help="also stop when stdin reaches its end"
    )
    args = parser.parse_args(argv)
    items: list[Announcement] = []
    if args.examples:
        items += catalogue_examples()
    if args.garbage:
        items += garbage_announcements()
    if args.synthetic:
        items += synthetic_announcements(args.synthetic)
    if not items:
        parser.error("nothing to announce: pass --examples, --garbage or --synthetic N")
    from smartbuild.aio import run_sync

    try:
        if args.tag:
            items = with_tag(items, args.tag)
        run_sync(
            serve(items, _loopback_only(args.interface), until_stdin_closes=args.until_stdin_closes)
        )
    except SmartbuildError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return int(exc.exit_status)
    return 0


if __name__ == "__main__":
    sys.exit(main())
