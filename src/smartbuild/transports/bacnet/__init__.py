"""The BACnet family (a builtin plugin): BACnet/IP on bacpypes3, an optional extra.

The transport registers whether or not bacpypes3 is installed: templates validate without it,
and using the transport says how to install it (``pip install 'smartbuild[bacnet]'``).
"""

from __future__ import annotations

from typing import Any

from smartbuild.hookspecs import hookimpl


@hookimpl
def register_transports(register: Any) -> None:
    """Register bacnet-ip (bacpypes3 loads on first use)."""
    from smartbuild.transports.bacnet.transport import BacnetTransport

    register("bacnet-ip", BacnetTransport)
