"""Which network interfaces an mDNS browse uses, and opening zeroconf pinned to one of them.

Interfaces are chosen by name or address; the default is every non-loopback interface that is
up and multicast-capable. Socket failures become SmartbuildErrors that name the interface and
say what to check. zeroconf and ifaddr are imported inside the functions that need them.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from smartbuild.errors import SmartbuildError, UsageError

if TYPE_CHECKING:
    from zeroconf.asyncio import AsyncZeroconf

_IP_MULTICAST_ALL = 49  # Linux <linux/in.h>; not exported by the socket module everywhere
IFF_UP = 0x1  # Linux <net/if.h> interface flags, as /sys/class/net/NAME/flags shows them
IFF_MULTICAST = 0x1000
SYS_NET = Path("/sys/class/net")

Flags = Callable[[str], "int | None"]
Row = tuple[str, Any, Any]  # (interface name, ip_address, ip_network)


def interface_flags(name: str) -> int | None:
    """Return the Linux interface flags of NAME, or None where the system does not say."""
    try:
        return int((SYS_NET / name / "flags").read_text().strip(), 16)
    except (OSError, ValueError):
        return None


def resolve_interfaces(
    names_or_ips: Sequence[str],
    *,
    adapters: Iterable[Any] | None = None,
    warnings: list[str] | None = None,
    flags: Flags | None = None,
) -> list[str]:
    """Turn interface names or addresses into the addresses to browse on.

    Empty input means every non-loopback interface that is up and multicast-capable (its IPv4
    addresses, else its first IPv6 address). Unknown names raise UsageError listing what
    exists; interfaces that share a subnet add a warning to ``warnings`` (the same devices
    will be heard twice). ``flags(name)`` gives interface flags; by default they are read from
    /sys for the real adapters and ignored for injected ones.
    """
    if adapters is None:
        import ifaddr

        adapters = ifaddr.get_adapters()
        flags = flags or interface_flags
    table = _adapter_table(list(adapters))
    chosen: list[tuple[str, str, Any]] = []
    if not names_or_ips:
        chosen = _defaults(table, flags)
    for wanted in names_or_ips:
        rows = _pick(wanted.strip(), table)
        _check_usable(rows[0][0], ipaddress.ip_address(rows[0][1]), flags)
        chosen.extend(rows)
    unique = list(dict.fromkeys(chosen))
    if warnings is not None:
        warnings.extend(_shared_subnet_warnings(unique))
    return list(dict.fromkeys(ip for _, ip, _ in unique))


def _defaults(table: list[Row], flags: Flags | None) -> list[tuple[str, str, Any]]:
    chosen: list[tuple[str, str, Any]] = []
    unusable: list[str] = []
    for name in dict.fromkeys(n for n, *_ in table):
        rows = [r for r in table if r[0] == name and not r[1].is_loopback]
        if not rows:
            continue
        if _problem(name, rows[0][1], flags):
            unusable.append(name)
            continue
        v4 = [r for r in rows if r[1].version == 4]
        chosen.extend((n, str(ip), net) for n, ip, net in (v4 or rows[:1]))
    if not chosen:
        skipped = f"; {', '.join(unusable)}: down or without MULTICAST" if unusable else ""
        raise SmartbuildError(
            f"no network interface other than loopback is multicast-capable{skipped}",
            hint="check `ip -br link` (state UP, flag MULTICAST); pass --interface 127.0.0.1 "
            "to browse loopback only",
        )
    return chosen


def _problem(name: str, address: Any, flags: Flags | None) -> str | None:
    """Return why an interface cannot carry mDNS, or None when it can (or nobody knows)."""
    value = flags(name) if flags is not None else None
    if value is None or address.is_loopback:
        return None  # loopback lacks MULTICAST on Linux, yet pinned zeroconf works there
    if not value & IFF_UP:
        return "is down"
    if not value & IFF_MULTICAST:
        return "has multicast turned off"
    return None


def _check_usable(name: str, address: Any, flags: Flags | None) -> None:
    problem = _problem(name, address, flags)
    if problem:
        raise SmartbuildError(
            f"interface {name} ({address}) {problem}: mDNS needs an interface that is up with "
            "MULTICAST set",
            hint=f"check `ip link show {name}`; `ip link set {name} up multicast on` fixes both",
        )


def _adapter_table(adapters: Sequence[Any]) -> list[Row]:
    table = []
    for adapter in adapters:
        for ip in adapter.ips:
            text = ip.ip[0] if isinstance(ip.ip, tuple) else ip.ip
            address = ipaddress.ip_address(text.split("%", maxsplit=1)[0])
            network = ipaddress.ip_interface(f"{address}/{ip.network_prefix}").network
            table.append((str(adapter.name), address, network))
    return table


def _pick(wanted: str, table: list[Row]) -> list[tuple[str, str, Any]]:
    try:
        address = ipaddress.ip_address(wanted.split("%", maxsplit=1)[0])
    except ValueError:
        address = None
    if address is not None:
        rows = [r for r in table if r[1] == address]
    else:
        rows = [r for r in table if r[0] == wanted]
        v4 = [r for r in rows if r[1].version == 4]
        rows = v4 or rows[:1]
    if not rows:
        what = "address" if address is not None else "interface"
        raise UsageError(
            f"unknown network {what} {wanted!r}",
            hint="available: " + _describe(table),
        )
    return [(name, str(ip), net) for name, ip, net in rows]


def _describe(table: list[Row]) -> str:
    names: dict[str, list[str]] = {}
    for name, ip, _ in table:
        names.setdefault(name, []).append(str(ip))
    return "; ".join(f"{n} ({', '.join(ips)})" for n, ips in names.items()) or "none"


def _shared_subnet_warnings(chosen: list[tuple[str, str, Any]]) -> list[str]:
    warnings = []
    for i, (name_a, ip_a, net_a) in enumerate(chosen):
        for name_b, ip_b, net_b in chosen[i + 1 :]:
            if name_a != name_b and net_a.version == net_b.version and net_a.overlaps(net_b):
                warnings.append(
                    f"interfaces {name_a} ({ip_a}) and {name_b} ({ip_b}) share {net_a}: the "
                    "same devices will be heard on both (they are merged)"
                )
    return warnings


def interface_error(interface: str, exc: BaseException) -> SmartbuildError:
    """Turn a socket error from opening mDNS on an interface into a SmartbuildError."""
    code = getattr(exc, "errno", None)
    if code == errno.EADDRINUSE:
        return SmartbuildError(
            f"mDNS port 5353 on {interface} is held by a program that does not share it "
            "(no SO_REUSEPORT)",
            hint="stop that responder, or for avahi set disallow-other-stacks=no in "
            "avahi-daemon.conf",
        )
    if code in (errno.ENODEV, errno.EADDRNOTAVAIL, errno.EINVAL, errno.ENOPROTOOPT):
        return SmartbuildError(
            f"cannot join the mDNS multicast group on {interface}: "
            f"{getattr(exc, 'strerror', None) or exc}",
            hint="check that the address belongs to an interface that is up and has "
            "MULTICAST set (ip -br addr; ip link show)",
        )
    if code in (errno.EACCES, errno.EPERM):
        return SmartbuildError(
            f"not allowed to open mDNS sockets on {interface}: {exc}",
            hint="check firewall or sandbox rules for UDP port 5353",
        )
    return SmartbuildError(f"cannot open mDNS on {interface}: {exc}")


async def open_zeroconf(interface: str) -> AsyncZeroconf:
    """Start an AsyncZeroconf pinned to one interface address (IPv4 or IPv6 only)."""
    import socket

    from zeroconf import IPVersion
    from zeroconf.asyncio import AsyncZeroconf

    version = IPVersion.V6Only if ":" in interface else IPVersion.V4Only
    try:
        azc = AsyncZeroconf(interfaces=[interface], ip_version=version)
    except (OSError, RuntimeError) as exc:
        raise interface_error(interface, exc) from exc
    try:
        await azc.zeroconf.async_wait_for_start()
    except (OSError, RuntimeError) as exc:
        await azc.async_close()
        raise interface_error(interface, exc) from exc
    if not azc.zeroconf.engine.senders:
        await azc.async_close()
        raise interface_error(interface, OSError(errno.EADDRNOTAVAIL, "no usable socket"))
    for wrapped in azc.zeroconf.engine.readers:
        # Linux delivers a multicast group to every socket on the port once ANY socket joined
        # it on ANY interface; turning that off keeps each interface's cache its own.
        if wrapped.sock.family == socket.AF_INET:
            with contextlib.suppress(OSError):
                wrapped.sock.setsockopt(socket.IPPROTO_IP, _IP_MULTICAST_ALL, 0)
    return azc
