"""The bridge against a real Mosquitto and simulated thermostats: states, commands, refusals."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.mqtt.conftest import listening, running_bridge, start_farm, write_site

SITE = "hq"


async def setup(tmp_path: Path, broker: Any, count: int = 2, commands: bool = True) -> Any:
    farm, endpoint = await start_farm(count)
    mqtt = f"{{url: \"{broker.url}\", commands: {str(commands).lower()}, rate_limit_s: 0.5}}"
    return farm, write_site(tmp_path / "site", SITE, endpoint, count, mqtt)


async def test_states_are_retained_json_and_status_goes_offline_on_a_clean_exit(tmp_path, broker):
    farm, site = await setup(tmp_path, broker)
    try:
        async with running_bridge(site, tmp_path / "home"):
            async with listening(broker, "smartbuild/hq/#") as seen:
                state = await seen.wait_for(lambda: seen.last_json("smartbuild/hq/th-1/heating_setpoint"))
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
