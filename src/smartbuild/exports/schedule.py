"""The points schedule: one row per point of every enabled device, with where and what it is."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from smartbuild.exports.mapping import equipment_meaning, point_meaning

if TYPE_CHECKING:
    from smartbuild.config.schema import Site, Template


@dataclass(frozen=True)
class PointRow:
    """One point of the schedule, as installers keep it in spreadsheets."""

    site: str
    building: str | None
    floor: str | None
    zone: str | None
    device: str
    device_title: str
    equipment: str  # Brick class of the device
    template: str
    transport: str
    address: str  # a !secret address shows as ***
    unit_id: int | None
    point: str
    description: str | None
    role: str | None
    location: str  # where the point lives on the device: "holding 10", "txt temp", ...
    encoding: str  # how it is encoded: "int16", "sint16", "number", ...
    unit: str | None
    scale: float
    offset: float
    writable: bool
    min: float | None
    max: float | None
    brick_class: str
    haystack_tags: str

    def to_json(self) -> dict[str, Any]:
        """Return the row as a dict."""
        return asdict(self)


def points_schedule(
    site: Site, templates: Mapping[str, Template], families: Mapping[str, Any]
) -> list[PointRow]:
    """Return the schedule of every enabled device's points, in site-file order.

    ``families`` maps a template's ``transport:`` to its family, which says where a point lives.
    """
    rows: list[PointRow] = []
    for dev_id, spec in site.devices.items():
        if not spec.enabled:
            continue
        template = templates[spec.template]
        zone = site.zones.get(spec.zone) if spec.zone else None
        family = families.get(template.transport)
        roles = [p.role for p in template.points.values() if p.role]
        equipment = equipment_meaning(roles).brick
        for name, point in template.points.items():
            where, encoding = (
                family.describe_point(template, point) if family else ("", point.value_kind())
            )
            meaning = point_meaning(point.role, point.writable)
            rows.append(PointRow(
                site.site, zone.building if zone else None,
                None if zone is None or zone.floor is None else str(zone.floor), spec.zone,
                dev_id, spec.title or template.title, equipment, template.template,
                spec.transport, str(spec.address), spec.unit, name, point.description,
                point.role, where, encoding, point.unit, point.scale, point.offset,
                point.writable, point.min, point.max, meaning.brick, " ".join(meaning.haystack),
            ))  # fmt: skip
    return rows
