"""Pure parts: command payloads, the rate limit, broker URLs and the site's mqtt block."""

from __future__ import annotations

import textwrap

import pytest

from smartbuild.config.schema import PointSpec
from smartbuild.mqtt.commands import CommandRefused, RateLimit, SeenIds, parse_payload
from smartbuild.mqtt.settings import BrokerSettings

NUMBER = PointSpec(unit="°C", writable=True, min=5, max=30)
ENUM = PointSpec(writable=True, enum={0: "off", 1: "heat", 2: "cool"})


class Switch(PointSpec):
    def value_kind(self):  # type: ignore[override]
        return "bool"


@pytest.mark.parametrize(
    ("payload", "point", "value"),
    [
        (b"22", NUMBER, 22), (b" 21.5 ", NUMBER, 21.5), (b'{"value": 19}', NUMBER, 19),
        (b"22.0", NUMBER, 22), (b"Cool", ENUM, 2), (b"1", ENUM, 1), (b'{"value": "heat"}', ENUM, 1),
        (b"on", Switch(writable=True), True), (b"OFF", Switch(writable=True), False),
        (b"true", Switch(writable=True), True), (b'{"value": false}', Switch(writable=True), False),
    ],
)  # fmt: skip
def test_payloads_become_the_value_the_point_holds(payload, point, value) -> None:
    command = parse_payload(payload, point)
    assert command.value == value and type(command.value) is type(value)


@pytest.mark.parametrize(
    ("payload", "point", "text"),
    [
        (b"", NUMBER, "empty payload"), (b"21,5", NUMBER, "decimal point"),
        (b"nan", NUMBER, "not a number"), (b"1e999", NUMBER, "not a finite number"),
        (b"true", NUMBER, "true is not a number"), (b'{"v": 1}', NUMBER, "unknown keys: v"),
        (b"{bad", NUMBER, "invalid JSON"), (b"\xff", NUMBER, "not UTF-8"),
        (b"boost", ENUM, "not one of: off, heat, cool"), (b"maybe", Switch(writable=True), "not on or off"),
        (b"1" * 5000, NUMBER, "too long"),
    ],
)  # fmt: skip
def test_bad_payloads_are_refused_with_the_reason(payload, point, text) -> None:
    with pytest.raises(CommandRefused) as refused:
        parse_payload(payload, point)
    assert refused.value.cause == "payload" and text in refused.value.message


def test_command_ids_and_senders_come_from_the_json() -> None:
    command = parse_payload(b'{"value": 20, "id": "x-1", "by": "panel"}', NUMBER)
    assert (command.id, command.who) == ("x-1", "panel")


def test_rate_limit_and_seen_ids() -> None:
    limit = RateLimit(1.0)
    limit.check("a", 10.0)
    limit.check("b", 10.1)
    with pytest.raises(CommandRefused, match=r"try again in 0\.5 s"):
        limit.check("a", 10.5)
    limit.check("a", 11.0)
    seen = SeenIds(size=2)
    assert seen.claim("1") == (True, None)
    assert seen.claim("1") == (False, None)
    seen.done("1", {"status": "written"})
    assert seen.claim("1") == (False, {"status": "written"})
    seen.claim("2"), seen.claim("3")
    assert seen.claim("1") == (True, None)  # forgotten in memory; the journal still knows


def test_broker_urls(monkeypatch) -> None:
    monkeypatch.setenv("MQTT_PASSWORD", "from-env")
    plain = BrokerSettings.from_url("mqtt://127.0.0.1")
    assert (plain.port, plain.tls, plain.username, plain.password) == (1883, False, None, None)
    secure = BrokerSettings.from_url("mqtts://ops@broker.example")
    assert (secure.port, secure.tls, secure.password) == (8883, True, "from-env")
    assert secure.display == "mqtts://ops@broker.example:8883" and "from-env" not in repr(secure)
    inline = BrokerSettings.from_url("mqtt://ops:p%40ss@h:1884")
    assert (inline.password, inline.port) == ("p@ss", 1884) and "p@ss" not in inline.display
    from smartbuild.errors import UsageError

    for bad in ("http://h", "mqtt://", "mqtt://h:port"):
        with pytest.raises(UsageError):
            BrokerSettings.from_url(bad)


def test_the_mqtt_block_is_closed_and_located(run, tmp_path) -> None:
    site = tmp_path / "site.yaml"
    site.write_text(textwrap.dedent("""\
        site: hq
        mqtt:
          url: mqtt://ops:hunter2@broker:1883
          comands: true
        """))  # fmt: skip
    result = run("--site", str(site), "validate", str(site))
    assert result.exit_code == 2, result.output
    assert f"{site}:3:" in result.output and "password: !secret NAME" in result.output
    assert f"{site}:4:" in result.output and "comands" in result.output
    assert "hunter2" not in result.output
