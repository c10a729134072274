"""The BACnet family: template format, identification matcher and typed discover options."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from smartbuild.errors import UsageError
from smartbuild.transports.bacnet.schema import MAX_INSTANCE, BacnetTemplate
from smartbuild.transports.base import DiscoverOptions, OptionSpec, TransportFamily, option

if TYPE_CHECKING:
    from smartbuild.config.schema import Template
    from smartbuild.model.device import Candidate

MAX_TARGETS = 4096  # unicast Who-Is per run (a /20); BACnet networks are subnets, not sweeps


class BacnetFamily(TransportFamily):
    """BACnet/IP devices: objects and properties, identified by vendor and model name."""

    name = "bacnet"
    template_schema = BacnetTemplate
    identity_fields = ("vendor", "model", "firmware")

    @classmethod
    def match(cls, template: Template, candidate: Candidate) -> list[str] | None:
        """Match the device object's vendor name, model name and vendor id."""
        rules = cls.rules(template)
        if rules is None:
            return None
        identity = candidate.identity
        matched = []
        for field, key in (("vendor_name", "vendor"), ("model_name", "model")):
            pattern = getattr(rules, field)
            if pattern is None:
                continue
            value = identity.get(key)
            if value is None or re.search(pattern, str(value)) is None:
                return None
            matched.append(f"BACnet {field} ~ {pattern}")
        if rules.vendor_id is not None:
            if identity.get("vendor_id") != rules.vendor_id:
                return None
            matched.append(f"BACnet vendor id = {rules.vendor_id}")
        return matched or None

    @classmethod
    def describe_point(cls, template: Template, point: Any) -> tuple[str, str]:
        """Return the object and property, and the value kind (with the write priority)."""
        where = point.object + ("" if point.property == "present-value" else f" {point.property}")
        kind = point.value_kind()
        if point.writable and point.is_commandable():
            kind += f" @{template.priority(point)}"  # type: ignore[attr-defined]
        return where, kind


def parse_instances(text: str) -> tuple[int, int]:
    """Return (low, high) of ``LOW-HIGH`` or one instance; raise UsageError when invalid."""
    low_text, _, high_text = text.partition("-")
    try:
        low, high = int(low_text), int(high_text or low_text)
    except ValueError:
        raise UsageError(
            f"--instances {text!r} is not LOW-HIGH", hint="e.g. --instances 1000-1999"
        ) from None
    if not 0 <= low <= high <= MAX_INSTANCE:
        raise UsageError(f"--instances {text!r} must lie within 0-{MAX_INSTANCE}, low first")
    return low, high


def expand_targets(targets: list[str], port: int) -> list[str]:
    """Return HOST:PORT of every target: hosts, HOST:PORT, ranges (10.0.0.5-40) and CIDR blocks."""
    out: list[str] = []
    for raw in targets:
        text = raw.strip()
        host, _, port_text = text.partition(":")
        try:
            number = int(port_text) if port_text else port
            if "/" in host:
                network = ipaddress.IPv4Network(host, strict=False)
                _check_size(raw, len(out) + network.num_addresses)
                hosts = [str(h) for h in network.hosts()]
            elif "-" in host:
                first, _, last = host.partition("-")
                start = ipaddress.IPv4Address(first)
                end = (
                    ipaddress.IPv4Address(last) if "." in last
                    else ipaddress.IPv4Address(f"{first.rsplit('.', 1)[0]}.{last}")
                )  # fmt: skip
                if end < start:
                    raise ValueError("the range ends before it starts")
                _check_size(raw, len(out) + int(end) - int(start) + 1)
                hosts = [str(ipaddress.IPv4Address(i)) for i in range(int(start), int(end) + 1)]
            else:
                hosts = [str(ipaddress.IPv4Address(host))]
        except ValueError as error:
            raise UsageError(f"BACnet target {raw!r}: {error}",
                             hint="write HOST, HOST:PORT, 10.0.0.5-40 or 10.0.0.0/24") from None  # fmt: skip
        if not 0 < number < 65536:
            raise UsageError(f"BACnet target {raw!r}: port {number} is outside 1-65535")
        out.extend(f"{h}:{number}" for h in hosts)
    return list(dict.fromkeys(out))


def _check_size(target: str, total: int) -> None:
    """Refuse target lists above MAX_TARGETS before any list is built."""
    if total > MAX_TARGETS:
        raise UsageError(f"BACnet target {target!r}: more than {MAX_TARGETS} addresses in all",
                         hint="BACnet devices answer a broadcast Who-Is: use --interface")  # fmt: skip


@dataclass(frozen=True)
class BacnetOptions(DiscoverOptions):
    """Who-Is on one interface (broadcast) and/or unicast to addresses, then read each device."""

    ACTIVATE: ClassVar[str] = "bacnet"

    bacnet: bool = option(False, spec=OptionSpec(
        ("--bacnet",), "Discover BACnet/IP devices (Who-Is/I-Am).", is_flag=True))  # fmt: skip
    targets: list[str] = option(spec=OptionSpec(
        ("--bacnet-target",), "BACnet: unicast Who-Is to HOST[:PORT], ranges or CIDR (repeatable).",
        multiple=True, metavar="TARGETS"), parse=list)  # fmt: skip
    interfaces: list[str] = option(spec=OptionSpec(
        ("--interface",), "BACnet: broadcast Who-Is from this IP/PREFIX[:PORT] (one interface).",
        multiple=True), parse=list)  # fmt: skip
    instances: str = option("0-4194302", spec=OptionSpec(
        ("--instances",), "BACnet device instances asked for (LOW-HIGH).", show_default=True))  # fmt: skip
    timeout: float | None = option(None, spec=OptionSpec(
        ("--timeout",), "BACnet: seconds to wait for I-Am and per request.", type=float,
        range=(0.05, 60)))  # fmt: skip
    templates_dir: str | None = option(None, spec=OptionSpec(
        ("--bacnet-templates",), "BACnet: write a template generated from the object list of "
        "each device no template matches into this directory.", metavar="DIR"))  # fmt: skip

    def active(self) -> bool:
        """Return True when --bacnet or a BACnet target was given."""
        return bool(self.bacnet or self.targets)

    def check(self) -> None:
        """Refuse several interfaces, bad ranges and targets before anything is sent."""
        if self.bacnet and len(self.interfaces) > 1:
            raise UsageError("BACnet broadcasts on one interface: give --interface once")
        if not (self.bacnet and self.interfaces) and not self.targets:
            raise UsageError(
                "BACnet discovery needs --interface (broadcast Who-Is) or --bacnet-target",
                hint="e.g. --bacnet --interface 192.168.1.20/24, or --bacnet-target 10.0.0.5-40",
            )
        parse_instances(self.instances)
        expand_targets(self.targets, 47808)


BacnetTemplate.family = BacnetFamily
