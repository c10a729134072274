"""Every shipped template loads, uses known roles in their units, and bounds what it lets you write."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from smartbuild.config.schema import Template
from smartbuild.model.roles import ROLES, WRITABLE_ROLES, normalize_unit
from smartbuild.services.registry import load_template_file as load_template
from smartbuild.templates import TEMPLATE_DIR
from smartbuild.transports.modbus.sunspec import model_points

REPO = Path(__file__).resolve().parents[2]
FILES = sorted(TEMPLATE_DIR.glob("*.yaml"))
MODBUS_REQUIRED = {
    "eastron-sdm630", "eastron-sdm120", "acme-th200", "acme-co2-100", "acme-hp-50",
    "acme-ahu-20", "acme-evc-22", "sunspec-inverter", "sunspec-meter",
}  # fmt: skip
ACME_SOURCE = "smartbuild reference device served by `smartbuild sim`"


def _load(path: Path) -> Template:
    return load_template(path)


def test_the_library_holds_the_required_modbus_templates() -> None:
    names = {_load(p).template for p in FILES}
    assert names >= MODBUS_REQUIRED, MODBUS_REQUIRED - names


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_template_loads_names_its_source_and_matches_its_file_name(path: Path) -> None:
    template = _load(path)
    assert template.template == path.stem
    assert template.source, f"{path.name}: say where the register map comes from (source:)"
    assert template.points


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_roles_are_known_and_points_carry_the_role_unit(path: Path) -> None:
    template = _load(path)
    for name, point in template.points.items():
        if point.role is None:
            continue
        assert point.role in ROLES, f"{path.name}: {name}: unknown role {point.role!r}"
        role = ROLES[point.role]
        if role.unit not in ("bool", "enum"):
            assert normalize_unit(point.unit) == role.unit, (
                f"{path.name}: {name}: unit {point.unit!r}, role {role.name} needs {role.unit}"
            )


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_points_of_writable_roles_are_writable_with_bounds(path: Path) -> None:
    template = _load(path)
    for name, point in template.points.items():
        if point.role in WRITABLE_ROLES:
            assert point.writable, f"{path.name}: {name} ({point.role}) must be writable"
            assert point.min is not None and point.max is not None, (
                f"{path.name}: {name} is writable: give min and max"
            )
        elif point.role is not None:
            assert not point.writable, f"{path.name}: {name}: {point.role} is a measurement"
        if point.writable and template.transport == "modbus":
            assert point.min is not None and point.max is not None, f"{path.name}: {name}"


@pytest.mark.parametrize("name", sorted(n for n in MODBUS_REQUIRED if n.startswith("acme-")))
def test_acme_templates_say_the_simulator_serves_them(name: str) -> None:
    template = _load(TEMPLATE_DIR / f"{name}.yaml")
    assert template.source is not None and template.source.startswith("smartbuild reference device")
    assert "`smartbuild sim`" in template.source
    rules = template.identify.modbus if template.identify else None
    assert rules is not None and rules.vendor_name == "^ACME"
    assert rules.product_code == f"^{template.model}"


def test_new_acme_templates_use_the_agreed_source_text() -> None:
    for name in ("acme-co2-100", "acme-hp-50", "acme-ahu-20", "acme-evc-22"):
        assert (_load(TEMPLATE_DIR / f"{name}.yaml").source or "").startswith(ACME_SOURCE)


def test_eastron_meters_identify_by_probe_in_kw() -> None:
    for name, probe in (("eastron-sdm630", "voltage_l1_l2"), ("eastron-sdm120", "frequency")):
        template = _load(TEMPLATE_DIR / f"{name}.yaml")
        rules = template.identify.modbus if template.identify else None
        assert rules is not None and rules.probe is not None
        assert rules.probe.point == probe
        power = next(p for p in template.points.values() if p.role == "site_active_power")
        assert (power.table, power.type, power.scale, power.unit) == (
            "input", "float32", 0.001, "kW",
        )  # fmt: skip


def _generator():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(
        "sunspec_templates", REPO / "scripts" / "sunspec_templates.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["sunspec_templates"] = module
    spec.loader.exec_module(module)
    return module


def test_sunspec_templates_are_what_the_generator_writes(tmp_path: Path) -> None:
    generator = _generator()
    assert generator.main(["--check"]) == 0, "run scripts/sunspec_templates.py"
    assert generator.main(["--out", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "sunspec-inverter.yaml",
        "sunspec-meter.yaml",
    ]


@pytest.mark.parametrize(
    ("name", "chain"), [("sunspec-inverter", [1, 103, 123]), ("sunspec-meter", [1, 203])]
)
def test_sunspec_addresses_follow_the_model_chain_at_40000(name: str, chain: list[int]) -> None:
    template = _load(TEMPLATE_DIR / f"{name}.yaml")
    start = 40002
    checked = 0
    for model_id in chain:
        offsets = model_points(model_id)
        for point, (offset, size, kind) in offsets.items():
            if point in ("ID", "L", "Pad") or kind == "pad":
                continue
            spec = template.points[point]
            assert template.pdu_address(spec) == start + offset, point
            assert spec.register_count() == size, point
            checked += 1
        start += sum(size for _, size, _ in offsets.values())
    assert checked == len(template.points)
    rules = template.identify.modbus if template.identify else None
    assert rules is not None and rules.sunspec == chain[:2]


def test_sunspec_roles_use_scale_factors() -> None:
    inverter = _load(TEMPLATE_DIR / "sunspec-inverter.yaml")
    w, limit = inverter.points["W"], inverter.points["WMaxLimPct"]
    assert (w.role, w.sf, w.scale, w.unit) == ("pv_active_power", "W_SF", 0.001, "kW")
    assert (limit.role, limit.sf, limit.writable, limit.min, limit.max) == (
        "pv_power_limit", "WMaxLimPct_SF", True, 0, 100,
    )  # fmt: skip
    meter = _load(TEMPLATE_DIR / "sunspec-meter.yaml")
    assert meter.points["W"].role == "site_active_power"
    assert meter.points["TotWhImp"].role == "energy_import_total"
    assert meter.points["TotWhImp"].type == "uint32"
    assert not any(p.writable for p in meter.points.values())


DOC = REPO / "docs" / "templates.md"


def test_the_template_docs_name_every_key_of_the_format() -> None:
    from smartbuild.config.schema import Defaults, PointSpec
    from smartbuild.transports.ble.schema import BleDefaults, BlePoint, BleRules
    from smartbuild.transports.mdns.schema import MdnsPoint, MdnsRules
    from smartbuild.transports.modbus.schema import (
        ModbusDefaults,
        ModbusPoint,
        ModbusRules,
        ProbeRule,
    )

    text = DOC.read_text(encoding="utf-8")
    models = (Template, Defaults, PointSpec, ModbusDefaults, ModbusPoint, ModbusRules, ProbeRule,
              BleDefaults, BlePoint, BleRules, MdnsPoint, MdnsRules)  # fmt: skip
    for model in models:
        for key in model.model_fields:
            assert f"`{key}`" in text or f"{key}:" in text, (
                f"docs/templates.md: {model.__name__}.{key}"
            )


def test_the_template_docs_example_is_a_valid_copy_of_the_shipped_heat_pump(tmp_path: Path) -> None:
    text = DOC.read_text(encoding="utf-8")
    example = text.split("```yaml\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "acme-hp-50.yaml"
    path.write_text(example, encoding="utf-8")
    documented = load_template(path)
    shipped = _load(TEMPLATE_DIR / "acme-hp-50.yaml")
    assert documented.identify == shipped.identify
    assert documented.defaults == shipped.defaults
    for name, point in documented.points.items():
        assert point.model_dump(exclude={"description"}) == shipped.points[name].model_dump(
            exclude={"description"}
        ), name
