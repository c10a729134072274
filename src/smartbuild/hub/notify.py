"""systemd's notify protocol without a library: one datagram per state to ``$NOTIFY_SOCKET``.

``READY=1`` once the transports are up, ``WATCHDOG=1`` from inside the event loop at half of
``$WATCHDOG_USEC`` (a blocked loop stops the pings and systemd restarts the hub), ``STOPPING=1``
on shutdown. Without ``NOTIFY_SOCKET`` (not started by systemd) every call does nothing.
"""

from __future__ import annotations

import os
import socket


class Notifier:
    """Send sd_notify messages to the socket systemd (or a test) gave in the environment."""

    def __init__(self, environ: dict[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET", "")
        if address.startswith("@"):  # an abstract socket name
            address = "\0" + address[1:]
        self.address = address or None
        self.watchdog_s: float | None = None
        usec = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        if usec.isdigit() and int(usec) > 0 and (not pid or pid == str(os.getpid())):
            self.watchdog_s = int(usec) / 1e6
        self.errors: list[str] = []

    @property
    def enabled(self) -> bool:
        """Return True when a notify socket was given."""
        return self.address is not None

    def send(self, *fields: str) -> bool:
        """Send one message (``READY=1``, ``STATUS=…``); return False when it could not be sent."""
        if self.address is None:
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.sendto("\n".join(fields).encode(), self.address)
        except OSError as error:  # a gone socket must never stop the hub
            self.errors.append(f"sd_notify to {self.address!r}: {error}")
            del self.errors[:-5]
            return False
        return True

    def ready(self, status: str) -> bool:
        """Tell systemd the hub is up."""
        return self.send("READY=1", f"STATUS={status}", f"MAINPID={os.getpid()}")

    def ping(self) -> bool:
        """Tell systemd's watchdog the event loop is alive."""
        return self.send("WATCHDOG=1")

    def status(self, text: str) -> bool:
        """Show a one-line status in ``systemctl status``."""
        return self.send(f"STATUS={text}")

    def stopping(self) -> bool:
        """Tell systemd the hub is shutting down."""
        return self.send("STOPPING=1", "STATUS=stopping")
