"""What the mDNS rig announces: announcements, one realistic example per catalogue rule,
garbage a browser must survive, synthetic fleets, and name tagging for rigs sharing a loopback.

Pure data: no sockets, no zeroconf.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from smartbuild.errors import UsageError
from smartbuild.transports.mdns.catalogue import normalise_type

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
    names get " <tag>" appended, as do names whose replaced id would collide with another's
    (synthetic fleets differ only in their last digits).
    """
    if not re.fullmatch(r"[0-9a-f]{6}", tag):
        raise UsageError(f"a rig tag is 6 lower-case hex digits, not {tag!r}")
    tagged = []
    taken = {item.name.lower() for item in announcements}
    for item in announcements:
        instance = f"{item.instance} {tag}"
        if re.search(r"[-0-9A-Fa-f][0-9A-Fa-f]{6}$", item.instance):
            tail = item.instance[-6:]
            replaced = item.instance[:-6] + (tag.upper() if tail.isupper() else tag)
            if f"{replaced}.{item.full_type}".lower() not in taken:
                instance = replaced
        taken.add(f"{instance}.{item.full_type}".lower())
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
