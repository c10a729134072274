"""Say which group a hub user lacks before a device fails with a bare "permission denied".

Serial ports belong to a group (``dialout`` on Debian); BlueZ lets members of ``bluetooth`` talk
to it over the system D-Bus. A hub running as a service user needs both in its groups (the
systemd unit in examples/systemd sets them).
"""

from __future__ import annotations

import grp
import os
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from smartbuild.model.device import Device

SYSTEM_BUS = "/run/dbus/system_bus_socket"


def _group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def can_open(path: Path, uid: int, groups: Iterable[int]) -> tuple[bool, str | None]:
    """Return whether uid (with groups) may read and write path, and the group that would let it."""
    info = path.stat()
    if uid == 0:
        return True, None
    mode = info.st_mode
    if info.st_uid == uid:
        return bool(mode & stat.S_IRUSR and mode & stat.S_IWUSR), None
    group_ok = bool(mode & stat.S_IRGRP and mode & stat.S_IWGRP)
    if info.st_gid in set(groups) and group_ok:
        return True, None
    if mode & stat.S_IROTH and mode & stat.S_IWOTH:
        return True, None
    return False, _group_name(info.st_gid) if group_ok else None


def permission_problems(
    devices: Iterable[Device],
    *,
    uid: int | None = None,
    groups: Iterable[int] | None = None,
    environ: dict[str, str] | None = None,
) -> list[str]:
    """Return one message per device (or bus) this user cannot reach, naming what is missing."""
    uid = os.getuid() if uid is None else uid
    groups = list(os.getgroups() if groups is None else groups)
    env = os.environ if environ is None else environ
    problems: list[str] = []
    ble: list[str] = []
    for device in devices:
        transport = device.transport
        address = str(device.spec.address)
        if transport.endswith("-rtu") and address.startswith("/"):
            path = Path(address)
            if not path.exists():
                problems.append(
                    f"{device.id}: serial port {address} does not exist (is the adapter plugged in?)"
                )
                continue
            ok, group = can_open(path, uid, groups)
            if not ok:
                need = (
                    f"add the hub's user to the group {group!r}"
                    if group
                    else "give the hub's user read and write access"
                )
                problems.append(f"{device.id}: no permission to open {address}: {need} "
                                "(SupplementaryGroups= in the systemd unit), then restart the hub")  # fmt: skip
        elif transport == "ble":
            ble.append(device.id)
    if ble and "DBUS_SYSTEM_BUS_ADDRESS" not in env:
        bus = Path(SYSTEM_BUS)
        names = ", ".join(ble[:3]) + (" …" if len(ble) > 3 else "")
        if not bus.exists():
            problems.append(
                f"{names}: no system D-Bus at {SYSTEM_BUS}: BLE needs BlueZ and D-Bus running"
            )
        elif uid != 0:
            try:
                member = grp.getgrnam("bluetooth").gr_gid in groups
            except KeyError:
                member = True  # no such group here: BlueZ's policy is the distribution's
            if not member:
                problems.append(f"{names}: BlueZ allows D-Bus access to members of the group 'bluetooth': "
                                "add the hub's user to it (SupplementaryGroups=bluetooth), then restart the hub")  # fmt: skip
    return problems
