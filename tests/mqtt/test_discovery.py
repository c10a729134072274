"""Discovery payloads checked against Home Assistant's documented keys, and their life cycle."""

from __future__ import annotations

import json
import re
from typing import Any

from tests.mqtt import ha_keys
from tests.mqtt.conftest import listening, running_bridge, start_farm, write_site


def check_config(topic: str, payload: dict[str, Any]) -> None:
    """Assert a device-based discovery config uses only documented keys and valid values."""
    match = re.match(ha_keys.TOPIC, topic)
    assert match, topic
    assert set(payload) <= ha_keys.TOP, set(payload) - ha_keys.TOP
    dev, origin = payload["dev"], payload["o"]
    assert set(dev) <= ha_keys.DEVICE and dev["ids"], dev
    assert all(re.match(ha_keys.ID, i) for i in dev["ids"])
    assert set(origin) <= ha_keys.ORIGIN and origin["name"] == "smartbuild"
    for entry in payload.get("availability", []):
        assert set(entry) <= ha_keys.AVAILABILITY and entry["topic"]
    assert payload.get("availability_mode", "latest") in ("all", "any", "latest")
    assert payload["cmps"]
    for key, comp in payload["cmps"].items():
        assert re.match(ha_keys.ID, key) and re.match(ha_keys.ID, comp["unique_id"]), key
        platform = comp["p"]
        allowed = ha_keys.COMMON | ha_keys.PLATFORMS[platform]
        assert set(comp) <= allowed, (key, set(comp) - allowed)
        assert ha_keys.REQUIRED[platform] <= set(comp), (key, platform)
        if platform == "sensor":
            assert comp.get("device_class", "enum") in ha_keys.SENSOR_CLASSES, comp
            assert comp.get("state_class", "measurement") in ha_keys.STATE_CLASSES
            if comp.get("device_class") == "enum":
                assert comp["options"] and "state_class" not in comp
        if platform == "binary_sensor":
            assert comp.get("device_class", "door") in ha_keys.BINARY_CLASSES
        if platform == "number":
            assert comp.get("device_class", "power") in ha_keys.NUMBER_CLASSES
            assert comp["min"] < comp["max"] and comp["step"] >= 0.001
            assert comp["mode"] in ha_keys.NUMBER_MODES
        if platform == "select":
            assert all(isinstance(o, str) for o in comp["options"])


def test_every_shipped_template_makes_a_documented_config() -> None:
    from smartbuild.config.schema import DeviceSpec
    from smartbuild.model.device import Device
    from smartbuild.mqtt.discovery import DiscoveryOptions, config_topic, device_config
    from smartbuild.mqtt.topics import Topics
    from smartbuild.services.registry import builtin_registry

    options = DiscoveryOptions(Topics("hq.main"), version="0.1.0", commands=True)
    platforms: set[str] = set()
    for name, template in builtin_registry().template_values().items():
        spec = DeviceSpec(template=name, transport="x", address="a", title="Dev ice")
        device = Device(f"dev.{name}", spec, template)
        payload = device_config(device, options, zone_title="Office 1")
        check_config(config_topic(options, device.id), json.loads(json.dumps(payload)))
        platforms |= {c["p"] for c in payload["cmps"].values()}
    assert platforms == {"sensor", "binary_sensor", "number", "switch", "select"}


def test_components_follow_what_points_mean() -> None:
    from smartbuild.config.schema import DeviceSpec
    from smartbuild.model.device import Device
    from smartbuild.mqtt.discovery import DiscoveryOptions, device_config
    from smartbuild.mqtt.topics import Topics
    from smartbuild.services.registry import builtin_registry

    templates = builtin_registry().template_values()
    th = Device("th-1", DeviceSpec(template="acme-th200", transport="modbus-tcp", address="h"),
                templates["acme-th200"])  # fmt: skip
    cmps = device_config(th, DiscoveryOptions(Topics("hq"), commands=True))["cmps"]
    assert cmps["room_temperature"] | {} == cmps["room_temperature"]
    assert cmps["room_temperature"]["device_class"] == "temperature"
    assert cmps["room_temperature"]["state_class"] == "measurement"
    assert cmps["room_humidity"]["device_class"] == "humidity"
    setpoint = cmps["heating_setpoint"]
    assert (setpoint["p"], setpoint["min"], setpoint["max"], setpoint["step"]) == (
        "number",
        5,
        30,
        0.1,
    )
    assert setpoint["command_topic"] == "smartbuild/hq/th-1/heating_setpoint/set"
    mode = cmps["hvac_mode"]
    assert mode["p"] == "select" and mode["options"] == ["off", "heat", "cool", "auto"]
    assert (
        cmps["occupancy"]["p"] == "binary_sensor"
        and cmps["occupancy"]["device_class"] == "occupancy"
    )
    # without commands, nothing in Home Assistant offers to change a value
    read_only = device_config(th, DiscoveryOptions(Topics("hq"), commands=False))["cmps"]
    assert {c["p"] for c in read_only.values()} == {"sensor", "binary_sensor"}
    assert not any("command_topic" in c for c in read_only.values())


async def test_discovery_is_retained_republished_for_home_assistant_and_cleared_on_removal(
    tmp_path, broker
):
    farm, endpoint = await start_farm(2)
    mqtt = f'{{url: "{broker.url}", commands: true}}'
    site = write_site(tmp_path / "site", "hq", endpoint, 2, mqtt)
    config1 = "homeassistant/device/smartbuild_hq_th-1/config"
    config2 = "homeassistant/device/smartbuild_hq_th-2/config"
    try:
        async with running_bridge(site, tmp_path / "home"):
            async with listening(broker, "homeassistant/device/+/config") as ha:
                found = await ha.wait_for(lambda: ha.on(config1) and ha.on(config2))
                assert found[0].retain  # a late subscriber got it: retained
                check_config(config1, json.loads(found[0].payload))
                count = len(ha.on(config1))
                await ha.client.publish("homeassistant/status", "online", qos=1)  # HA restarted
                await ha.wait_for(lambda: len(ha.on(config1)) > count)
            async with listening(broker, "smartbuild/hq/th-2/room_temperature") as states:
                await states.wait_for(lambda: states.on("smartbuild/hq/th-2/room_temperature"))
        # th-2 leaves the site: its config and states are emptied on the next start
        write_site(tmp_path / "site", "hq", endpoint, 1, mqtt)
        async with (
            running_bridge(site, tmp_path / "home"),
            listening(broker, "homeassistant/device/+/config", "smartbuild/hq/th-2/#") as ha,
        ):
            await ha.wait_for(lambda: ha.on(config1))
            assert not ha.on(config2)  # nothing retained for it any more
            assert not ha.on("smartbuild/hq/th-2/room_temperature")
    finally:
        await farm.close()


def test_only_this_sites_own_configs_count_as_ours() -> None:
    from smartbuild.config.schema import DeviceSpec
    from smartbuild.model.device import Device
    from smartbuild.mqtt.discovery import DiscoveryOptions, device_config, is_ours
    from smartbuild.mqtt.topics import Topics
    from smartbuild.services.registry import builtin_registry

    template = builtin_registry().template_values()["acme-th200"]
    device = Device("th-1", DeviceSpec(template="acme-th200", transport="x", address="a"), template)
    mine = device_config(device, DiscoveryOptions(Topics("hq")))
    neighbour = device_config(device, DiscoveryOptions(Topics("hq_2")))  # ids start alike
    assert is_ours(mine, Topics("hq")) and is_ours(neighbour, Topics("hq_2"))
    assert not is_ours(neighbour, Topics("hq"))
    assert not is_ours({**mine, "o": {"name": "zigbee2mqtt"}}, Topics("hq"))
