"""What the simulated building announces over mDNS, and the site-file entries of it.

The Modbus gateway as ``_modbus._tcp`` (discovery follows it into Modbus identification) and a
Shelly, an ESPHome and a HomeKit device from the rig's catalogue examples, each on a spare
loopback address. Names carry the simulator's tag so simulators and test rigs sharing 127.0.0.1
never claim the same name.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from smartbuild.sim.building.site import SimBuilding
    from smartbuild.sim.peers.mdns_announcements import Announcement

MDNS_RULES = ("shelly-gen2", "esphome", "homekit")  # catalogue examples the building announces


def tag(base: str, port: int) -> str:
    """Return the 6 hex digits that name one simulator's services."""
    return f"{(int(ipaddress.IPv4Address(base)) ^ port * 7919) & 0xFFFFFF:06x}"


def announcements(b: SimBuilding, spare: Sequence[str], name_tag: str) -> list[Announcement]:
    """Return the services to announce: catalogue examples on spare addresses and the gateway."""
    from smartbuild.sim.peers.mdns_announcements import Announcement, catalogue_examples, with_tag

    examples = {a.rule: a for a in catalogue_examples()}
    chosen = [examples[r] for r in MDNS_RULES if r in examples]
    items = [
        Announcement(a.type, a.instance, a.host, a.port, a.txt, (spare[i],), a.rule)
        for i, a in enumerate(chosen)
    ]
    if b.gateway:
        host, port = b.gateway.rsplit(":", 1)
        units = ",".join(str(d.unit) for d in b.devices if d.address == b.gateway)
        items.append(Announcement(
            "_modbus._tcp", "smartbuild sim gateway", "sb-gateway", int(port),
            {"vendor": "smartbuild", "model": "SIM-GW", "version": "1.0", "unit": units},
            (host,), "modbus",
        ))  # fmt: skip
    return with_tag(items, name_tag)


def site_entries(
    items: Sequence[Announcement], templates: dict[str, Any], zones: Sequence[str]
) -> list[tuple[str, dict[str, Any]]]:
    """Return site-file entries of announced devices an mDNS template identifies."""
    from smartbuild.services.identify import identify_device
    from smartbuild.transports.base import Candidate

    mdns = {n: t for n, t in templates.items() if t.transport == "mdns"}
    out = []
    for i, a in enumerate(items):
        short = a.full_type.removesuffix(".local.")
        txt = {str(k): str(v or "") for k, v in a.txt.items()}
        identity = {"type": short, "types": [short], "txt": txt, "name": a.instance}
        address = f"{a.host}.local:{a.port}"  # what discovery calls it: its host and port
        match = identify_device(
            candidate=Candidate("mdns", address, identity=identity), templates=mdns
        )
        if match:
            zone = zones[i % len(zones)]
            # adapter: the interface to browse when reading it (it is announced on loopback)
            out.append((f"{match[0]}-{zone}", {"template": match[0], "transport": "mdns",
                        "address": address, "zone": zone, "title": a.instance,
                        "adapter": "127.0.0.1"}))  # fmt: skip
    return out
