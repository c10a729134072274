"""The mDNS family: template format, service identification and typed discover options."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from smartbuild.transports.base import DiscoverOptions, OptionSpec, TransportFamily, option
from smartbuild.transports.mdns.schema import MdnsTemplate

if TYPE_CHECKING:
    from smartbuild.config.schema import Template
    from smartbuild.model.checks import Check
    from smartbuild.model.device import Candidate
    from smartbuild.transports.base import DoctorContext


def _short_type(service_type: str) -> str:
    return service_type.rstrip(".").removesuffix(".local").lower()  # _hap._tcp.local. = _hap._tcp


def match_mdns(rules: Any, identity: dict[str, Any]) -> list[str] | None:
    """Return the mDNS rules that matched, or None (TXT keys ignore case, RFC 6763 §6.4)."""
    from smartbuild.transports.mdns.catalogue import txt_get

    types = identity.get("types") or ([identity["type"]] if identity.get("type") else [])
    wanted = _short_type(rules.type)
    if wanted not in {_short_type(t) for t in types}:
        return None
    matched = [f"mDNS {rules.type}"]
    # A device with several services has one TXT record per type: check the rule's own.
    by_type = {_short_type(t): v for t, v in (identity.get("txt_by_type") or {}).items()}
    txt = by_type.get(wanted, identity.get("txt") or {})
    for key, pattern in rules.txt.items():
        value = txt_get(txt, key)
        if value is None or re.search(pattern, str(value)) is None:
            return None
        matched.append(f"TXT {key} ~ {pattern}")
    if rules.name is not None:
        name = identity.get("name")
        if name is None or re.search(rules.name, str(name)) is None:
            return None
        matched.append(f"name ~ {rules.name}")
    return matched


class MdnsFamily(TransportFamily):
    """Devices that announce themselves over mDNS/DNS-SD."""

    name = "mdns"
    template_schema = MdnsTemplate
    identity_fields = ("vendor", "model", "firmware")

    @classmethod
    def match(cls, template: Template, candidate: Candidate) -> list[str] | None:
        """Match the service type, TXT values and instance name."""
        rules = cls.rules(template)
        return None if rules is None else match_mdns(rules, candidate.identity)

    @classmethod
    def describe_point(cls, template: Template, point: Any) -> tuple[str, str]:
        """Return the TXT key and whether it is text or a number."""
        return f"txt {point.txt}", point.type

    @classmethod
    async def doctor(cls, context: DoctorContext) -> list[Check]:
        """Check for a multicast-capable interface and a shareable UDP 5353."""
        from smartbuild.transports.mdns.doctor import doctor

        return await doctor(context)


MdnsTemplate.family = MdnsFamily


@dataclass(frozen=True)
class MdnsOptions(DiscoverOptions):
    """A DNS-SD browse on chosen interfaces for a window, ending early when it is quiet."""

    ACTIVATE: ClassVar[str] = "mdns"
    BY_DEFAULT: ClassVar[bool] = True

    mdns: bool = option(
        False, spec=OptionSpec(("--mdns",), "Browse mDNS/DNS-SD services.", is_flag=True)
    )
    interfaces: list[str] = option(spec=OptionSpec(
        ("--interface",), "mDNS interface name or IP (repeatable; default: every non-loopback one).",
        multiple=True), parse=list)  # fmt: skip
    types: list[str] = option(spec=OptionSpec(
        ("--type",), "Extra mDNS service type, e.g. _foo._tcp (repeatable).", multiple=True),
        parse=list)  # fmt: skip
    all_types: bool = option(False, spec=OptionSpec(
        ("--all-types",), "Enumerate every announced mDNS service type first.", is_flag=True))  # fmt: skip
    expect: int | None = option(None, spec=OptionSpec(
        ("--expect",), "mDNS: stop early once N devices are found and it is quiet.", type=int,
        range=(1, None)))  # fmt: skip
    timeout: float | None = option(None, spec=OptionSpec(
        ("--timeout",), "mDNS: browse window (s).", type=float,
        range=(0.05, 60)))  # fmt: skip
