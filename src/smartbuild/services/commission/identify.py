"""Identification against the inventory: ask each device who it is, compare with the site file.

Each transport that can identify an endpoint it is given (``follow_options``) is asked about the
inventory's addresses only, never a sweep; a transport that cannot says so (n/a).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from smartbuild.config.secret import reveal_text
from smartbuild.errors import SmartbuildError
from smartbuild.services.commission.checks import FAIL, NA, PASS, Check

if TYPE_CHECKING:
    from smartbuild.model.device import Candidate, Device
    from smartbuild.services.session import Session

FIRMWARE = re.compile(r"revision|firmware|version|^fw|^sw|^ver$", re.IGNORECASE)


def firmware_of(identity: dict[str, Any]) -> str | None:
    """Return the firmware or revision a device reported about itself, if any."""
    for key, value in identity.items():
        if isinstance(value, dict):
            found = firmware_of(value)
            if found:
                return found
        elif FIRMWARE.search(str(key)) and value not in (None, ""):
            return str(value)
    return None


def _keys(device: Device) -> list[str]:
    address = reveal_text(device.spec.address)
    unit = getattr(device.spec, "unit", None)
    suffix = f"#{unit}" if unit is not None else ""
    keys = [f"{device.transport}:{address}{suffix}"]
    if ":" not in address:  # host only: the transport's default port
        keys.append(f"{device.transport}:{address}:502{suffix}")
    return keys


def judge(device: Device, candidate: Candidate | None) -> Check:
    """Return the identification check of a device from what (if anything) answered."""
    expected = device.spec.template
    subject = device.id
    if candidate is None:
        return Check("identity", subject, FAIL, "did not answer identification at its address",
                     device=device.id, expected=expected)  # fmt: skip
    identity = {k: v for k, v in candidate.identity.items() if not isinstance(v, bytes)}
    firmware = firmware_of(identity)
    said = ", ".join(f"{k}={v}" for k, v in identity.items() if not isinstance(v, dict))
    actual = {"template": candidate.template, "identity": identity, "firmware": firmware}
    if candidate.template is None:
        reason = f"answered, but matches no template ({said or 'no identity'})"
        return Check("identity", subject, FAIL, reason, device=device.id,
                     expected=expected, actual=actual)  # fmt: skip
    if candidate.template != expected:
        reason = f"identifies as {candidate.template!r}, the site says {expected!r} ({said})"
        return Check("identity", subject, FAIL, reason, device=device.id,
                     expected=expected, actual=actual)  # fmt: skip
    fw = f", firmware {firmware}" if firmware else ", reports no firmware revision"
    how = f" by {candidate.matched_by}" if candidate.matched_by else ""
    return Check("identity", subject, PASS, f"identified as {expected!r}{how}{fw}",
                 device=device.id, expected=expected, actual=actual)  # fmt: skip


async def identify(session: Session, devices: Sequence[Device]) -> list[Check]:
    """Return one identification check per device (n/a where its transport cannot identify)."""
    by_transport: dict[str, list[Device]] = {}
    for device in devices:
        by_transport.setdefault(device.transport, []).append(device)
    plans: dict[str, Any] = {}
    checks: dict[str, Check] = {}
    for name, group in by_transport.items():
        cls = session.registry.transports[name].value
        addresses = sorted({reveal_text(d.spec.address) for d in group})
        options = cls.follow_options(addresses, None)
        if options is None:
            for d in group:
                checks[d.id] = Check("identity", d.id, NA,
                                     f"the {name} transport cannot identify a known address",
                                     device=d.id, expected=d.spec.template)  # fmt: skip
            continue
        fields = {f.name for f in dataclasses.fields(options)}
        units = sorted({u for d in group if (u := getattr(d.spec, "unit", None)) is not None})
        if "units" in fields and units:  # only the units the inventory names, not a sweep
            options = dataclasses.replace(options, units=units)
        plans[name] = options
    found: dict[str, Candidate] = {}
    errors: list[str] = []
    if plans:
        try:
            result = await session.discover(plans)
            found, errors = result.found, result.errors
        except SmartbuildError as error:
            errors = [error.message]
    for device in devices:
        if device.id in checks:
            continue
        candidate = next((found[k] for k in _keys(device) if k in found), None)
        check = judge(device, candidate)
        if candidate is None and errors:
            check = dataclasses.replace(check, reason=f"{check.reason} ({'; '.join(errors)[:300]})")
        checks[device.id] = check
    return [checks[d.id] for d in devices]
