"""The bridge against a real Mosquitto and simulated thermostats: states, commands, refusals."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from tests.mqtt.conftest import listening, running_bridge, start_farm, write_site

SITE = "hq"


async def setup(tmp_path: Path, broker: Any, count: int = 2, commands: bool = True) -> Any:
    farm, endpoint = await start_farm(count)
    mqtt = f'{{url: "{broker.url}", commands: {str(commands).lower()}, rate_limit_s: 0.5}}'
    return farm, write_site(tmp_path / "site", SITE, endpoint, count, mqtt)


async def test_states_are_retained_json_and_status_goes_offline_on_a_clean_exit(tmp_path, broker):
    farm, site = await setup(tmp_path, broker)
    try:
        async with (
            running_bridge(site, tmp_path / "home"),
            listening(broker, "smartbuild/hq/#") as seen,
        ):
            state = await seen.wait_for(
                lambda: seen.last_json("smartbuild/hq/th-1/heating_setpoint")
            )
            assert state["value"] == 21.0 and state["unit"] == "°C"
            assert state["quality"] == "good" and state["timestamp"].endswith("Z")
            mode = await seen.wait_for(lambda: seen.last_json("smartbuild/hq/th-2/hvac_mode"))
            assert mode["value"] == 1 and mode["text"] == "heat"
            assert all(m.retain for m in seen.on("smartbuild/hq/th-1/heating_setpoint"))
            assert seen.on("smartbuild/hq/status")[-1].payload == b"online"
            assert seen.on("smartbuild/hq/th-1/availability")[-1].payload == b"online"
        async with listening(broker, "smartbuild/hq/status") as after:
            status = await after.wait_for(lambda: after.on("smartbuild/hq/status"))
            assert status[-1].payload == b"offline" and status[-1].retain
    finally:
        await farm.close()


async def command(
    broker: Any,
    topic: str,
    payload: bytes | str,
    *,
    retain: bool = False,
    timeout: float = 10.0,
    **login: Any,
) -> dict[str, Any]:
    """Publish a command and return the next result published for it."""
    result_topic = topic[: -len("/set")] + "/result"
    async with listening(broker, result_topic, **login) as seen:
        before = len(seen.on(result_topic))
        await seen.client.publish(topic, payload, qos=1, retain=retain)
        found = await seen.wait_for(lambda: seen.on(result_topic)[before:], timeout)
        return json.loads(found[0].payload)


async def test_commands_write_verified_values_through_the_write_path(tmp_path, broker):
    from smartbuild.journal import Journal

    farm, site = await setup(tmp_path, broker)
    host, port = farm.endpoints[0]
    try:
        async with running_bridge(site, tmp_path / "home"):
            result = await command(broker, "smartbuild/hq/th-1/heating_setpoint/set", "22.5")
            assert result["status"] == "written", result
            assert result["before"] == 21.0 and result["after"] == 22.5 and result["run"]
            assert (await farm.get_registers(host, port, 1, "holding", 10))[0] == 225
            result = await command(broker, "smartbuild/hq/th-1/hvac_mode/set", "Cool")
            assert result["status"] == "written" and result["after"] == 2, result
            result = await command(
                broker,
                "smartbuild/hq/th-2/heating_setpoint/set",
                json.dumps({"value": 19, "id": "c-1", "by": "kitchen panel"}),
            )
            assert result["status"] == "written" and result["id"] == "c-1"
            async with listening(broker, "smartbuild/hq/th-2/heating_setpoint") as seen:
                state = await seen.wait_for(
                    lambda: seen.last_json("smartbuild/hq/th-2/heating_setpoint")
                )
                assert state["value"] == 19
        journal = Journal(tmp_path / "home")
        runs = journal.runs()
        assert len(runs) == 3
        tagged = [r for r in runs if "[cmd c-1]" in r["command"]]
        assert (
            len(tagged) == 1
            and "from kitchen panel on smartbuild/hq/th-2/heating_setpoint/set"
            in tagged[0]["command"]
        )
        journal.close()
    finally:
        await farm.close()


async def test_refusals_say_why_and_nothing_is_written(tmp_path, broker):
    farm, site = await setup(tmp_path, broker)
    host, port = farm.endpoints[0]
    base = "smartbuild/hq/th-1"
    try:
        async with running_bridge(site, tmp_path / "home") as bridge:
            cases = [
                (f"{base}/heating_setpoint/set", "45", "bounds", "above the maximum 30"),
                (f"{base}/heating_setpoint/set", "21,5", "payload", "decimal point"),
                (f"{base}/heating_setpoint/set", "warm", "payload", "not a number"),
                (f"{base}/hvac_mode/set", "turbo", "payload", "not one of: off, heat, cool, auto"),
                (f"{base}/room_temperature/set", "25", "bounds", "read-only"),
                (f"{base}/heating_setpont/set", "21", "unknown", "Did you mean 'heating_setpoint'"),
                ("smartbuild/hq/th-9/heating_setpoint/set", "21", "unknown", "no device 'th-9'"),
                (
                    f"{base}/heating_setpoint/set",
                    '{"value": 21, "when": 1}',
                    "payload",
                    "unknown keys: when",
                ),
            ]
            for topic, payload, cause, text in cases:
                result = await command(broker, topic, payload)
                assert result["status"] == "refused" and result["cause"] == cause, (payload, result)
                assert text in result["message"], (payload, result)
            retained = await command(broker, f"{base}/cooling_setpoint/set", "25", retain=True)
            assert retained["cause"] == "retained"
            first = await command(broker, f"{base}/cooling_setpoint/set", "25")
            assert first["status"] == "written"
            retry = json.dumps({"value": 24, "id": "r-1"})
            again = await command(broker, f"{base}/cooling_setpoint/set", retry)
            assert again["cause"] == "rate" and "try again in" in again["message"]
            await asyncio.sleep(0.5)  # the rate limit of this site
            later = await command(broker, f"{base}/cooling_setpoint/set", retry)
            assert later["status"] == "written", later  # the refused id was not used up
            assert bridge.status()["refused"] == len(cases) + 2
        assert (await farm.get_registers(host, port, 1, "holding", 10, 3)) == [210, 240, 1]
    finally:
        await farm.close()


async def test_a_command_id_is_applied_at_most_once_even_after_a_restart(tmp_path, broker):
    farm, site = await setup(tmp_path, broker)
    topic = "smartbuild/hq/th-1/heating_setpoint/set"
    payload = json.dumps({"value": 23, "id": "once"})
    try:
        async with running_bridge(site, tmp_path / "home"):
            assert (await command(broker, topic, payload))["status"] == "written"
            again = await command(broker, topic, payload)
            assert again["status"] == "duplicate" and again["duplicate"] is True
        async with running_bridge(site, tmp_path / "home"):  # memory gone: the journal remembers
            later = await command(broker, topic, payload)
            assert later["status"] == "duplicate" and "(run " in later["message"]
    finally:
        await farm.close()


async def test_commands_are_refused_unless_the_site_allows_them(tmp_path, broker):
    farm, site = await setup(tmp_path, broker, commands=False)
    try:
        async with running_bridge(site, tmp_path / "home"):
            result = await command(broker, "smartbuild/hq/th-1/heating_setpoint/set", "22")
            assert result["cause"] == "disabled" and "commands: true" in result["message"]
    finally:
        await farm.close()


async def test_events_and_an_mqtt5_response_topic_with_correlation_data(tmp_path, broker):
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    farm, site = await setup(tmp_path, broker)
    try:
        async with (
            running_bridge(site, tmp_path / "home"),
            listening(broker, "smartbuild/hq/events", "panel/replies") as seen,
        ):
            props = Properties(PacketTypes.PUBLISH)
            props.ResponseTopic = "panel/replies"
            props.CorrelationData = b"\x01\x02"
            await seen.client.publish("smartbuild/hq/th-1/cooling_setpoint/set", "24", qos=1,
                                      properties=props)  # fmt: skip
            reply = (await seen.wait_for(lambda: seen.on("panel/replies")))[0]
            assert reply.properties.CorrelationData == b"\x01\x02"
            answer = json.loads(reply.payload)
            assert answer["status"] == "written" and answer["id"] == "0102"
            kinds = await seen.wait_for(
                lambda: (
                    (k := [json.loads(m.payload)["kind"] for m in seen.on("smartbuild/hq/events")])
                    and "run-finished" in k
                    and k
                )
            )
            assert kinds[:2] == ["run-started", "intent"] and "written" in kinds
            events = [json.loads(m.payload) for m in seen.on("smartbuild/hq/events")]
            assert events[0]["data"]["command"].startswith(
                "mqtt set th-1.cooling_setpoint=24 [cmd 0102]"
            )
    finally:
        await farm.close()


async def test_a_site_without_an_mqtt_block_is_a_clear_error(tmp_path):
    from smartbuild.errors import UsageError
    from smartbuild.mqtt.bridge import MqttBridge
    from smartbuild.mqtt.context import PollingContext
    from smartbuild.services.session import Session

    (tmp_path / "site.yaml").write_text("site: hq\n")
    session = Session(tmp_path / "site.yaml", tmp_path / "home")
    try:
        await MqttBridge().run(PollingContext(session))
    except UsageError as error:
        assert "no mqtt: block" in error.message and "docs/mqtt.md" in (error.hint or "")
    else:
        raise AssertionError("the bridge ran without a broker")


async def test_a_device_that_stops_answering_goes_offline_and_the_hub_degraded(tmp_path, broker):
    farm, site = await setup(tmp_path, broker)
    host, port = farm.endpoints[0]
    try:
        async with (
            running_bridge(site, tmp_path / "home") as bridge,
            listening(broker, "smartbuild/hq/#") as seen,
        ):
            await seen.wait_for(lambda: seen.on("smartbuild/hq/th-2/availability"))
            farm.set_behaviour(host, port, 2, "exception:4")  # the device fails every request
            offline = await seen.wait_for(
                lambda: seen.on("smartbuild/hq/th-2/availability")[-1].payload == b"offline"
            )
            assert offline
            state = seen.last_json("smartbuild/hq/th-2/room_temperature")
            assert state["quality"] == "bad" and state["value"] is None and state["error"]
            assert seen.on("smartbuild/hq/th-1/availability")[-1].payload == b"online"
            info = bridge.hub_info()
            assert info["health"] == "degraded" and info["offline_devices"] == ["th-2"]
            farm.set_behaviour(host, port, 2, "normal")
            await seen.wait_for(
                lambda: seen.on("smartbuild/hq/th-2/availability")[-1].payload == b"online"
            )
    finally:
        await farm.close()
