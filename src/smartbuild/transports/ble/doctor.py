"""What BLE needs from this host: the system D-Bus, BlueZ, a powered adapter, passive scanning.

Asked over the bus bleak uses (``DBUS_SYSTEM_BUS_ADDRESS`` or the system default), with one
``GetManagedObjects`` call: nothing is scanned, connected or changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
from typing import TYPE_CHECKING, Any

from smartbuild.model.checks import Check, ok, problem, warn

if TYPE_CHECKING:
    from smartbuild.transports.base import DoctorContext

AREA = "ble"
ADAPTER = "org.bluez.Adapter1"
MONITORS = "org.bluez.AdvertisementMonitorManager1"
DAEMONS = ("/usr/libexec/bluetooth/bluetoothd", "/usr/lib/bluetooth/bluetoothd")


async def doctor(context: DoctorContext) -> list[Check]:
    """Return the checks of the bus, BlueZ, the adapters and passive scanning."""
    from dbus_fast import Message, MessageType
    from dbus_fast.aio import MessageBus

    from smartbuild.transports.ble.scan import bus_address

    used = context.used
    address = bus_address()
    try:
        bus = await asyncio.wait_for(MessageBus(bus_address=address).connect(), context.timeout)
    except (OSError, asyncio.TimeoutError, Exception) as error:
        why = "no answer" if isinstance(error, asyncio.TimeoutError) else _reason(error)
        return [problem(used, AREA, "dbus", f"no system D-Bus at {address} ({why})",
                        "start the system bus (Debian: apt-get install dbus; systemctl start "
                        "dbus), or point DBUS_SYSTEM_BUS_ADDRESS at it", address=address)]  # fmt: skip
    checks = [ok(AREA, "dbus", f"system D-Bus at {address}", address=address)]
    try:
        reply = await asyncio.wait_for(bus.call(Message(
            destination="org.bluez", path="/", member="GetManagedObjects",
            interface="org.freedesktop.DBus.ObjectManager")), context.timeout)  # fmt: skip
    except asyncio.TimeoutError:
        reply = None
    finally:
        bus.disconnect()
    version = await _version()
    if reply is None or reply.message_type == MessageType.ERROR:
        why = "no answer" if reply is None else (reply.error_name or "error")
        checks.append(problem(used, AREA, "bluez", f"BlueZ does not answer on the bus ({why})",
                              "install and start BlueZ (Debian: apt-get install bluez; systemctl "
                              "start bluetooth)", version=version))  # fmt: skip
        return checks
    objects: dict[str, dict[str, dict[str, Any]]] = reply.body[0]
    shown = f"BlueZ {version}" if version else "BlueZ (version unknown: no bluetoothd here)"
    checks.append(ok(AREA, "bluez", f"{shown} answers on the bus", version=version))
    adapters = {
        path.rsplit("/", 1)[-1]: ({k: v.value for k, v in ifaces[ADAPTER].items()}, ifaces)
        for path, ifaces in sorted(objects.items())
        if ADAPTER in ifaces
    }
    checks.append(_adapters(adapters, context))
    checks.append(_passive(adapters))
    return checks


def _reason(error: BaseException) -> str:
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return f"{type(error).__name__}: {error}"


async def _version() -> str | None:
    """Return bluetoothd's version where the daemon is installed on this machine."""
    daemon = shutil.which("bluetoothd") or next((d for d in DAEMONS if os.path.exists(d)), None)
    if daemon is None:
        return None
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        done = await asyncio.to_thread(subprocess.run, [daemon, "--version"], capture_output=True,
                                       text=True, timeout=2)  # fmt: skip
        return done.stdout.strip() or None
    return None


def _adapters(adapters: dict[str, tuple[dict[str, Any], Any]], context: DoctorContext) -> Check:
    used = context.used
    if not adapters:
        return problem(used, AREA, "ble-adapter", "BlueZ has no Bluetooth adapter",
                       "plug in or enable a Bluetooth adapter (rfkill unblock bluetooth; "
                       "check dmesg for its firmware)")  # fmt: skip
    rows: dict[str, dict[str, Any]] = {name: {"address": p.get("Address"), "powered": bool(p.get("Powered")),
                   "roles": list(p.get("Roles") or [])} for name, (p, _) in adapters.items()}  # fmt: skip
    wanted = {spec.adapter for spec in context.devices if spec.adapter}
    missing = sorted(wanted - set(adapters))
    if missing:
        return problem(True, AREA, "ble-adapter", f"the site names adapter(s) {', '.join(missing)}; "
                       f"BlueZ has {', '.join(adapters)}", "correct the devices' `adapter:` in "
                       "the site file, or plug in that adapter", adapters=rows)  # fmt: skip
    off = [n for n, r in rows.items() if not r["powered"]]
    central = [n for n, r in rows.items() if "central" in r["roles"] or not r["roles"]]
    listed = ", ".join(
        f"{n} {r['address']}{'' if r['powered'] else ' (off)'}" for n, r in rows.items()
    )
    if len(off) == len(rows):
        return problem(used, AREA, "ble-adapter", f"every adapter is powered off: {listed}",
                       "power it on: bluetoothctl power on (or rfkill unblock bluetooth)",
                       adapters=rows)  # fmt: skip
    if not central:
        return problem(
            used,
            AREA,
            "ble-adapter",
            f"no adapter can scan (central role): {listed}",
            "use an adapter that supports the central role",
            adapters=rows,
        )
    if off:
        return warn(AREA, "ble-adapter", f"{listed}", f"power on {', '.join(off)} if you use it: "
                    "bluetoothctl power on", adapters=rows)  # fmt: skip
    return ok(AREA, "ble-adapter", f"{listed}, powered", adapters=rows)


def _passive(adapters: dict[str, tuple[dict[str, Any], Any]]) -> Check:
    able = []
    for name, (_, ifaces) in adapters.items():
        monitor = ifaces.get(MONITORS) or {}
        types = monitor["SupportedMonitorTypes"].value if "SupportedMonitorTypes" in monitor else []
        if "or_patterns" in types:
            able.append(name)
    if able:
        return ok(AREA, "ble-passive", f"passive scanning available on {', '.join(able)}",
                  adapters=able)  # fmt: skip
    return warn(
        AREA,
        "ble-passive",
        "passive scanning is not available (active scans work)",
        "run BlueZ >= 5.56 with experimental features (bluetoothd --experimental, or "
        "Experimental = true in /etc/bluetooth/main.conf) to use discover --passive",
    )
