"""The plain copies the config cache keeps: every field of their schema, the same behaviour."""

from __future__ import annotations

import dataclasses
import pickle
import subprocess
import sys

import pytest

from smartbuild.config.plain import PlainDevice, PlainSerial, plain_device
from smartbuild.config.schema import DeviceSpec, SerialSpec
from smartbuild.config.secret import Secret
from smartbuild.model.device import Device
from smartbuild.services.registry import builtin_registry
from smartbuild.transports.modbus.family import ModbusFamily
from smartbuild.transports.modbus.plain import (
    PlainModbusDefaults,
    PlainModbusPoint,
    PlainModbusTemplate,
)
from smartbuild.transports.modbus.schema import ModbusDefaults, ModbusPoint, ModbusTemplate

REGISTRY = builtin_registry()
MODBUS = sorted(n for n, t in REGISTRY.template_values().items() if isinstance(t, ModbusTemplate))


def _names(cls: type) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}


@pytest.mark.parametrize(
    ("plain", "schema", "left_out"),
    [
        (PlainModbusPoint, ModbusPoint, set()),
        (PlainModbusDefaults, ModbusDefaults, set()),
        (PlainModbusTemplate, ModbusTemplate, {"identify"}),  # discovery uses the validated one
        (PlainDevice, DeviceSpec, set()),
        (PlainSerial, SerialSpec, set()),
    ],
)
def test_a_plain_copy_has_every_field_of_its_schema(plain, schema, left_out):
    assert _names(plain) == set(schema.model_fields) - left_out


def test_the_schema_is_imported_on_first_use():
    code = (
        "import sys; import smartbuild.transports.modbus.transport as t\n"
        "assert 'pydantic' not in sys.modules, 'imported at once'\n"
        "assert t.ModbusFamily.template_schema.__name__ == 'ModbusTemplate'\n"
        "assert t.ModbusFamily.template_schema.family is t.ModbusFamily\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


@pytest.mark.parametrize("name", MODBUS)
def test_a_plain_template_behaves_like_the_validated_one(name):
    template = REGISTRY.template(name)
    plain = ModbusFamily.plain_template(template)
    assert pickle.loads(pickle.dumps(plain)) == plain
    assert plain.defaults.max_read_registers == template.defaults.max_read_registers
    assert list(plain.points) == list(template.points)
    for key, point in template.points.items():
        copy = plain.points[key]
        assert copy.register_count() == point.register_count()
        assert copy.value_kind() == point.value_kind()
        assert copy.step() == point.step()
        assert copy.unencodable(1e12) == point.unencodable(1e12)
        assert plain.pdu_address(copy) == template.pdu_address(point)
        assert plain.word_order(copy) == template.word_order(point)
        for field in ("table", "type", "scale", "offset", "unit", "enum", "bit", "sf", "length"):
            assert getattr(copy, field) == getattr(point, field)


def test_a_plain_device_keeps_a_secret_and_the_settings():
    spec = DeviceSpec(template="acme-th200", transport="modbus-rtu",
                      address=Secret("/dev/ttyUSB0", "bus"), unit=3, timeout=0.5,
                      serial=SerialSpec(baudrate=19200, parity="N"))  # fmt: skip
    template = REGISTRY.template("acme-th200")
    plain = Device("d", plain_device(spec), ModbusFamily.plain_template(template))
    full = Device("d", spec, template)
    assert str(plain.spec.address) == "***" and isinstance(plain.spec.address, Secret)
    assert plain.spec.serial == PlainSerial(19200, "N", 1, 8)
    for setting in ("timeout", "retries", "max_gap", "pause_ms", "connect_delay_ms"):
        assert plain.setting(setting) == full.setting(setting)
    assert plain.point("hvac_mode").enum == full.point("hvac_mode").enum
