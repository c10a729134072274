"""What an mDNS browse yields: resolved services, devices merged from them, decoded TXT.

Pure data and functions (no sockets, no zeroconf), shared by the browser, the catalogue and
the transport.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

TXT_SIZE_LIMIT = 1300  # RFC 6763 §6.2: TXT records above 1300 bytes SHOULD NOT be used


@dataclass(frozen=True)
class MdnsService:
    """One resolved DNS-SD service instance as heard on one interface."""

    type: str  # fully qualified, e.g. "_hap._tcp.local."
    name: str  # fully qualified instance name, e.g. "Lamp._hap._tcp.local."
    server: str | None  # SRV target host, e.g. "lamp-1.local."
    addresses: tuple[str, ...]  # IPv4 and IPv6 (link-local ones scoped with %index)
    port: int
    txt: dict[str, str] = field(default_factory=dict, hash=False)  # keyless values become ""
    interface: str = ""  # the local address it was heard on

    @property
    def instance(self) -> str:
        """Return the instance label (the name without its service type)."""
        suffix = "." + self.type
        if self.name.lower().endswith(suffix.lower()):
            return self.name[: -len(suffix)]
        return self.name

    @property
    def host(self) -> str | None:
        """Return the host name without the trailing dot."""
        return self.server.rstrip(".") if self.server else None


@dataclass(frozen=True)
class MdnsDevice:
    """One device: every service that shares a host name (or, without one, an address set)."""

    key: str
    host: str | None
    addresses: tuple[str, ...]
    interfaces: tuple[str, ...]
    services: tuple[MdnsService, ...]


def device_key(service: MdnsService) -> str:
    """Return the key that groups services into one device: host name, else address set."""
    if service.server:
        return "host:" + service.server.lower().rstrip(".")
    return "addr:" + ",".join(sorted(set(service.addresses)))


def merge_services(services: Iterable[MdnsService]) -> list[MdnsDevice]:
    """Group services into devices by host name, else by identical address set."""
    groups: dict[str, list[MdnsService]] = {}
    for service in services:
        groups.setdefault(device_key(service), []).append(service)
    devices = []
    for key in sorted(groups):
        members = sorted(groups[key], key=lambda s: (s.type, s.name.lower(), s.interface))
        addresses = tuple(dict.fromkeys(a for s in members for a in s.addresses))
        interfaces = tuple(dict.fromkeys(s.interface for s in members))
        devices.append(MdnsDevice(key, members[0].host, addresses, interfaces, tuple(members)))
    return devices


def decode_txt(
    properties: Mapping[bytes, bytes | None], size: int, *, label: str = "service"
) -> tuple[dict[str, str], list[str]]:
    """Decode TXT key/values to text, with a warning for each thing that had to be repaired."""
    warnings: list[str] = []
    if size > TXT_SIZE_LIMIT:
        warnings.append(
            f"{label}: TXT record is {size} bytes, above the {TXT_SIZE_LIMIT}-byte limit of "
            "RFC 6763 §6.2; kept it"
        )
    txt: dict[str, str] = {}
    seen: set[str] = set()
    for raw_key, raw_value in properties.items():
        key = _decode(raw_key, label, "a TXT key", warnings)
        value = "" if raw_value is None else _decode(raw_value, label, f"TXT {key!r}", warnings)
        # RFC 6763 §6.4: keys are case-insensitive and only the first occurrence counts.
        if key.lower() in seen:
            continue
        seen.add(key.lower())
        txt[key] = value
    return txt, warnings


def _decode(raw: bytes, label: str, what: str, warnings: list[str]) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("utf-8", errors="replace")
        warnings.append(f"{label}: {what} is not UTF-8; decoded as {text!r} with replacements")
        return text
