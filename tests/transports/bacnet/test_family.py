"""Pure parts of the BACnet family: template schema, matcher, targets, generated templates."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from smartbuild.errors import UsageError
from smartbuild.model.device import Candidate
from smartbuild.transports.bacnet.family import BacnetFamily, expand_targets, parse_instances
from smartbuild.transports.bacnet.generate import ObjectInfo, generate_template, role_of, unit_of
from smartbuild.transports.bacnet.schema import BacnetTemplate, parse_object
from smartbuild.transports.bacnet.values import to_engineering, to_raw


def template(**points: Any) -> BacnetTemplate:
    return BacnetTemplate.model_validate({"template": "t", "title": "t", "transport": "bacnet",
                                          "identify": {"bacnet": {"vendor_name": "^ACME", "vendor_id": 7}},
                                          "points": points})  # fmt: skip


def test_points_know_their_kind_step_and_priority():
    t = template(
        sp={"object": "analog-value,1", "commandable": True, "writable": True, "priority": 12},
        out={"object": "analog-output,2", "writable": True},
        on={"object": "binary-value,1"},
        mode={"object": "multi-state-value,3", "enum": {1: "auto", 2: "low"}},
    )
    sp, out, on, mode = (t.points[n] for n in ("sp", "out", "on", "mode"))
    assert (t.priority(sp), t.priority(out)) == (12, 16)
    assert sp.is_commandable() and out.is_commandable() and not on.is_commandable()
    assert (on.value_kind(), mode.value_kind(), mode.step()) == ("bool", "integer", 1.0)
    assert BacnetFamily.describe_point(t, sp) == ("analog-value,1", "number @12")


@pytest.mark.parametrize(("points", "message"), [
    ({"x": {"object": "analog-value,1", "commandable": True, "priority": 3}}, "1-5 are life safety"),
    ({"x": {"object": "analog-thing,1"}}, "must be TYPE,INSTANCE"),
    ({"x": {"object": "analog-value,4194303"}}, "instance above"),
    ({"x": {"object": "analog-input,1", "priority": 10}}, "needs a commandable present-value"),
    ({"x": {"object": "analog-input,1"}, "y": {"object": "analog-input,1"}}, "reads analog-input,1"),
])  # fmt: skip
def test_bad_templates_are_refused_with_the_reason(points, message):
    with pytest.raises(ValidationError, match=message):
        template(**points)


def test_matcher_needs_every_rule():
    t = template()
    hit = Candidate("bacnet-ip", "h:1", identity={"vendor": "ACME Controls", "vendor_id": 7})
    assert BacnetFamily.match(t, hit) == ["BACnet vendor_name ~ ^ACME", "BACnet vendor id = 7"]
    miss = Candidate("bacnet-ip", "h:1", identity={"vendor": "ACME Controls", "vendor_id": 8})
    assert BacnetFamily.match(t, miss) is None


def test_targets_and_instances():
    assert expand_targets(["10.0.0.5-7", "10.0.1.1:47809", "10.0.2.0/30"], 47808) == [
        "10.0.0.5:47808", "10.0.0.6:47808", "10.0.0.7:47808", "10.0.1.1:47809",
        "10.0.2.1:47808", "10.0.2.2:47808",
    ]  # fmt: skip
    assert parse_instances("1000-1999") == (1000, 1999) and parse_instances("5") == (5, 5)
    for bad in (["10.0.0.9-3"], ["host.example"], ["10.0.0.1:0"], ["10.0.0.0/8"]):
        with pytest.raises(UsageError):
            expand_targets(bad, 47808)
    with pytest.raises(UsageError):
        parse_instances("0-4194303")


def test_units_and_roles_come_from_names_types_and_units():
    assert (unit_of("degrees-celsius"), unit_of("no-units"), unit_of("furlongs")) == (
        "°C",
        None,
        "furlongs",
    )

    def info(kind: str, name: str, units: str | None = None, cmd: bool = False) -> ObjectInfo:
        return ObjectInfo(kind, 1, name, units, cmd)

    assert role_of(info("analog-input", "Zone Temp", "degrees-celsius")) == "zone_air_temperature"
    assert (
        role_of(info("analog-value", "Zone Temp SP", "degrees-celsius", True))
        == "zone_air_temperature_setpoint"
    )
    assert role_of(info("analog-value", "HTG-SETPT", "degrees-celsius", True)) == "heating_setpoint"
    assert role_of(info("analog-input", "CO2", "parts-per-million")) == "zone_co2"
    # a name without a clear meaning, or a unit that contradicts it, gets no role
    assert role_of(info("analog-input", "AI-7", "degrees-celsius")) is None
    assert role_of(info("analog-input", "Zone Temp", "percent")) is None
    assert role_of(info("analog-input", "Zone Temp SP", "degrees-celsius")) is None  # not writable


def test_a_generated_template_validates():
    doc = generate_template(
        {"vendor": "Bldg <Co>", "model": "X 1", "instance": 9},
        [ObjectInfo("analog-input", 1, "Zone Temp", "degrees-celsius"),
         ObjectInfo("analog-input", 2, "Zone Temp", "degrees-celsius"),
         ObjectInfo("analog-value", 3, "", "percent", True),
         ObjectInfo("multi-state-value", 4, "Mode", None, False, ["off", "on"]),
         ObjectInfo("schedule", 1, "Sched")],
    )  # fmt: skip
    t = BacnetTemplate.model_validate(doc)
    assert t.template == "bacnet-bldg-co-x-1"
    assert list(t.points) == ["zone_temp", "zone_temp_2", "analog_value_3", "mode"]
    assert t.points["analog_value_3"].writable and t.points["analog_value_3"].is_commandable()
    assert t.points["mode"].enum == {1: "off", 2: "on"}
    assert BacnetFamily.match(
        t, Candidate("bacnet-ip", "h", identity={"vendor": "Bldg <Co>", "model": "X 1"})
    )


def test_values_to_and_from_the_device():
    t = template(
        temp={"object": "analog-input,1", "scale": 0.1},
        on={"object": "binary-value,1"},
        mode={"object": "multi-state-value,3", "enum": {1: "auto", 2: "low"}},
    )
    assert to_engineering(t.points["temp"], 215.0) == (21.5, None)
    assert to_engineering(t.points["mode"], 2) == (2, "low")
    assert to_raw(t.points["on"], True) == "active" and to_raw(t.points["temp"], 21.5) == 215.0
    assert parse_object("analog-value,3") == ("analog-value", 3)


def test_without_bacpypes3_the_transport_says_how_to_install_it(run, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "bacpypes3", None)
    result = run("discover", "--bacnet-target", "127.0.0.2:47809")
    assert result.exit_code == 2, result.output
    assert "pip install 'smartbuild[bacnet]'" in result.stderr
