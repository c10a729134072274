"""The site as a Brick model (Turtle): Site, Building, Floor, HVAC_Zone, equipment and points.

Classes come from ``exports.mapping``; units are QUDT units. rdflib is the optional extra
``smartbuild[brick]`` and is imported only here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from smartbuild.errors import UsageError
from smartbuild.exports.mapping import UNITS
from smartbuild.exports.schedule import PointRow

if TYPE_CHECKING:
    from smartbuild.config.schema import Site

BRICK = "https://brickschema.org/schema/Brick#"
QUDT_UNIT = "http://qudt.org/vocab/unit/"


def namespace(site: Site) -> str:
    """Return the namespace of the site's entities."""
    return f"urn:smartbuild:{site.site}#"


def _rdflib() -> Any:
    try:
        import rdflib
    except ImportError:
        raise UsageError(
            "the Brick export needs rdflib, which is not installed",
            hint="pip install 'smartbuild[brick]'",
        ) from None
    return rdflib


def brick_graph(site: Site, rows: Sequence[PointRow]) -> Any:
    """Return an rdflib Graph of the site's structure, equipment and points."""
    rdflib = _rdflib()
    from rdflib.namespace import RDF, RDFS

    brick = rdflib.Namespace(BRICK)
    unit = rdflib.Namespace(QUDT_UNIT)
    ns = rdflib.Namespace(namespace(site))
    g = rdflib.Graph()
    g.bind("brick", brick)
    g.bind("unit", unit)
    g.bind("site", ns)

    def label(node: Any, text: str) -> None:
        g.add((node, RDFS.label, rdflib.Literal(text)))

    root = ns["site"]
    g.add((root, RDF.type, brick.Site))
    label(root, site.title or site.site)
    buildings = dict.fromkeys([*site.buildings, *(z.building for z in site.zones.values())])
    for b in buildings:
        node = ns[f"building_{b}"]
        g.add((node, RDF.type, brick.Building))
        g.add((root, brick.hasPart, node))
        spec = site.buildings.get(b)
        label(node, (spec.title if spec else None) or b)
        for floor in spec.floors if spec else []:
            _floor(g, ns, brick, b, floor, label)
    for zone_id, zone in site.zones.items():
        node = ns[f"zone_{zone_id}"]
        g.add((node, RDF.type, brick.HVAC_Zone))
        label(node, zone.title or zone_id)
        parent = (ns[f"building_{zone.building}"] if zone.floor is None
                  else _floor(g, ns, brick, zone.building, zone.floor, label))  # fmt: skip
        g.add((parent, brick.hasPart, node))
        if zone.area_m2:
            g.add((node, brick.area, _quantity(g, rdflib, brick, unit, zone.area_m2, "M2")))
    only = next(iter(buildings)) if len(buildings) == 1 else None
    for row in rows:
        equip = ns[f"device_{row.device}"]
        if (equip, RDF.type, None) not in g:
            g.add((equip, RDF.type, brick[row.equipment]))
            label(equip, row.device_title)
            where = (ns[f"zone_{row.zone}"] if row.zone
                     else ns[f"building_{only}"] if only else root)  # fmt: skip
            g.add((equip, brick.hasLocation, where))
        point = ns[f"point_{row.device}.{row.point}"]
        g.add((point, RDF.type, brick[row.brick_class]))
        label(point, f"{row.device} {row.point}")
        g.add((equip, brick.hasPoint, point))
        qudt = UNITS.get(row.unit or "")
        if qudt:
            g.add((point, brick.hasUnit, unit[qudt[0]]))
    return g


def _floor(g: Any, ns: Any, brick: Any, building: str, floor: Any, label: Any) -> Any:
    from rdflib.namespace import RDF

    node = ns[f"floor_{building}_{floor}"]
    if (node, RDF.type, brick.Floor) not in g:
        g.add((node, RDF.type, brick.Floor))
        g.add((ns[f"building_{building}"], brick.hasPart, node))
        label(node, f"{building} floor {floor}")
    return node


def _quantity(g: Any, rdflib: Any, brick: Any, unit: Any, value: float, name: str) -> Any:
    from rdflib.namespace import RDF

    node = rdflib.BNode()
    g.add((node, RDF.type, brick.Area))
    g.add((node, brick.value, rdflib.Literal(value)))
    g.add((node, brick.hasUnit, unit[name]))
    return node


def to_brick(site: Site, rows: Sequence[PointRow]) -> str:
    """Return the site's Brick model as Turtle."""
    text: str = brick_graph(site, rows).serialize(format="turtle")
    return text
