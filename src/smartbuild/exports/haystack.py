"""The site as a Project Haystack 4 grid in JSON (Hayson): sites, floors, spaces, equips, points."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from smartbuild.exports.mapping import UNITS, equipment_meaning, point_meaning
from smartbuild.exports.schedule import PointRow

if TYPE_CHECKING:
    from smartbuild.config.schema import Site

MARKER: dict[str, str] = {"_kind": "marker"}


def _ref(value: str, dis: str | None = None) -> dict[str, str]:
    ref = {"_kind": "ref", "val": value}
    if dis:
        ref["dis"] = dis
    return ref


def _number(value: float, unit: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"_kind": "number", "val": value}
    symbol = UNITS.get(unit or "", (None, unit))[1]
    if symbol:
        out["unit"] = symbol
    return out


def haystack_tz(name: str) -> str:
    """Return Haystack's time zone name for an IANA name ("Europe/Berlin" -> "Berlin")."""
    return name.rsplit("/", 1)[-1]


def haystack_grid(site: Site, rows: Sequence[PointRow]) -> dict[str, Any]:
    """Return the site as a Hayson grid: one row per site, floor, space, equip and point."""
    tz = haystack_tz(site.timezone)
    entities: list[dict[str, Any]] = []
    buildings = dict.fromkeys([*site.buildings, *(z.building for z in site.zones.values())])
    if not buildings:
        buildings = {"main": None}
    sites = {}
    for b in buildings:
        spec = site.buildings.get(b)
        dis = f"{site.title or site.site} {(spec.title if spec else None) or b}"
        sites[b] = _ref(f"{site.site}.{b}", dis)
        entities.append({"id": sites[b], "dis": dis, "site": MARKER, "tz": tz})
    floors: dict[tuple[str, str], dict[str, str]] = {}

    def floor_ref(building: str, floor: Any) -> dict[str, str]:
        key = (building, str(floor))
        if key not in floors:
            dis = f"{building} floor {floor}"
            floors[key] = _ref(f"{site.site}.{building}.floor-{floor}", dis)
            entities.append({"id": floors[key], "dis": dis, "space": MARKER, "floor": MARKER,
                             "siteRef": sites[building]})  # fmt: skip
        return floors[key]

    for b in buildings:
        for floor in site.buildings[b].floors if b in site.buildings else []:
            floor_ref(b, floor)
    spaces = {}
    for zone_id, zone in site.zones.items():
        spaces[zone_id] = _ref(f"{site.site}.{zone_id}", zone.title or zone_id)
        entity: dict[str, Any] = {"id": spaces[zone_id], "dis": zone.title or zone_id,
                                  "space": MARKER, "siteRef": sites[zone.building]}  # fmt: skip
        if zone.floor is not None:
            entity["spaceRef"] = floor_ref(zone.building, zone.floor)
        if zone.area_m2:
            entity["area"] = _number(zone.area_m2, "m²")
        entities.append(entity)
    first_site = next(iter(sites.values()))
    equips: dict[str, dict[str, str]] = {}
    by_device: dict[str, list[PointRow]] = {}
    for row in rows:
        by_device.setdefault(row.device, []).append(row)
    for device, points in by_device.items():
        first = points[0]
        site_ref = sites.get(first.building or "", first_site)
        equips[device] = _ref(f"{site.site}.{device}", first.device_title)
        equip: dict[str, Any] = {"id": equips[device], "dis": first.device_title,
                                 "siteRef": site_ref}  # fmt: skip
        meaning = equipment_meaning(p.role for p in points if p.role)
        equip.update(dict.fromkeys(meaning.haystack, MARKER))
        if first.zone:
            equip["spaceRef"] = spaces[first.zone]
        entities.append(equip)
        for row in points:
            entities.append(_point(site.site, row, site_ref, equips[device],
                                   spaces.get(row.zone or ""), tz))  # fmt: skip
    columns = dict.fromkeys(key for entity in entities for key in entity)
    return {"_kind": "grid", "meta": {"ver": "3.0", "site": site.site},
            "cols": [{"name": name} for name in columns], "rows": entities}  # fmt: skip


def _point(site: str, row: PointRow, site_ref: Any, equip_ref: Any, space_ref: Any,
           tz: str) -> dict[str, Any]:  # fmt: skip
    dis = f"{row.device_title} {row.point}"
    entity: dict[str, Any] = {"id": _ref(f"{site}.{row.device}.{row.point}", dis), "dis": dis}
    meaning = point_meaning(row.role, row.writable)
    entity.update(dict.fromkeys(("point", *meaning.haystack), MARKER))
    kind = "Bool" if row.unit == "bool" or row.encoding in ("bool", "coil") else (
        "Str" if row.encoding in ("text", "string") else "Number")  # fmt: skip
    entity["kind"] = kind
    if kind == "Number" and row.unit and row.unit not in ("enum",):
        entity["unit"] = UNITS.get(row.unit, (None, row.unit))[1]
    if row.writable:
        entity["writable"] = MARKER
    for key, value in (("minVal", row.min), ("maxVal", row.max)):
        if value is not None:
            entity[key] = _number(value, row.unit if kind == "Number" else None)
    entity.update({"siteRef": site_ref, "equipRef": equip_ref, "tz": tz})
    if space_ref is not None:
        entity["spaceRef"] = space_ref
    return entity


def to_haystack(site: Site, rows: Sequence[PointRow]) -> dict[str, Any]:
    """Return the Hayson grid of the site (json.dumps it to write a file)."""
    return haystack_grid(site, rows)
