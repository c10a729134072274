"""What reading devices needs of a validated site, as plain data kept in the config cache.

`smartbuild read DEVICE` after the first run takes its devices from here: the device entries
(config/plain.py), each device's template as its family's plain copy
(``TransportFamily.plain_template``) and the transport classes that serve them, with the plugin
that provided each. Unpickling it imports neither pydantic nor YAML nor the plugin manager, only
the modules of those classes. Devices whose family has no plain copy are named (``members``) but
not held: a command that picks one of them loads the validated site as before.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from smartbuild.model.device import Device

if TYPE_CHECKING:
    from smartbuild.config.schema import Site
    from smartbuild.services.registry import Entry, Registry


@dataclass(frozen=True)
class PlainSite:
    """Plain-data devices of a validated site, for reads (never for writes or plans)."""

    zones: tuple[str, ...]  # every zone of the site
    members: dict[str, str | None]  # every enabled device (site order) -> its zone
    devices: dict[str, Device[Any]]  # the enabled devices whose family has a plain template
    transports: dict[str, Entry]  # the transports those devices use (class and provenance)
    warnings: tuple[str, ...] = ()  # what loading the registry said, to say again


def plain_site(
    site: Site, registry: Registry, used: Mapping[str, Any], warnings: list[str]
) -> PlainSite:
    """Return the plain view of a validated site (``used``: its templates by name)."""
    from smartbuild.config.plain import plain_device

    members: dict[str, str | None] = {}
    devices: dict[str, Device[Any]] = {}
    transports: dict[str, Entry] = {}
    for dev_id, spec in site.devices.items():
        if not spec.enabled:
            continue
        members[dev_id] = spec.zone
        template = used[spec.template]
        family = registry.family_of(spec.transport)
        if family is None or type(template).family is not family:
            continue
        try:
            plain = family.plain_template(template)
        except Exception:  # a plugin family's copy failed: read through the validated site
            plain = None
        if plain is not None:
            entry: Any = plain_device(spec)  # the fields of a DeviceSpec, as plain data
            devices[dev_id] = Device(dev_id, entry, plain)
            transports[spec.transport] = registry.transports[spec.transport]
    return PlainSite(tuple(site.zones), members, devices, transports, tuple(warnings))
