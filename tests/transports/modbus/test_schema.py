"""Modbus template validation: located errors for roles, overlaps, addressing and bounds."""

from __future__ import annotations

import textwrap

import pytest

from smartbuild.config.locate import load_model
from smartbuild.errors import ConfigError
from smartbuild.transports.modbus.schema import ModbusTemplate as Template

HEAD = """\
template: t
title: T
transport: modbus
"""


def load(tmp_path, body: str) -> Template:
    path = tmp_path / "t.yaml"
    path.write_text(HEAD + textwrap.dedent(body))
    return load_model(Template, str(path))[0]


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (
            "points:\n  a: {table: holding, address: 0, role: heatng_setpoint}\n",
            "unknown role 'heatng_setpoint'. Did you mean 'heating_setpoint'?",
        ),
        (
            "points:\n  a: {table: holding, address: 0, type: float32}\n  b: {table: holding, address: 1}\n",
            "'b' overlaps 'a' in the holding table at address 1",
        ),
        (
            "points:\n  a: {table: input, address: 0, writable: true}\n",
            "input points are read-only",
        ),
        (
            "points:\n  a: {table: holding, address: 0, min: 5, max: 1}\n",
            "min (5.0) is greater than max (1.0)",
        ),
        ("points:\n  a: {address: 0}\n", "a Modbus point needs 'table' and 'address'"),
        (
            "points:\n  a: {table: holding, address: 0, type: string}\n",
            "a string point needs 'length'",
        ),
        ("points:\n  a: {table: holding, address: 0, sf: nope}\n", "scale-factor point 'nope'"),
        (
            "defaults: {address_base: modicon}\npoints:\n  a: {table: holding, address: 30000}\n",
            "outside 0-65535",
        ),
        (
            "points:\n  a: {table: holding, address: 0, tpye: int16}\n",
            "unknown key 'tpye'. Did you mean 'type'?",
        ),
        # NaN compares False with every bound: a profile once wrote 99 °C through a NaN maximum
        ("points:\n  a: {table: holding, address: 0, max: .nan}\n", "finite number"),
        ("points:\n  a: {table: holding, address: 0, min: -.inf}\n", "finite number"),
        ("points:\n  a: {table: holding, address: 0, scale: .nan}\n", "finite number"),
        ("points:\n  a: {table: holding, address: 0, offset: .inf}\n", "finite number"),
        (
            "defaults: {address_base: modicon}\npoints:\n  a: {table: holding, address: 30001}\n",
            "Modicon address 30001 is in the input table, not 'holding'",
        ),
        (
            "points:\n  a: {table: coil, address: 0, writable: true, min: 0, max: 2}\n",
            "a switch holds 0 (off) or 1 (on)",
        ),
    ],
)
def test_template_problems_are_located(tmp_path, body, needle):
    with pytest.raises(ConfigError) as info:
        load(tmp_path, body)
    text = "\n".join(info.value.lines())
    assert needle in text, text
    assert all(p.file and p.line for p in info.value.problems)


def test_bits_in_one_register_may_share_it(tmp_path):
    template = load(
        tmp_path,
        "points:\n  a: {table: holding, address: 5, bit: 0}\n  b: {table: holding, address: 5, bit: 1}\n",
    )
    assert len(template.points) == 2


def test_modicon_and_one_based_addresses_map_to_pdu_addresses(tmp_path):
    template = load(
        tmp_path,
        "defaults: {address_base: modicon}\npoints:\n  a: {table: holding, address: 40001}\n  b: {table: input, address: 300010}\n",
    )
    assert template.pdu_address(template.points["a"]) == 0
    assert template.pdu_address(template.points["b"]) == 9
    template = load(
        tmp_path, "defaults: {address_base: 1}\npoints:\n  a: {table: holding, address: 1}\n"
    )
    assert template.pdu_address(template.points["a"]) == 0


@pytest.mark.parametrize(
    ("point", "needle"),
    [
        (
            "{table: holding, address: 30001}",
            "Modicon address 30001 is in the input table, not 'holding'",
        ),
        ("{table: input, address: 20001}", "20001 is not a Modicon address"),
        ("{table: coil, address: 400001}", "is in the holding table, not 'coil'"),
    ],
)
def test_modicon_addresses_must_agree_with_the_table(tmp_path, point, needle):
    with pytest.raises(ConfigError) as info:
        load(tmp_path, f"defaults: {{address_base: modicon}}\npoints:\n  a: {point}\n")
    assert needle in "\n".join(info.value.lines())
