"""Modbus end to end through the CLI against real pymodbus servers: discover, save, read, write, watch.

CliRunner runs each command (and its event loop) in the test thread, so the farm serves from its
own loop in a background thread (``ThreadedFarm``). Request counts are taken at the servers.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from smartbuild.sim.peers.modbus_farm import ServerSpec, SimUnit
from smartbuild.sim.peers.ptybridge import PtyBridge
from tests.transports.modbus.test_devices import (
    ThreadedFarm,
    acme_ahu,
    acme_co2,
    acme_evc,
    acme_hp,
    acme_th200,
    f32,
    sdm120,
    sdm630,
    sunspec_inverter,
    sunspec_meter,
)

# Not the /24s of tests/sim or tests/transports: parallel runs must not meet on the loopback.
NET = f"127.{150 + os.getpid() % 50}.{os.getpid() % 250 + 1}"


@pytest.fixture
def farm() -> Iterator[ThreadedFarm]:
    threaded = ThreadedFarm()
    yield threaded
    threaded.stop()


def ok(result: Any) -> Any:
    assert result.exit_code == 0, result.output
    return result


def found(result: Any) -> dict[tuple[str, int], dict[str, Any]]:
    return {(c["address"], c["unit"]): c for c in json.loads(result.stdout)["candidates"]}


def serve(farm: ThreadedFarm, units: dict[int, list[SimUnit]], **kwargs: Any) -> int:
    """Serve {last octet: units} on NET, all on one port (ranges and CIDR need one); return it."""
    port = 0
    for octet, server_units in units.items():
        endpoint = farm.add(ServerSpec(f"{NET}.{octet}", server_units, port=port, **kwargs))
        port = int(endpoint.rsplit(":", 1)[1])
    return port


BUILDING = {
    10: [acme_co2(1), acme_hp(2)],  # an RS-485 gateway: absent units answer 0x0B
    11: [sdm630(1)],
    12: [sunspec_inverter(1)],
    13: [sdm120(1)],
    14: [sunspec_meter(1)],
    15: [acme_th200(1)],
}
TEMPLATES = {
    (10, 1): ("acme-co2-100", "FC43 vendor_name ~ ^ACME, FC43 product_code ~ ^CO2-100"),
    (10, 2): ("acme-hp-50", "FC43 vendor_name ~ ^ACME, FC43 product_code ~ ^HP-50"),
    (11, 1): ("eastron-sdm630", "probe voltage_l1_l2 = 398.5"),
    (12, 1): ("sunspec-inverter", "SunSpec models 1+103"),
    (13, 1): ("eastron-sdm120", "probe frequency = 49.98"),
    (14, 1): ("sunspec-meter", "SunSpec models 1+203"),
    (15, 1): ("acme-th200", "FC43 vendor_name ~ ^ACME, FC43 product_code ~ ^TH-200"),
}


@pytest.mark.parametrize("targets", ["range", "cidr", "hosts"])
def test_discover_identifies_by_fc43_sunspec_and_probe(
    run: Any, farm: ThreadedFarm, targets: str
) -> None:
    port = serve(farm, BUILDING)
    args = {
        "range": [f"{NET}.8-16"],
        "cidr": [f"{NET}.0/27"],
        "hosts": [f"{NET}.{o}:{port}" for o in BUILDING],
    }[targets]
    flags = [x for t in args for x in ("--modbus", t)]
    result = ok(run("--json", "discover", *flags, "--port", str(port), "--units", "1-3",
                    "--timeout", "0.5"))  # fmt: skip
    seen = found(result)
    assert {
        (int(a.split(":")[0].rsplit(".", 1)[1]), u): (c["template"], c["matched_by"])
        for (a, u), c in seen.items()
    } == TEMPLATES
    gateway = seen[(f"{NET}.10:{port}", 2)]["identity"]
    assert (gateway["vendor_name"], gateway["product_code"]) == ("ACME", "HP-50")
    inverter = seen[(f"{NET}.12:{port}", 1)]["identity"]["sunspec"]
    assert (inverter["manufacturer"], inverter["serial"], inverter["models"]) == (
        "SunSim", "INV0001", [1, 103, 123],
    )  # fmt: skip
    # The gateway's "no such unit" (0x0B) ends the look at unit 3 after one request.
    assert farm.stats(f"{NET}.10:{port}").total(unit=3) == 1


def test_discover_saves_stable_ids_keeps_the_hand_written_file_and_adds_nothing_twice(
    run: Any, farm: ThreadedFarm, tmp_path: Path
) -> None:
    port = serve(farm, {10: BUILDING[10], 11: BUILDING[11]})
    site = tmp_path / "site.yaml"
    hand = (
        "# Our building: keep this comment\n"
        "site: hq\n"
        "zones:\n"
        "  office: {title: Office}  # the open-plan office\n"
        "devices:\n"
        "  # the thermostat Bob installed\n"
        "  bobs-th: {template: acme-th200, transport: modbus-tcp, address: '192.0.2.7:502'}\n"
        "\n"
        "# end of file\n"
    )
    site.write_text(hand)
    sweep = ("--site", str(site), "discover", "--modbus", f"{NET}.9-12", "--port", str(port),
             "--units", "1,2", "--timeout", "0.5", "--save")  # fmt: skip
    first = ok(run(*sweep))
    assert "3 added, 0 already there" in first.stderr
    text = site.read_text()
    stem = f"{NET.replace('.', '-')}"
    ids = [f"acme-co2-100-{stem}-10-{port}-u1", f"acme-hp-50-{stem}-10-{port}-u2",
           f"eastron-sdm630-{stem}-11-{port}-u1"]  # fmt: skip
    assert list(yaml.safe_load(text)["devices"]) == ["bobs-th", *ids]
    lines = text.splitlines()
    assert lines[:7] == hand.splitlines()[:7]  # everything written by hand, in place
    assert lines[-2:] == ["", "# end of file"]
    assert [line.split(":")[0].strip() for line in lines[7:10]] == ids
    again = ok(run(*sweep))
    assert "0 added, 3 already there" in again.stderr
    assert site.read_text() == text
    ok(run("validate", str(site)))
    saved = json.loads(ok(run("--site", str(site), "--json", "read", ids[2], "total_power")).stdout)
    assert saved["readings"][0]["value"] == pytest.approx(3.62835)


def site_file(tmp_path: Path, devices: dict[str, str], zones: str = "{}") -> str:
    """Write a site with devices {id: "template address unit [extra yaml]"}; return its path."""
    lines = ["site: test", f"zones: {zones}", "devices:"]
    for dev_id, text in devices.items():
        template, address, unit, *extra = text.split(" ", 3)
        more = f", {extra[0]}" if extra else ""
        lines.append(f"  {dev_id}: {{template: {template}, transport: modbus-tcp, "
                     f"address: '{address}', unit: {unit}{more}}}")  # fmt: skip
    path = tmp_path / "site.yaml"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_read_counts_the_planners_minimum_at_the_server(
    run: Any, farm: ThreadedFarm, tmp_path: Path
) -> None:
    th = farm.add(ServerSpec(f"{NET}.20", [acme_th200(1)], port=0))
    site = site_file(tmp_path, {"th": f"acme-th200 {th} 1"})
    data = json.loads(ok(run("--site", site, "--json", "read", "th")).stdout)
    values = {r["point"]: (r["value"], r["unit"], r.get("text")) for r in data["readings"]}
    assert values == {
        "room_temperature": (21.5, "°C", None),
        "room_humidity": (48.0, "%", None),
        "heating_setpoint": (21.0, "°C", None),
        "cooling_setpoint": (26.0, "°C", None),
        "hvac_mode": (1, None, "heat"),
        "occupancy": (True, None, None),
    }
    # Six points in three tables: input 0-1, holding 10-12, discrete 0 = three requests.
    assert farm.stats(th).reads(unit=1) == 3
    assert (farm.stats(th).reads(fc=4), farm.stats(th).reads(fc=3)) == (1, 1)
    assert data["devices"]["th"] == {"requests": 3, "errors": 0, "timeouts": 0, "last_error": None}
    table = ok(run("--site", site, "read", "th", "hvac_mode", "room_temperature")).stdout
    assert "1 (heat)" in table and "21.5 °C" in table
    assert farm.stats(th).reads(unit=1) == 5  # two tables, one request each


def test_write_checks_bounds_confirms_reads_back_and_skips_unchanged_values(
    run: Any, farm: ThreadedFarm, tmp_path: Path
) -> None:
    port = serve(farm, {21: [acme_co2(1), acme_ahu(2), acme_evc(3), acme_hp(4)]})
    address = f"{NET}.21:{port}"
    site = site_file(tmp_path, {"co2": f"acme-co2-100 {address} 1", "ahu": f"acme-ahu-20 {address} 2",
                                "evc": f"acme-evc-22 {address} 3", "hp": f"acme-hp-50 {address} 4"})  # fmt: skip
    stats = farm.stats(address)

    def holding(unit: int, register: int) -> int:
        return farm.run(farm.farm.get_registers(f"{NET}.21", port, unit, "holding", register))[0]

    out = json.loads(ok(run("--site", site, "--json", "write", "co2", "co2_setpoint", "900", "--yes")).stdout)  # fmt: skip
    assert out["outcome"]["status"] == "written"
    assert (out["outcome"]["before"], out["outcome"]["after"]) == (1000, 900)
    assert holding(1, 10) == 900
    assert (stats.writes(unit=1), stats.writes(unit=1, fc=6)) == (1, 1)
    same = ok(run("--site", site, "write", "co2", "co2_setpoint", "900", "--yes"))
    assert "nothing written" in same.stdout
    assert stats.writes(unit=1) == 1  # EEPROM cells are spared: no request reached the device
    for args, message in [
        (("co2_setpoint", "2500"), "above the maximum 2000"),
        (("co2_setpoint", "100"), "below the minimum 400"),
        (("co2", "500"), "read-only"),
    ]:
        refused = run("--site", site, "write", "co2", *args, "--yes")
        assert refused.exit_code == 5, refused.output
        assert message in refused.stderr
    no_tty = run("--site", site, "write", "co2", "co2_setpoint", "950")
    assert no_tty.exit_code == 5 and "--yes" in no_tty.stderr
    assert stats.writes(unit=1) == 1
    ok(run("--site", site, "write", "ahu", "ventilation_mode", "boost", "--yes"))
    assert holding(2, 0) == 2
    ok(run("--site", site, "write", "evc", "current_limit", "10.5", "--yes"))
    assert holding(3, 0) == 105  # deciamps on the wire
    ok(run("--site", site, "write", "hp", "enable", "off", "--yes"))
    assert farm.run(farm.farm.get_registers(f"{NET}.21", port, 4, "coil", 0, 1)) == [False]
    assert (stats.writes(unit=2, fc=6), stats.writes(unit=3, fc=6), stats.writes(unit=4, fc=5)) == (1, 1, 1)  # fmt: skip
    log = json.loads(ok(run("--json", "log", "--last")).stdout)
    assert [(e["kind"], e["before"], e["after"]) for e in log["entries"] if e["kind"] in ("intent", "written")] == [
        ("intent", True, None), ("written", True, False),
    ]  # fmt: skip


def test_watch_json_lines_refresh_every_point_n_times(
    run: Any, farm: ThreadedFarm, tmp_path: Path
) -> None:
    port = serve(farm, {22: [acme_co2(1)], 23: [sdm120(1)]})
    site = site_file(tmp_path, {"co2": f"acme-co2-100 {NET}.22:{port} 1",
                                "meter": f"eastron-sdm120 {NET}.23:{port} 1"})  # fmt: skip
    result = ok(run("--site", site, "--json", "watch", "--count", "3", "--interval", "0.05"))
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(rows) == 3 * (6 + 13)
    by_point = {(r["device"], r["point"]): r for r in rows}
    assert by_point[("co2", "co2")]["value"] == 812
    assert by_point[("meter", "power")]["value"] == pytest.approx(0.575)
    assert by_point[("meter", "power")]["unit"] == "kW"
    # Each refresh reads every device with the planner's minimum: 3 for the CO2 sensor.
    assert farm.stats(f"{NET}.22:{port}").reads(unit=1) == 3 * 3


def test_read_raw_and_probe_decode_without_a_template(run: Any, farm: ThreadedFarm) -> None:
    hi, lo = f32(12.5)
    swapped = SimUnit(2, holding={0: lo, 1: hi})  # CDAB: low word first
    endpoint = farm.add(ServerSpec(f"{NET}.24", [sdm630(1), swapped], port=0))
    raw = json.loads(ok(run("--json", "read", "--raw", endpoint, "--unit", "1", "--table", "input",
                            "--address", "30071", "--modicon", "--count", "2",
                            "--type", "float32")).stdout)  # fmt: skip
    assert (raw["pdu_address"], raw["value"]) == (70, pytest.approx(50.02))
    cdab = json.loads(ok(run("--json", "read", "--raw", endpoint, "--unit", "2", "--address", "0",
                             "--count", "2", "--type", "float32", "--word-order", "CDAB")).stdout)  # fmt: skip
    assert cdab["value"] == 12.5
    probe = json.loads(ok(run("--json", "probe", endpoint, "--unit", "2", "--address", "0")).stdout)
    assert probe["decoded"]["FLOAT32"]["CDAB"] == 12.5
    assert probe["decoded"]["FLOAT32"]["ABCD"] != 12.5
    table = ok(run("probe", endpoint, "--unit", "1", "--table", "input", "--address", "52")).stdout
    assert "3628.35" in table and "CDAB" in table
    assert farm.stats(endpoint).reads() == 4


def test_modicon_addresses_select_their_table(run: Any, farm: ThreadedFarm) -> None:
    both = SimUnit(1, holding={0: 0x1111, 1: 0x1112}, input={0: 0x2221, 1: 0x2222}, coils={0: True})
    endpoint = farm.add(ServerSpec(f"{NET}.25", [both], port=0))
    probe = json.loads(
        ok(run("probe", endpoint, "--address", "30001", "--modicon", "--json")).stdout
    )
    assert (probe["table"], probe["pdu_address"], probe["registers"]) == (
        "input",
        0,
        [0x2221, 0x2222],
    )
    probe = json.loads(
        ok(run("probe", endpoint, "--address", "400001", "--modicon", "--json")).stdout
    )
    assert (probe["table"], probe["registers"]) == ("holding", [0x1111, 0x1112])
    raw = json.loads(
        ok(run("read", "--raw", endpoint, "--address", "30002", "--modicon", "--json")).stdout
    )
    assert (raw["table"], raw["pdu_address"], raw["value"]) == ("input", 1, 0x2222)
    coil = json.loads(
        ok(run("read", "--raw", endpoint, "--address", "1", "--modicon", "--json")).stdout
    )
    assert (coil["table"], coil["registers"]) == ("coil", [True])
    # a --table that contradicts the leading digit, a digit with no table, a coil for probe: exit 2
    for args, message in [
        (["read", "--raw", endpoint, "--table", "holding", "--address", "30001", "--modicon"],
         "is in the input table, not holding"),
        (["probe", endpoint, "--address", "20001", "--modicon"], "not a Modicon address"),
        (["probe", endpoint, "--address", "40000", "--modicon"], "counts from 1"),
        (["probe", endpoint, "--address", "1", "--modicon"], "probe decodes registers"),
    ]:  # fmt: skip
        result = run(*args)
        assert result.exit_code == 2, result.output
        assert message in result.stderr
    assert farm.stats(endpoint).reads() == 4


def test_rtu_bus_with_two_units_through_the_cli(
    run: Any, farm: ThreadedFarm, tmp_path: Path
) -> None:
    bridge = PtyBridge()
    farm.run(bridge.__aenter__())
    try:
        farm.add_rtu_bus(bridge.path_a, [acme_co2(1), acme_hp(2)])
        site = tmp_path / "site.yaml"
        serial = "serial: {baudrate: 19200, parity: N, stopbits: 2}"  # a pty takes no parity
        site.write_text(
            "site: rtu\ndevices:\n"
            f"  co2: {{template: acme-co2-100, transport: modbus-rtu, address: '{bridge.path_b}', unit: 1, {serial}}}\n"
            f"  hp: {{template: acme-hp-50, transport: modbus-rtu, address: '{bridge.path_b}', unit: 2, {serial}}}\n"
        )  # fmt: skip
        data = json.loads(
            ok(run("--site", str(site), "--json", "read", "co2", "co2", "humidity")).stdout
        )
        assert [r["value"] for r in data["readings"]] == [812, 45.5]
        hp = json.loads(
            ok(run("--site", str(site), "--json", "read", "hp", "power", "enable")).stdout
        )
        assert [r["value"] for r in hp["readings"]] == [1.85, True]
        ok(run("--site", str(site), "write", "hp", "flow_setpoint", "38", "--yes"))
        stats = farm.stats(bridge.path_a)
        # unit 2: two reads, then the write's read before, read back and read after settling
        assert (stats.reads(unit=1), stats.reads(unit=2), stats.writes(unit=2)) == (1, 5, 1)
        disc = ok(run("--json", "discover", "--rtu", bridge.path_b, "--baud", "19200",
                      "--parity", "N", "--units", "1-3", "--timeout", "0.1",
                      "--timeout-floor", "0.1"))  # fmt: skip
        assert {(c["unit"], c["template"], c["serial"]["baudrate"]) for c in json.loads(disc.stdout)["candidates"]} == {
            (1, "acme-co2-100", 19200), (2, "acme-hp-50", 19200),
        }  # fmt: skip
    finally:
        bridge.close()


NOT_MODBUS = {"mdns", "interfaces", "types", "all_types", "expect", "ble", "adapter", "passive",
              "duration", "until"}  # fmt: skip


def test_the_modbus_docs_name_every_option_of_the_modbus_commands() -> None:
    from smartbuild.commands.discover import discover
    from smartbuild.commands.modbus_tools import probe
    from smartbuild.commands.points import read, watch, write

    text = (Path(__file__).resolve().parents[2] / "docs" / "modbus.md").read_text()
    for command in (discover, probe, read, write, watch):
        for param in command.params:
            if param.name in NOT_MODBUS or not getattr(param, "opts", None):
                continue
            if param.param_type_name == "option":
                assert any(opt in text for opt in param.opts), (
                    f"docs/modbus.md: {command.name} {param.opts}"
                )
    # discover's Modbus flags come from the family's typed options
    from smartbuild.transports.modbus.family import ModbusRtuOptions, ModbusTcpOptions

    for options in (ModbusTcpOptions, ModbusRtuOptions):
        for _name, spec, _default in options.specs():
            assert any(flag in text for flag in spec.flags), (
                f"docs/modbus.md: discover {spec.flags}"
            )
