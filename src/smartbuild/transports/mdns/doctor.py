"""What mDNS needs from this host: a multicast-capable interface, and UDP 5353 it can share.

Nothing is sent: interfaces come from /sys/class/net, the port's holders from /proc/net/udp and
/proc/*/fd, and sharing is tested by binding a socket the way zeroconf does (SO_REUSEADDR and
SO_REUSEPORT), then closing it without joining a group.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Any

from smartbuild.model.checks import Check, ok, problem
from smartbuild.transports.mdns.interfaces import IFF_MULTICAST, IFF_UP, SYS_NET, interface_flags

if TYPE_CHECKING:
    from smartbuild.transports.base import DoctorContext

AREA = "mdns"
PORT = 5353
IFF_LOOPBACK = 0x8
SIOCGIFFLAGS = 0x8913  # Linux <linux/sockios.h>


async def doctor(context: DoctorContext) -> list[Check]:
    """Return the multicast-interface and UDP 5353 checks."""
    return [_interfaces(context.used), _port(context.used)]


def ioctl_flags(name: str) -> int | None:
    """Return an interface's flags from the kernel (SIOCGIFFLAGS), in this network namespace."""
    import fcntl
    import struct

    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sH", name.encode()[:15], 0)
        return int(struct.unpack("16sH", fcntl.ioctl(sock, SIOCGIFFLAGS, request)[:18])[1])
    return None


def multicast_interfaces() -> dict[str, list[str]]:
    """Return the up, multicast-capable, non-loopback interfaces of this network namespace."""
    # /sys/class/net shows the namespace sysfs was mounted in, not necessarily this process's
    out: dict[str, list[str]] = {}
    try:
        names = [name for _, name in socket.if_nameindex()]
    except OSError:
        names = [entry.name for entry in SYS_NET.iterdir()] if SYS_NET.is_dir() else []
    for name in sorted(names):
        flags = ioctl_flags(name)
        flags = interface_flags(name) if flags is None else flags
        if flags is None or flags & IFF_LOOPBACK:
            continue
        if flags & IFF_UP and flags & IFF_MULTICAST:
            out[name] = ["up", "multicast"]
    return out


def _interfaces(used: bool) -> Check:
    found = multicast_interfaces()
    if not found:
        return problem(used, AREA, "multicast-interfaces",
                       "no interface is up and multicast-capable: mDNS discovery can only use "
                       "loopback here", "bring up the network interface (ip link set IFACE up "
                       "multicast on), or discover with --interface 127.0.0.1 for local peers")  # fmt: skip
    return ok(AREA, "multicast-interfaces", f"multicast-capable: {', '.join(found)}",
              interfaces=list(found))  # fmt: skip


def port_holders(port: int = PORT) -> list[dict[str, Any]]:
    """Return the processes holding UDP ``port`` (pid and name where /proc shows them)."""
    inodes: set[str] = set()
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if len(fields) > 9 and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(fields[9])
    holders: dict[int, dict[str, Any]] = {}
    if not inodes:
        return []
    wanted = {f"socket:[{inode}]" for inode in inodes}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in (proc / "fd").iterdir():
                with contextlib.suppress(OSError):
                    if os.readlink(fd) in wanted:
                        name = (proc / "comm").read_text().strip()
                        holders[int(proc.name)] = {"pid": int(proc.name), "name": name}
    unknown = len(inodes) - len(holders)
    out = list(holders.values())
    if unknown > 0 and not out:
        out.append({"pid": None, "name": "a process this user cannot see"})
    return out


def _shareable(port: int = PORT) -> OSError | None:
    """Bind UDP ``port`` as zeroconf does; return the error when another socket holds it alone."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        with contextlib.suppress(AttributeError, OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(("", port))
    except OSError as error:
        return error
    finally:
        sock.close()
    return None


def _port(used: bool) -> Check:
    holders = port_holders()
    names = ", ".join(f"{h['name']} (pid {h['pid']})" if h["pid"] else h["name"] for h in holders)
    error = _shareable()
    if error is None:
        shared = f"; shared with {names}" if names else ""
        return ok(AREA, "mdns-port", f"UDP {PORT} can be shared{shared}", holders=holders)
    if error.errno == errno.EADDRINUSE:
        who = names or "another process"
        return problem(used, AREA, "mdns-port", f"UDP {PORT} is held by {who} without "
                       "SO_REUSEPORT: mDNS discovery cannot listen", "stop that program or "
                       "configure it to share the port (avahi-daemon shares it; a second "
                       "responder usually does not)", holders=holders)  # fmt: skip
    return problem(used, AREA, "mdns-port", f"UDP {PORT} cannot be bound: {error.strerror or error}",
                   "check that this user may open UDP sockets (a sandbox may forbid it)",
                   holders=holders)  # fmt: skip
