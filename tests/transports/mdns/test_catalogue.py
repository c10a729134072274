"""Pure tests of the mDNS catalogue: every rule against realistic TXT records, rule matching,
and located errors for broken catalogue files."""

from __future__ import annotations

from pathlib import Path

import pytest

from smartbuild.errors import ConfigError
from smartbuild.transports.mdns.browser import MdnsDevice, MdnsService
from smartbuild.transports.mdns.catalogue import (
    Identity,
    identify,
    identify_device,
    load_catalogue,
    match_rule,
    normalise_type,
    txt_get,
)


def svc(
    stype: str,
    instance: str,
    txt: dict[str, str] | None = None,
    *,
    server: str | None = None,
    port: int = 80,
    address: str = "192.0.2.10",
) -> MdnsService:
    full = normalise_type(stype)
    return MdnsService(
        type=full,
        name=f"{instance}.{full}",
        server=server if server is not None else f"{instance.replace(' ', '-')}.local.",
        addresses=(address,),
        port=port,
        txt=txt or {},
        interface="127.0.0.1",
    )


REQUIRED_TYPES = [
    "_hap._tcp",
    "_shelly._tcp",
    "_esphomelib._tcp",
    "_hue._tcp",
    "_matter._tcp",
    "_matterc._udp",
    "_googlecast._tcp",
    "_airplay._tcp",
    "_sonos._tcp",
    "_ipp._tcp",
    "_mqtt._tcp",
    "_home-assistant._tcp",
    "_modbus._tcp",
    "_http._tcp",
]


def test_shipped_catalogue_covers_the_required_types_with_sources() -> None:
    cat = load_catalogue()
    assert set(cat.types()) == {normalise_type(t) for t in REQUIRED_TYPES}
    ids = [r["id"] for r in cat.rules]
    assert len(ids) == len(set(ids))
    assert all(r.get("source") for r in cat.rules), "every rule names its public source"
    assert cat.rule("modbus")["offers"] == ("modbus",)
    assert load_catalogue() is load_catalogue()  # cached


# (service type, instance, TXT, server) -> expected identity fields
CASES = [
    pytest.param(
        svc("_hap._tcp", "Hallway Thermostat", {"c#": "12", "ff": "0", "id": "3C:1A:9E:7F:00:21",
            "md": "ecobee3 lite", "pv": "1.1", "s#": "1", "sf": "1", "ci": "9", "sh": "Vx2oKg=="}),
        {"rule": "homekit", "vendor": None, "model": "ecobee3 lite", "kind": "thermostat",
         "offers": ("homekit",)},
        {"id": "3C:1A:9E:7F:00:21", "paired": "no", "config_number": "12"},
        id="homekit",
    ),
    pytest.param(
        svc("_shelly._tcp", "shellypro3em-08f9e0e5a7b1", {"gen": "2", "app": "Pro3EM",
            "ver": "1.3.3"}, server="shellypro3em-08f9e0e5a7b1.local."),
        {"rule": "shelly-gen2", "vendor": "Shelly", "model": "Pro3EM", "firmware": "1.3.3",
         "kind": "relay"},
        {"generation": "2", "host_id": "shellypro3em-08f9e0e5a7b1"},
        id="shelly-gen2",
    ),
    pytest.param(
        svc("_esphomelib._tcp", "bt-proxy", {"friendly_name": "BT Proxy", "version": "2024.12.4",
            "mac": "d8bc38f1a2b3", "platform": "ESP32", "board": "esp32-poe-iso",
            "network": "ethernet", "project_name": "esphome.bluetooth-proxy",
            "project_version": "24.7.4.1"}),
        {"rule": "esphome", "vendor": "esphome", "model": "bluetooth-proxy",
         "firmware": "24.7.4.1", "kind": "microcontroller", "offers": ("esphome-api",)},
        {"name": "BT Proxy", "mac": "d8bc38f1a2b3", "board": "esp32-poe-iso"},
        id="esphome-project",
    ),
    pytest.param(
        svc("_esphomelib._tcp", "garage", {"version": "2025.2.0", "mac": "a4cf12000001",
            "platform": "ESP8266", "board": "d1_mini"}),
        {"rule": "esphome", "vendor": "ESPHome", "model": "d1_mini", "firmware": "2025.2.0"},
        {"platform": "ESP8266"},
        id="esphome-plain",
    ),
    pytest.param(
        svc("_hue._tcp", "Philips Hue - 6C1F2A", {"bridgeid": "001788FFFE6C1F2A",
            "modelid": "BSB002"}),
        {"rule": "hue-bridge", "vendor": "Signify (Philips Hue)",
         "model": "Hue Bridge (square, v2)", "kind": "bridge"},
        {"bridge_id": "001788FFFE6C1F2A"},
        id="hue",
    ),
    pytest.param(
        svc("_matterc._udp", "A1B2C3D4E5F60718", {"D": "840", "VP": "4874+77", "CM": "2",
            "DT": "769", "DN": "Eve Thermo", "SII": "5000", "SAI": "300", "T": "0"}),
        {"rule": "matter-commissionable", "vendor": "Eve Systems", "model": "product 77",
         "kind": "thermostat", "offers": ("matter",)},
        {"discriminator": "840", "vendor_id": "4874", "product_id": "77", "name": "Eve Thermo",
         "commissioning_mode": "open (enhanced)"},
        id="matter-commissionable",
    ),
    pytest.param(
        svc("_matterc._udp", "0011223344556677", {"D": "3840", "VP": "4999", "CM": "1"}),
        {"rule": "matter-commissionable", "vendor": "Matter vendor 4999", "model": None,
         "kind": None},
        {"discriminator": "3840"},
        id="matter-unknown-vendor-no-product",
    ),
    pytest.param(
        svc("_matter._tcp", "87E1B004E235A130-8FC7772401CD96F3", {"SII": "3300", "SAI": "300",
            "T": "1"}),
        {"rule": "matter-operational", "vendor": None, "kind": "matter node"},
        {"compressed_fabric_id": "87E1B004E235A130", "node_id": "8FC7772401CD96F3", "tcp": "1"},
        id="matter-operational",
    ),
    pytest.param(
        svc("_googlecast._tcp", "Chromecast-Ultra-9f2c", {"id": "9f2c0d", "md": "Chromecast Ultra",
            "fn": "Living room TV", "ve": "05"}),
        {"rule": "google-cast", "vendor": "Google", "model": "Chromecast Ultra",
         "kind": "media player"},
        {"name": "Living room TV", "id": "9f2c0d"},
        id="cast-google",
    ),
    pytest.param(
        svc("_googlecast._tcp", "JBL-Link-20-77aa", {"id": "77aa", "md": "JBL Link 20",
            "fn": "Patio"}),
        {"rule": "google-cast", "vendor": None, "model": "JBL Link 20"},
        {"name": "Patio"},
        id="cast-third-party",
    ),
    pytest.param(
        svc("_airplay._tcp", "Bedroom", {"deviceid": "58:55:CA:00:00:01",
            "model": "AudioAccessory5,1", "srcvers": "775.3.1", "features": "0x4A7FCA00"}),
        {"rule": "airplay", "vendor": "Apple", "model": "AudioAccessory5,1",
         "firmware": "775.3.1"},
        {"device_id": "58:55:CA:00:00:01"},
        id="airplay-apple",
    ),
    pytest.param(
        svc("_airplay._tcp", "Kitchen", {"manufacturer": "Sonos", "model": "One",
            "srcvers": "366.0"}),
        {"rule": "airplay", "vendor": "Sonos", "model": "One", "firmware": "366.0"},
        {},
        id="airplay-third-party",
    ),
    pytest.param(
        svc("_sonos._tcp", "Sonos-5CAAFD000001@Kitchen", {"info":
            "/api/v1/players/RINCON_5CAAFD00000101400/info", "vers": "3", "sslport": "1443",
            "hhid": "Sonos_Xyz"}, server="Sonos-5CAAFD000001.local."),
        {"rule": "sonos", "vendor": "Sonos", "model": None, "kind": "speaker"},
        {"player_id": "RINCON_5CAAFD00000101400", "household": "Sonos_Xyz", "https_port": "1443"},
        id="sonos",
    ),
    pytest.param(
        svc("_ipp._tcp", "Brother HL-L2350DW series", {"txtvers": "1", "rp": "ipp/print",
            "ty": "Brother HL-L2350DW series", "product": "(Brother HL-L2350DW series)",
            "note": "Office", "usb_MFG": "Brother", "usb_MDL": "HL-L2350DW series"}),
        {"rule": "ipp-printer", "vendor": "Brother", "model": "HL-L2350DW series",
         "kind": "printer", "offers": ("ipp",)},
        {"location": "Office", "resource_path": "ipp/print"},
        id="ipp-usb-keys",
    ),
    pytest.param(
        svc("_ipp._tcp", "EPSON ET-2810", {"ty": "EPSON ET-2810 Series",
            "product": "(ET-2810 Series)"}),
        {"rule": "ipp-printer", "vendor": "EPSON", "model": "ET-2810 Series"},
        {"make_and_model": "EPSON ET-2810 Series"},
        id="ipp-ty-product",
    ),
    pytest.param(
        svc("_mqtt._tcp", "mosquitto", {}),
        {"rule": "mqtt-broker", "vendor": None, "kind": "mqtt broker", "offers": ("mqtt",)},
        {},
        id="mqtt",
    ),
    pytest.param(
        svc("_home-assistant._tcp", "Home", {"location_name": "Home", "uuid": "abc123",
            "version": "2025.1.4", "base_url": "http://192.0.2.5:8123",
            "internal_url": "http://homeassistant.local:8123"}),
        {"rule": "home-assistant", "vendor": "Home Assistant", "firmware": "2025.1.4",
         "kind": "hub"},
        {"name": "Home", "uuid": "abc123", "base_url": "http://192.0.2.5:8123"},
        id="home-assistant",
    ),
    pytest.param(
        svc("_modbus._tcp", "Meter 3", {"vendor": "Eastron", "model": "SDM630", "unit": "3"},
            port=502),
        {"rule": "modbus", "vendor": "Eastron", "model": "SDM630", "kind": "modbus device",
         "offers": ("modbus",)},
        {"unit_id": "3"},
        id="modbus",
    ),
    pytest.param(
        svc("_http._tcp", "shellyem3-A4E57CBA1234", {}),
        {"rule": "shelly-http", "vendor": "Shelly", "model": "Shelly 3EM", "kind": "relay"},
        {"generation": "1"},
        id="shelly-gen1-http",
    ),
    pytest.param(
        svc("_http._tcp", "ShellyPlusPlugS-C049EF000001", {"gen": "2"}),
        {"rule": "shelly-http", "vendor": "Shelly", "model": "ShellyPlusPlugS"},
        {"generation": "2"},
        id="shelly-gen2-http",
    ),
    pytest.param(
        svc("_http._tcp", "NAS admin", {"path": "/admin"}),
        {"rule": "http", "vendor": None, "model": None, "kind": "web server"},
        {"path": "/admin"},
        id="http",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("service", "expected", "details"), CASES)
def test_identify_realistic_announcements(
    service: MdnsService, expected: dict[str, object], details: dict[str, str]
) -> None:
    identity = identify(service)
    for attr, value in expected.items():
        assert getattr(identity, attr) == value, attr
    for key, value in details.items():
        assert identity.details.get(key) == value, key


def test_every_rule_has_a_realistic_case() -> None:
    covered = {case.values[1]["rule"] for case in CASES}  # type: ignore[index]
    assert covered == {r["id"] for r in load_catalogue().rules}


def test_homekit_category_names_follow_the_spec_and_unknown_ids_stay_visible() -> None:
    names = {ci: identify(svc("_hap._tcp", "x", {"ci": ci})).kind for ci in ("2", "5", "17", "99")}
    assert names == {"2": "bridge", "5": "lighting", "17": "ip camera", "99": "hap category 99"}


def test_txt_keys_are_case_insensitive() -> None:
    assert txt_get({"MD": "a"}, "md") == "a"
    assert txt_get({"md": "a"}, "MD") == "a"
    assert txt_get({"x": "a"}, "md") is None
    identity = identify(svc("_matterc._udp", "abc", {"vp": "4937+1", "d": "12"}))
    assert (identity.vendor, identity.details["discriminator"]) == ("Apple", "12")


def test_unknown_type_gives_an_empty_identity() -> None:
    assert identify(svc("_acme-hvac._tcp", "AHU-1", {"md": "x"})) == Identity()


def test_match_rule_for_a_template_identify_block() -> None:
    block = {"type": "_shelly._tcp", "txt": {"app": "^Plus1PM$"}}
    assert match_rule(block, svc("_shelly._tcp", "a", {"gen": "2", "app": "Plus1PM"}))
    assert not match_rule(block, svc("_shelly._tcp", "b", {"app": "Plus1PMMini"}))
    assert not match_rule(block, svc("_shelly._tcp", "c", {"gen": "2"}))
    assert not match_rule(block, svc("_http._tcp", "d", {"app": "Plus1PM"}))
    assert match_rule({"type": "_shelly._tcp.local."}, svc("_shelly._tcp", "e"))
    assert match_rule({"type": "_hap._tcp", "txt": {"sh": None}}, svc("_hap._tcp", "f", {"sh": ""}))
    assert match_rule({"type": "_http._tcp", "name": "^SHELLY"}, svc("_http._tcp", "shelly1-a"))
    assert match_rule(
        {"type": "_modbus._tcp", "txt": {"unit": 3}}, svc("_modbus._tcp", "m", {"unit": "3"})
    )


@pytest.mark.parametrize(
    ("block", "path"),
    [
        ({"txt": {"app": "x"}}, "mdns.type"),
        ({"type": "shelly"}, "mdns.type"),
        ({"type": "_shelly._tcp", "txt": {"app": "(unclosed"}}, "mdns.txt.app"),
        ({"type": "_shelly._tcp", "txt": ["app"]}, "mdns.txt"),
    ],
)
def test_match_rule_rejects_malformed_blocks_with_a_path(block: dict, path: str) -> None:
    with pytest.raises(ConfigError) as info:
        match_rule(block, svc("_shelly._tcp", "a", {"app": "x"}))
    assert info.value.problems[0].path == path


def test_extra_rules_are_tried_before_the_catalogue() -> None:
    extra = [{
        "id": "acme-plus1pm", "type": "_shelly._tcp", "txt": {"app": "^Plus1PM$"},
        "vendor": "Acme (rebadged Shelly)", "model": {"txt": "app", "format": "ACME-{}"},
        "offers": ["http"],
    }]  # fmt: skip
    service = svc("_shelly._tcp", "x", {"app": "Plus1PM", "ver": "1.0"})
    identity = identify(service, extra)
    assert (identity.rule, identity.vendor, identity.model) == (
        "acme-plus1pm", "Acme (rebadged Shelly)", "ACME-Plus1PM"
    )  # fmt: skip
    assert identify(svc("_shelly._tcp", "y", {"app": "Pro4PM"}), extra).rule == "shelly-gen2"
    with pytest.raises(ConfigError) as info:
        identify(service, [{"id": "bad", "type": "_shelly._tcp", "vendr": "x"}])
    assert "did you mean 'vendor'" in info.value.problems[0].message


def test_identify_device_prefers_the_most_informative_service() -> None:
    host = "shellyplus1pm-a8032ab12345.local."
    http = svc("_http._tcp", "shellyplus1pm-a8032ab12345", {"gen": "2"}, server=host)
    native = svc("_shelly._tcp", "shellyplus1pm-a8032ab12345", {"gen": "2", "app": "Plus1PM",
                 "ver": "1.4.4"}, server=host)  # fmt: skip
    device = MdnsDevice(
        key="host:x", host=host, addresses=(), interfaces=(), services=(http, native)
    )
    identity = identify_device(device)
    assert (identity.rule, identity.vendor, identity.model, identity.firmware) == (
        "shelly-gen2", "Shelly", "Plus1PM", "1.4.4"
    )  # fmt: skip
    assert identity.offers == ("http",)
    assert identify_device(MdnsDevice("k", None, (), (), ())) == Identity()


def test_normalise_type() -> None:
    assert normalise_type("_hap._tcp") == "_hap._tcp.local."
    assert normalise_type("_hap._tcp.local") == "_hap._tcp.local."
    assert normalise_type("_matterc._udp.local.") == "_matterc._udp.local."
    assert normalise_type("_printer._sub._http._tcp") == "_printer._sub._http._tcp.local."
    for bad in ("hap._tcp", "_hap", "_hap._sctp", "_this-name-is-too-long._tcp", ""):
        with pytest.raises(ValueError):
            normalise_type(bad)


GOOD_RULE = """
  - id: ok
    type: _hap._tcp
    model: {txt: md}
"""


@pytest.mark.parametrize(
    ("body", "message", "line"),
    [
        ("version: 1\nrules:\n" + GOOD_RULE + "  - id: two\n    type: _x._tcp\n    vendr: Acme\n",
         "did you mean 'vendor'", 9),
        ("version: 1\nrules:\n" + GOOD_RULE + "  - id: two\n    type: _x._tcp\n"
         "    kind: {txt: ci, map: hap_category}\n", "no map named 'hap_category'", 9),
        ("version: 1\nrules:\n" + GOOD_RULE + "  - id: two\n    type: _x._tcp\n"
         "    txt: {md: '(open'}\n", "invalid regular expression", 9),
        ("version: 1\nrules:\n" + GOOD_RULE + "  - id: ok\n    type: _x._tcp\n",
         "duplicate rule id 'ok'", 7),
        ("version: 1\nrules:\n" + GOOD_RULE + "  - id: two\n    type: x\n",
         "not a DNS-SD service type", 8),
        ("version: 1\nrules:\n" + GOOD_RULE + "  - id: two\n    type: _x._tcp\n"
         "    model: {txt: md, from: host}\n", "exactly one of 'txt' or 'from'", 9),
        ("version: 1\nrules:\n  - id: [unclosed\n", "invalid YAML", 4),
    ],
)  # fmt: skip
def test_broken_catalogue_files_name_file_and_line(
    tmp_path: Path, body: str, message: str, line: int
) -> None:
    path = tmp_path / "catalogue.yaml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_catalogue(path)
    problem = next(p for p in info.value.problems if message in p.message)
    assert problem.file == str(path)
    assert problem.line == line, str(problem)
    assert str(path) in info.value.lines()[info.value.problems.index(problem)]


def test_a_valid_custom_catalogue_loads(tmp_path: Path) -> None:
    path = tmp_path / "catalogue.yaml"
    path.write_text("version: 1\nmaps: {m: {1: one}}\nrules:\n" + GOOD_RULE
                    + "    kind: {txt: ci, map: m}\n", encoding="utf-8")  # fmt: skip
    cat = load_catalogue(path)
    assert cat.types() == ["_hap._tcp.local."]
    assert identify(svc("_hap._tcp", "a", {"ci": "1"}), catalogue=cat).kind == "one"
