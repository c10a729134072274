"""Load a site file and check what the schema alone cannot: references between its parts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from smartbuild.config.locate import load_model
from smartbuild.config.schema import Site
from smartbuild.config.yamlload import Document
from smartbuild.errors import ConfigError, Problem
from smartbuild.registry import Registry
from smartbuild.suggest import did_you_mean

BUILTIN_TRANSPORTS = ("modbus-tcp", "modbus-rtu", "ble", "mdns")
TRANSPORT_FAMILY = {"modbus-tcp": "modbus", "modbus-rtu": "modbus", "ble": "ble", "mdns": "mdns"}


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
    transports = sorted({*BUILTIN_TRANSPORTS, *registry.transports})
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
            family = TRANSPORT_FAMILY.get(dev.transport)
            if family and template.value.transport != family:
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
        if dev.transport == "modbus-tcp":
            problems.extend(_check_host_port(doc, (*at, "address"), dev.address))
        if dev.transport == "modbus-rtu" and dev.unit is None:
            problems.append(doc.problem(at, "a Modbus RTU device needs 'unit' (1-247)"))
    return problems


def _check_host_port(doc: Document, path: tuple[str, ...], address: str) -> list[Problem]:
    host, _, port = address.rpartition(":") if address.count(":") == 1 else (address, "", "")
    if not host:
        host, port = address, ""
    if port and not (port.isdigit() and 0 < int(port) < 65536):
        return [
            doc.problem(path, f"invalid port in {address!r}; write host:port, e.g. 127.0.0.1:502")
        ]
    return []
