"""Modbus TCP targets as people type them and site files hold them: split, check, resolve, expand.

A target is a host (IP address or name), ``host:port``, ``[v6]:port``, a range (10.0.0.5-40 or
10.0.0.5-10.0.0.40) or a CIDR block. Anything that cannot name a device is a usage error that
says why, before a packet is sent. A sweep takes its addresses from ``iter_targets``, one at a
time: a /16 is 65,536 addresses and is never held in memory; an address two targets share is
swept once.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from dataclasses import dataclass

from smartbuild.errors import UsageError

MAX_ADDRESSES = 65_536  # a /16; more needs --yes

HINT = "write HOST[:PORT] with a port of 1-65535, e.g. 192.0.2.10:502"
_LABEL = re.compile(r"^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$")
_DOTTED_NUMBERS = re.compile(r"^[0-9.]+$")


def split_host_port(address: str, default_port: int = 502) -> tuple[str, int]:
    """Split "host[:port]" (and "[v6]:port"); raise UsageError for a bad port or bracket."""
    if address.startswith("["):
        host, bracket, rest = address[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise _bad_address(address)
        return host, _port(address, rest[1:]) if rest else default_port
    if address.count(":") == 1:
        host, port = address.split(":")
        return host, _port(address, port)
    return address, default_port


def host_problem(host: str) -> str | None:
    """Return why host is not an IP address or a well-formed host name (no lookup), else None."""
    if not host.strip():
        return "the host is empty"
    if _DOTTED_NUMBERS.match(host) or ":" in host:
        try:
            ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            return f"{host!r} is not a valid IP address" + _octet_reason(host)
        return None
    labels = host.removesuffix(".").split(".")
    if len(host) > 253 or not all(_LABEL.match(label) for label in labels):
        return f"{host!r} is not a valid host name (letters, digits and '-' between dots)"
    return None


def lookup_problem(host: str) -> str | None:
    """Return why a host name does not resolve (an IP address always does), else None."""
    import socket

    try:
        ipaddress.ip_address(host.split("%", 1)[0])
        return None
    except ValueError:
        pass
    try:
        socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        return f"the name {host!r} does not resolve ({reason})"
    return None


def parse_target(text: str, default_port: int = 502, *, resolve: bool = False) -> tuple[str, int]:
    """Return (host, port) of one HOST[:PORT]; raise UsageError naming what is wrong."""
    host, port = split_host_port(text.strip(), default_port)
    problem = host_problem(host) or (lookup_problem(host) if resolve else None)
    if problem:
        raise UsageError(f"invalid target {text!r}: {problem}", hint=HINT)
    return host, port


def check_targets(targets: list[str], default_port: int = 502) -> int:
    """Check every target (host names must resolve); return how many addresses they cover."""
    for target in targets:
        if _is_block(target):
            if target.count(":") == 1:
                _port(target, target.rsplit(":", 1)[1])
        else:
            parse_target(target, default_port, resolve=True)
    return count_addresses(targets)


def expand_targets(targets: list[str], default_port: int) -> list[tuple[str, int]]:
    """Expand hosts, host:port, ranges (10.0.0.5-40, 10.0.0.5-10.0.0.40) and CIDR blocks."""
    out: list[tuple[str, int]] = []
    for target in targets:
        out.extend(_expand(target.strip(), default_port))
    return list(dict.fromkeys(out))


@dataclass(frozen=True)
class Block:
    """The addresses of one range or CIDR target, as an interval of integers, and its port."""

    first: int
    last: int
    port: int
    version: int

    def covers(self, value: int, port: int, version: int) -> bool:
        """Return whether this block includes address ``value`` on ``port``."""
        return (port, version) == (self.port, self.version) and self.first <= value <= self.last


def _block(target: str, default_port: int) -> Block:
    host, port = target, default_port
    if target.count(":") == 1:
        host, port_text = target.split(":")
        port = _port(target, port_text)
    try:
        if "/" in host:
            network = ipaddress.ip_network(host, strict=False)
            first, last = int(network.network_address), int(network.broadcast_address)
            if network.num_addresses > 2:  # leave out the network and broadcast addresses
                first, last = first + 1, last - 1
            return Block(first, last, port, network.version)
        start, end = host.split("-", 1)
        low = ipaddress.ip_address(start)
        if "." not in end and ":" not in end:
            high = ipaddress.ip_address(start.rsplit(".", 1)[0] + "." + end)
        else:
            high = ipaddress.ip_address(end)
    except ValueError as error:
        raise UsageError(f"invalid target {target!r}: {error}", hint=HINT) from None
    if int(high) < int(low):
        raise UsageError(f"invalid range {host!r}: the end is before the start")
    return Block(int(low), int(high), port, low.version)


def iter_targets(targets: list[str], default_port: int) -> Iterator[tuple[str, int]]:
    """Yield each (host, port) of the targets once, lazily, in the order they give them."""
    hosts: set[tuple[str, int]] = set()
    parsed: list[Block | tuple[str, int]] = []
    for target in (t.strip() for t in targets):  # every target checked before the first yield
        if _is_block(target):
            parsed.append(_block(target, default_port))
            continue
        host, port = parse_target(target, default_port)
        try:  # an address is a block of one, so a range covering it is not swept twice
            address = ipaddress.ip_address(host)
            parsed.append(Block(int(address), int(address), port, address.version))
        except ValueError:
            parsed.append((host, port))
    for index, item in enumerate(parsed):
        if not isinstance(item, Block):
            if item not in hosts:
                hosts.add(item)
                yield item
            continue
        earlier = [b for b in parsed[:index] if isinstance(b, Block)]
        make = ipaddress.IPv4Address if item.version == 4 else ipaddress.IPv6Address
        for value in range(item.first, item.last + 1):
            if any(b.covers(value, item.port, item.version) for b in earlier):
                continue
            yield str(make(value)), item.port


def count_addresses(targets: list[str]) -> int:
    """Return how many addresses the targets cover (without expanding them)."""
    total = 0
    for target in targets:
        host = target.rsplit(":", 1)[0] if target.count(":") == 1 else target
        try:
            if "/" in host:
                total += ipaddress.ip_network(host, strict=False).num_addresses
            elif _is_range(host):
                total += sum(1 for _ in _range(host))
            else:
                total += 1
        except ValueError as error:
            raise UsageError(f"invalid target {target!r}: {error}", hint=HINT) from None
    return total


def _is_block(target: str) -> bool:
    host = target.rsplit(":", 1)[0] if target.count(":") == 1 else target
    return "/" in host or _is_range(host)


def _is_range(host: str) -> bool:
    return "-" in host and host.replace("-", "").replace(".", "").isdigit()


def _range(host: str) -> Iterator[str]:
    start, end = host.split("-", 1)
    first = ipaddress.ip_address(start)
    if "." not in end and ":" not in end:
        last = ipaddress.ip_address(start.rsplit(".", 1)[0] + "." + end)
    else:
        last = ipaddress.ip_address(end)
    if int(last) < int(first):
        raise UsageError(f"invalid range {host!r}: the end is before the start")
    for value in range(int(first), int(last) + 1):
        yield str(ipaddress.ip_address(value))


def _expand(target: str, default_port: int) -> list[tuple[str, int]]:
    host, port = target, default_port
    if target.count(":") == 1:
        host, port_text = target.split(":")
        port = _port(target, port_text)
    try:
        if "/" in host:
            network = ipaddress.ip_network(host, strict=False)
            hosts = list(network.hosts()) if network.num_addresses > 2 else list(network)
            return [(str(h), port) for h in hosts]
        if _is_range(host):
            return [(h, port) for h in _range(host)]
    except ValueError as error:
        raise UsageError(f"invalid target {target!r}: {error}", hint=HINT) from None
    return [parse_target(target, default_port)]


def _octet_reason(host: str) -> str:
    parts = host.split(".")
    if len(parts) != 4:
        return f" ({len(parts)} parts; an IPv4 address has 4)" if "." in host else ""
    big = [p for p in parts if p.isdigit() and int(p) > 255]
    return f" ({big[0]} is more than 255)" if big else ""


def _port(address: str, text: str) -> int:
    # typed by people (`read --raw`, `probe`): a bad port is their mistake, not a crash in connect()
    if not text.isdigit() or not 1 <= int(text) <= 65_535:
        raise _bad_address(address)
    return int(text)


def _bad_address(address: str) -> UsageError:
    return UsageError(f"invalid address {address!r}", hint=HINT)
