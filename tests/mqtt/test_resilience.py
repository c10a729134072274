"""A broker restart loses nothing; a broker with users and an ACL; a password from !secret."""

from __future__ import annotations

import asyncio
import json
import time

from tests.mqtt.conftest import listening, running_bridge, start_farm, write_site
from tests.mqtt.test_bridge import command


async def test_a_broker_restart_loses_nothing(tmp_path, broker):
    farm, endpoint = await start_farm(2)
    site = write_site(tmp_path / "site", "hq", endpoint, 2,
                      f"{{url: \"{broker.url}\", commands: true, rate_limit_s: 0}}")  # fmt: skip
    host, port = endpoint
    try:
        async with running_bridge(site, tmp_path / "home") as bridge:
            async with listening(broker, "smartbuild/hq/th-1/room_temperature") as seen:
                await seen.wait_for(lambda: seen.on("smartbuild/hq/th-1/room_temperature"))
            await asyncio.to_thread(broker.stop)  # retained messages are gone with it
            await farm.set_registers(host, port, 1, "input", 0, [234])  # the hub keeps reading
            await asyncio.sleep(1.5)
            started = time.monotonic()
            await asyncio.to_thread(broker.start)
            async with listening(
                broker, "smartbuild/hq/#", "homeassistant/device/+/config"
            ) as seen:
                state = await seen.wait_for(
                    lambda: (
                        (s := seen.last_json("smartbuild/hq/th-1/room_temperature"))
                        and s["value"] == 23.4
                        and s
                    )
                )
                back = time.monotonic() - started
                assert state["quality"] == "good" and back < 5, back
                assert seen.on("smartbuild/hq/status")[-1].payload == b"online"
                assert seen.on("homeassistant/device/smartbuild_hq_th-2/config")
            assert bridge.connects == 2
            result = await command(
                broker,
                "smartbuild/hq/th-2/heating_setpoint/set",
                json.dumps({"value": 20, "id": "after-restart"}),
            )
            assert result["status"] == "written"
    finally:
        await farm.close()


async def test_users_and_acl_read_only_users_cannot_command(tmp_path, acl_broker):
    from smartbuild.mqtt.settings import BrokerSettings

    farm, endpoint = await start_farm(1)
    mqtt = f'{{url: "{acl_broker.url}", username: hub, password: !secret mqtt_password, commands: true}}'
    site = write_site(tmp_path / "site", "hq", endpoint, 1, mqtt)
    (site.parent / "secrets.yaml").write_text("mqtt_password: hub-pw\n")
    host, port = endpoint
    topic = "smartbuild/hq/th-1/heating_setpoint/set"
    try:
        async with running_bridge(site, tmp_path / "home") as bridge:
            assert "hub-pw" not in repr(bridge.settings) and bridge.settings.display.startswith(
                "mqtt://hub@"
            )
            viewer = {"username": "viewer", "password": "viewer-pw"}
            async with listening(acl_broker, "smartbuild/hq/#", **viewer) as seen:
                await seen.wait_for(lambda: seen.on("smartbuild/hq/th-1/heating_setpoint"))
                await seen.client.publish(topic, "25", qos=1)  # the broker drops it
                await asyncio.sleep(0.5)
                assert not seen.on("smartbuild/hq/th-1/heating_setpoint/result")
            control = {"username": "control", "password": "control-pw"}
            result = await command(acl_broker, topic, "25", **control)
            assert result["status"] == "written"
        assert (await farm.get_registers(host, port, 1, "holding", 10))[0] == 250
        wrong = BrokerSettings.from_url(acl_broker.url.replace("mqtt://", "mqtt://viewer:nope@"))
        import aiomqtt

        try:
            async with wrong.client():
                raise AssertionError("a wrong password was accepted")
        except aiomqtt.MqttError as error:
            assert "Not authorized" in str(error) or "135" in str(error)
    finally:
        await farm.close()


async def test_tls_with_the_sites_ca_file_and_a_clear_error_without_it(tmp_path, tls_broker):
    from smartbuild.mqtt.settings import BrokerSettings

    farm, endpoint = await start_farm(1)
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "ca.pem").write_bytes(tls_broker.ca_file.read_bytes())
    mqtt = f'{{url: "{tls_broker.url}", ca_file: ca.pem}}'
    site = write_site(tmp_path / "site", "hq", endpoint, 1, mqtt)
    try:
        async with running_bridge(site, tmp_path / "home") as bridge:
            assert bridge.settings.tls and bridge.settings.ca_file.endswith("ca.pem")
            assert bridge.status()["connected"]
        import aiomqtt

        untrusted = BrokerSettings.from_url(tls_broker.url)  # the system CAs do not know it
        try:
            async with untrusted.client():
                raise AssertionError("an unknown certificate was accepted")
        except aiomqtt.MqttError as error:
            assert "CERTIFICATE_VERIFY_FAILED" in str(error) or "certificate" in str(error)
    finally:
        await farm.close()
