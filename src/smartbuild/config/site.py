"""Load a site file and check what the schema alone cannot: references between its parts."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from smartbuild.config.locate import load_model
from smartbuild.config.schema import DeviceSpec, Site
from smartbuild.config.secret import Secret, reveal_text
from smartbuild.config.yamlload import Document
from smartbuild.errors import ConfigError, Problem
from smartbuild.suggest import did_you_mean

if TYPE_CHECKING:
    from smartbuild.services.registry import Registry


@dataclass
class LoadedSite:
    """A validated site with the located document it came from."""

    site: Site
    doc: Document
    path: Path


def load_site(path: Path, registry: Registry) -> LoadedSite:
    """Load, validate and cross-check a site file; raise ConfigError listing every problem."""
    if not path.exists():
        raise ConfigError(
            Problem("site file not found", file=str(path)),
            hint="pass --site FILE, set SMARTBUILD_SITE, or create one with "
            "`smartbuild discover ... --save`",
        )
    site, doc = load_model(Site, str(path))
    base = path.parent
    extra = [base / p for p in site.templates]
    problems = []
    for index, p in enumerate(extra):
        if not p.exists():
            problems.append(doc.problem(("templates", index), f"template path not found: {p}"))
    if problems:
        raise ConfigError(problems)
    if extra:
        registry.add_templates(extra, "site", str(path))
    problems = check_site(site, doc, registry)
    if problems:
        raise ConfigError(problems)
    return LoadedSite(site, doc, path)


def check_site(site: Site, doc: Document, registry: Registry) -> list[Problem]:
    """Return problems with references: templates, zones, transports, addresses."""
    problems: list[Problem] = []
    transports = sorted(registry.transports)
    for zone_id, zone in site.zones.items():
        if site.buildings and zone.building not in site.buildings:
            problems.append(
                doc.problem(
                    ("zones", zone_id, "building"),
                    f"unknown building {zone.building!r}.{did_you_mean(zone.building, site.buildings)}",
                )
            )
    for dev_id, dev in site.devices.items():
        at = ("devices", dev_id)
        if dev.transport not in transports:
            problems.append(
                doc.problem(
                    (*at, "transport"),
                    f"unknown transport {dev.transport!r}.{did_you_mean(dev.transport, transports)}"
                    f" Known: {', '.join(transports)}.",
                )
            )
        template = registry.templates.get(dev.template)
        if template is None:
            problems.append(
                doc.problem(
                    (*at, "template"),
                    f"unknown template {dev.template!r}."
                    f"{did_you_mean(dev.template, registry.templates)}"
                    " `smartbuild templates list` shows them.",
                )
            )
        else:
            family = registry.family_of(dev.transport)
            if family is not None and template.value.transport != family.name:
                problems.append(
                    doc.problem(
                        (*at, "transport"),
                        f"template {dev.template!r} is a {template.value.transport} template; "
                        f"transport {dev.transport!r} cannot serve it",
                    )
                )
        if dev.zone is not None and dev.zone not in site.zones:
            problems.append(
                doc.problem(
                    (*at, "zone"), f"unknown zone {dev.zone!r}.{did_you_mean(dev.zone, site.zones)}"
                )
            )
        for index, pattern in enumerate(dev.serves):
            if not matching_zones(pattern, site.zones):
                problems.append(
                    doc.problem(
                        (*at, "serves", index),
                        f"{pattern!r} matches no zone.{did_you_mean(pattern, site.zones)}",
                    )
                )
        if dev.transport in transports:
            for key, message in registry.transport_class(dev.transport).check_device(dev):
                problems.append(doc.problem((*at, *key), message))
    problems.extend(check_unique_endpoints(site, doc))
    return problems


def matching_zones(pattern: str, zones: Collection[str]) -> list[str]:
    """Return the zone ids a `serves` entry names: the id itself, or those its pattern matches."""
    import fnmatch

    return [z for z in zones if z == pattern or fnmatch.fnmatchcase(z, pattern)]


def served_zones(device: DeviceSpec, zones: Collection[str]) -> tuple[str, ...]:
    """Return the zones a device serves (its `serves` resolved against the site), in site order."""
    if not device.serves:
        return ()
    found = {z for pattern in device.serves for z in matching_zones(pattern, zones)}
    return tuple(z for z in zones if z in found)


def endpoint(transport: str, address: str, unit: int | None) -> tuple[str, str, int | None]:
    """Return what identifies one device on the wire: transport, address and unit."""
    # Modbus defaults to unit 1 when none is given (what the transport sends); BLE addresses and
    # host names are compared without regard to case.
    address = address.strip().lower()
    if unit is None and transport.startswith("modbus"):
        unit = 1
    if transport == "modbus-tcp" and address.count(":") == 0:
        address += ":502"
    return transport, address, unit


def check_unique_endpoints(site: Site, doc: Document) -> list[Problem]:
    """Return a problem for each device that has the transport, address and unit of an earlier one."""
    problems: list[Problem] = []
    first: dict[tuple[str, str, int | None], str] = {}
    hidden = {d for d, spec in site.devices.items() if isinstance(spec.address, Secret)}
    for dev_id, dev in site.devices.items():
        if not dev.enabled:  # a disabled entry is never read or written
            continue
        key = endpoint(dev.transport, reveal_text(dev.address), dev.unit)
        if key not in first:
            first[key] = dev_id
            continue
        other = first[key]
        where = doc.locate(("devices", other))
        line = f" (line {where.line})" if where and where.file == doc.file else ""
        unit = "" if key[2] is None else f", unit {key[2]}"
        shown = "***" if {dev_id, other} & hidden else key[1]  # never confirm a secret's value
        problems.append(
            doc.problem(
                ("devices", dev_id, "address"),
                f"device {dev_id!r} has the same transport, address and unit as {other!r}{line}: "
                f"{dev.transport} {shown}{unit}; two entries would write to one device. "
                "Remove one, or give each its own unit",
            )
        )
    return problems
