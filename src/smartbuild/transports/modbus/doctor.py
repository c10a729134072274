"""What Modbus RTU needs from this host: the site's serial ports, and the right to open them."""

from __future__ import annotations

import grp
import os
import pwd
from pathlib import Path
from typing import TYPE_CHECKING, Any

from smartbuild.config.secret import Secret, reveal_text
from smartbuild.model.checks import Check, ok, problem, warn

if TYPE_CHECKING:
    from smartbuild.transports.base import DoctorContext

AREA = "modbus"
GROUP = "dialout"  # Debian's group for serial devices


async def doctor(context: DoctorContext) -> list[Check]:
    """Return the serial-port and dialout checks (TCP needs nothing from the host)."""
    rtu = [spec for spec in context.devices if spec.transport == "modbus-rtu"]
    return [_ports(rtu), _dialout(bool(rtu))]


def _present() -> list[str]:
    """Return the serial ports of this machine (pyserial's list: real devices only)."""
    from serial.tools import list_ports

    return sorted(port.device for port in list_ports.comports())


def _ports(rtu: list[Any]) -> Check:
    present = _present()
    listed = ", ".join(present) or "none"
    problems = []
    seen: set[str] = set()
    for spec in rtu:
        if isinstance(spec.address, Secret):
            continue  # never confirm or deny a secret's value
        port = reveal_text(spec.address)
        if port in seen or "://" in port:
            continue  # socket:// and rfc2217:// ports are network links, not devices here
        seen.add(port)
        path = Path(port)
        if not path.exists():
            problems.append(f"{port} does not exist")
        elif not os.access(path, os.R_OK | os.W_OK):
            problems.append(f"{port} cannot be opened by {_user()} ({_owner(path)})")
    if problems:
        return problem(True, AREA, "serial-ports", "; ".join(problems) + f" (present: {listed})",
                       f"plug in the adapter, correct the address in the site file, or add "
                       f"{_user()} to the port's group (sudo usermod -aG {GROUP} {_user()}, then "
                       f"log in again)", present=present)  # fmt: skip
    used = f"; the site's {len(seen)} RTU port(s) open" if seen else ""
    return ok(AREA, "serial-ports", f"serial ports: {listed}{used}", present=present)


def _user() -> str:
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return str(os.geteuid())


def _owner(path: Path) -> str:
    st = path.stat()
    try:
        group = grp.getgrgid(st.st_gid).gr_name
    except KeyError:
        group = str(st.st_gid)
    return f"group {group}, mode {st.st_mode & 0o777:o}"


def _dialout(used: bool) -> Check:
    user = _user()
    if os.geteuid() == 0:
        return ok(AREA, "dialout", "running as root: serial ports open without dialout")
    try:
        group = grp.getgrnam(GROUP)
    except KeyError:
        return warn(
            AREA,
            "dialout",
            f"this machine has no {GROUP} group",
            "give your user access to the serial device's group (ls -l /dev/ttyUSB0)",
        )
    if group.gr_gid in os.getgroups():
        return ok(AREA, "dialout", f"{user} is in {GROUP}")
    if user in group.gr_mem:
        return problem(used, AREA, "dialout", f"{user} was added to {GROUP}, but this login "
                       "session does not have it yet", "log out and in again (or run newgrp "
                       f"{GROUP})")  # fmt: skip
    return problem(used, AREA, "dialout", f"{user} is not in {GROUP}: serial ports will be refused",
                   f"sudo usermod -aG {GROUP} {user}, then log in again")  # fmt: skip
