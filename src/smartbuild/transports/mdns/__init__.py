"""The mDNS family (a builtin plugin): DNS-SD discovery and TXT points on zeroconf."""

from __future__ import annotations

from typing import Any

from smartbuild.hookspecs import hookimpl


@hookimpl
def register_transports(register: Any) -> None:
    """Register the mdns transport (zeroconf loads on first use)."""
    from smartbuild.transports.mdns.transport import MdnsTransport

    register("mdns", MdnsTransport)
