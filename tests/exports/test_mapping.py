"""The role table: complete, and every class and tag drawn from the shipped Brick 1.4 ontology."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest

from smartbuild.exports.mapping import (
    EQUIPMENT,
    GENERIC_EQUIPMENT,
    ROLE_MEANINGS,
    UNMAPPED_COMMAND,
    UNMAPPED_SENSOR,
    equipment_meaning,
    point_meaning,
)
from smartbuild.model.roles import ROLES

MEANINGS = [*ROLE_MEANINGS.values(), UNMAPPED_SENSOR, UNMAPPED_COMMAND, GENERIC_EQUIPMENT,
            *(m for _, m in EQUIPMENT)]  # fmt: skip
# Haystack markers that say what kind of entity a row is (Brick has classes for these instead)
ENTITY_MARKERS = {"point", "equip", "site", "space", "floor", "sensor", "sp", "cmd"}
# Haystack tags for which Brick has no tag of its own (energy direction, the heat pump equip)
HAYSTACK_ONLY = {"import", "export", "heatPump"}


def test_every_role_has_a_brick_class_and_haystack_tags() -> None:
    assert set(ROLE_MEANINGS) == set(ROLES), set(ROLES) ^ set(ROLE_MEANINGS)
    for role, meaning in ROLE_MEANINGS.items():
        kinds = {"sensor", "sp", "cmd"} & set(meaning.haystack)
        assert len(kinds) == 1, role  # one point kind each
        if ROLES[role].writable:
            assert kinds != {"sensor"}, role


def test_lookup_falls_back_by_writability_and_equipment_by_roles() -> None:
    assert point_meaning("zone_air_temperature", False).brick == "Zone_Air_Temperature_Sensor"
    assert point_meaning(None, True) is UNMAPPED_COMMAND
    assert point_meaning(None, False) is UNMAPPED_SENSOR
    assert (
        equipment_meaning(["heat_pump_power", "outdoor_temperature"]).brick == "Packaged_Heat_Pump"
    )
    assert equipment_meaning(["water_volume_total"]).brick == "Building_Water_Meter"
    assert equipment_meaning(["zone_co2"]) is GENERIC_EQUIPMENT


@cache
def _brick_ttl() -> str:
    brickschema = pytest.importorskip("brickschema")
    return (Path(brickschema.__file__).parent / "ontologies" / "1.4" / "Brick.ttl").read_text()


@cache
def _classes() -> dict[str, str]:
    """Return Brick class name -> its block of the shipped Brick.ttl."""
    text = _brick_ttl()
    blocks = re.split(r"\n(?=brick:[A-Za-z0-9_]+ a )", text)
    out = {}
    for block in blocks:
        m = re.match(r"brick:([A-Za-z0-9_]+) a ", block)
        if m:
            out[m[1]] = block.split("\n\n", 1)[0]
    return out


def test_brick_classes_exist_and_are_not_deprecated() -> None:
    classes = _classes()
    for meaning in MEANINGS:
        assert meaning.brick in classes, meaning.brick
        assert "owl:deprecated true" not in classes[meaning.brick], meaning.brick


def test_haystack_tags_are_tags_of_the_brick_vocabulary() -> None:
    """Brick's tags come from Haystack; brickschema's own table translates the Haystack names."""
    tagmap = pytest.importorskip("brickschema.tagmap").tagmap
    brick_tags = {t.lower() for t in re.findall(r"^tag:([A-Za-z0-9_]+) a ", _brick_ttl(), re.M)}
    for meaning in MEANINGS:
        for tag in meaning.haystack:
            if tag in ENTITY_MARKERS | HAYSTACK_ONLY:
                continue
            translated = tagmap.get(tag.lower(), [tag])
            assert all(t.lower() in brick_tags for t in translated), (meaning, tag, translated)
