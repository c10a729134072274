"""Site files through `smartbuild validate`: located problems, suggestions, secrets never echoed."""

from __future__ import annotations

import json
import textwrap

import pytest

from tests.conftest import EXAMPLES


def write(tmp_path, text, name="site.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_example_site_is_valid(run):
    result = run("validate", str(EXAMPLES / "site.yaml"))
    assert result.exit_code == 0, result.output
    assert "3 zones, 3 devices" in result.stdout


def test_unknown_key_is_located_with_a_suggestion(run, tmp_path):
    path = write(
        tmp_path,
        """\
        site: x
        zones:
          z1: {building: main, flor: 1}
        """,
    )
    result = run("validate", str(path))
    assert result.exit_code == 2
    assert f"{path}:3:24: zones.z1.flor: unknown key 'flor'. Did you mean 'floor'?" in result.stderr


def test_wrong_types_and_values(run, tmp_path):
    path = write(
        tmp_path,
        """\
        site: x
        timezone: Europe/Berln
        devices:
          d1: {template: acme-th200, transport: modbus-tcp, address: "127.0.0.1:5020", unit: many}
        """,
    )
    result = run("--json", "validate", str(path))
    assert result.exit_code == 2
    problems = json.loads(result.stdout)["files"][0]["problems"]
    assert (
        f"{path}:2:11: timezone: unknown timezone 'Europe/Berln'. Did you mean 'Europe/Berlin'?"
        in problems
    )
    assert any(p.startswith(f"{path}:4:") and "devices.d1.unit" in p for p in problems)


def test_serves_names_zones_or_patterns_and_unknown_ones_are_located(run, tmp_path):
    path = write(
        tmp_path,
        """\
        site: x
        zones:
          f1-office: {}
          f1-meeting: {}
        devices:
          ahu: {template: acme-ahu-20, transport: modbus-tcp, address: "127.0.0.1:5020", unit: 3, serves: ["f1-*"]}
          ahu2: {template: acme-ahu-20, transport: modbus-tcp, address: "127.0.0.1:5021", unit: 3, serves: [f1-office, f2-ofice]}
        """,
    )
    result = run("validate", str(path))
    assert result.exit_code == 2
    assert (
        f"{path}:7:112: devices.ahu2.serves[1]: 'f2-ofice' matches no zone. Did you mean "
        "'f1-office'?" in result.stderr
    ), result.stderr
    assert "devices.ahu.serves" not in result.stderr


def test_references_are_checked_with_suggestions(run, tmp_path):
    path = write(
        tmp_path,
        """\
        site: x
        zones:
          office: {}
        devices:
          d1: {template: acme-th20, transport: modbus-tcp, address: "127.0.0.1:5020", unit: 1}
          d2: {template: acme-th200, transport: modbus-tpc, address: "127.0.0.1:5020", unit: 1, zone: ofice}
          d3: {template: acme-th200, transport: modbus-tcp, address: "127.0.0.1:99999", unit: 1}
          d4: {template: acme-th200, transport: modbus-tcp, address: "300.1.1.1:5020", unit: 1}
          d5: {template: acme-th200, transport: modbus-tcp, address: ":5020", unit: 1}
        """,
    )
    result = run("validate", str(path))
    assert result.exit_code == 2
    err = result.stderr
    assert (
        f"{path}:5:18: devices.d1.template: unknown template 'acme-th20'. Did you mean 'acme-th200'?"
        in err
    )
    assert "devices.d2.transport: unknown transport 'modbus-tpc'. Did you mean 'modbus-tcp'?" in err
    assert "devices.d2.zone: unknown zone 'ofice'. Did you mean 'office'?" in err
    assert "devices.d3.address: invalid port" in err
    assert (
        f"{path}:8:62: devices.d4.address: invalid address '300.1.1.1:5020': '300.1.1.1' is not "
        "a valid IP address (300 is more than 255)" in err
    )
    assert "devices.d5.address: invalid address ':5020': the host is empty" in err


def test_secret_values_are_never_echoed(run, tmp_path):
    (tmp_path / "secrets.yaml").write_text("unit_secret: s3cr3t-value\n")
    path = write(
        tmp_path,
        """\
        site: x
        devices:
          d1: {template: acme-th200, transport: modbus-tcp, address: "127.0.0.1:5020", unit: !secret unit_secret}
        """,
    )
    result = run("validate", str(path))
    assert result.exit_code == 2
    assert "devices.d1.unit" in result.stderr
    assert "s3cr3t-value" not in result.output


def test_missing_site_file_says_what_to_do(run, chdir_tmp):
    result = run("templates", "list")  # no site file is fine for listing
    assert result.exit_code == 0, result.output
    result = run("validate", "site.yaml")
    assert result.exit_code == 2
    assert "file not found" in result.stderr


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("", "the file is empty"),
        ("- a\n- b\n", "expected a mapping"),
        ("hello: 1\n", "cannot tell what this file is"),
    ],
)
def test_files_that_are_not_smartbuild_files(run, tmp_path, text, needle):
    path = write(tmp_path, text, "thing.yaml")
    result = run("validate", str(path))
    assert result.exit_code == 2
    assert needle in result.stderr or needle in result.stdout


def test_two_devices_on_one_transport_address_and_unit_are_refused(run, tmp_path):
    path = write(
        tmp_path,
        """\
        site: x
        devices:
          a: {template: acme-th200, transport: modbus-tcp, address: "127.0.0.1:502", unit: 1}
          b: {template: acme-th200, transport: modbus-tcp, address: "127.0.0.1:502", unit: 2}
          c: {template: acme-th200, transport: modbus-tcp, address: "127.0.0.1"}
          off: {template: acme-th200, transport: modbus-tcp, address: "127.0.0.1", enabled: false}
          rtu: {template: acme-th200, transport: modbus-rtu, address: "/dev/ttyUSB0", unit: 2}
        """,
    )
    result = run("--site", str(path), "devices")
    assert result.exit_code == 2
    assert (
        f"{path}:5:61: devices.c.address: device 'c' has the same transport, address and unit "
        "as 'a' (line 3): modbus-tcp 127.0.0.1:502, unit 1;" in result.stderr
    )
    assert "devices.b" not in result.stderr and "devices.off" not in result.stderr
    assert "devices.rtu" not in result.stderr  # another transport: another bus


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        (("modbus-tcp", "127.0.0.1", None), ("modbus-tcp", "127.0.0.1:502", 1), True),
        (("modbus-tcp", "Host.example:502", 1), ("modbus-tcp", "host.example:502", 1), True),
        (("modbus-tcp", "127.0.0.1:502", 1), ("modbus-tcp", "127.0.0.1:5020", 1), False),
        (("modbus-rtu", "/dev/ttyUSB0", 2), ("modbus-tcp", "/dev/ttyUSB0", 2), False),
        (("ble", "AA:BB:CC:DD:EE:FF", None), ("ble", "aa:bb:cc:dd:ee:ff", None), True),
    ],
)
def test_endpoint_identity(a, b, same):
    from smartbuild.config.site import endpoint

    assert (endpoint(*a) == endpoint(*b)) is same


def test_validate_without_files_checks_the_site(run, tmp_path):
    path = write(tmp_path, "site: x\nzones:\n  office: {}\n")
    result = run("--site", str(path), "validate")
    assert result.exit_code == 0, result.output
    assert f"ok {path}" in result.stdout
    missing = run("--site", str(tmp_path / "none.yaml"), "validate")
    assert missing.exit_code == 2
    assert "no FILES named and no site file" in missing.stderr
