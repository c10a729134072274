"""`hub run` starts the routine engine and the MQTT bridge itself: routines the `hub:` block
names, a bridge for the site's `mqtt:` block or `--mqtt URL`; both come back after a reload."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from smartbuild.sim.launch import SimProcess
from smartbuild.sim.peers.mosquitto import MOSQUITTO, Mosquitto
from tests.hub.conftest import HUB_BLOCK, make_site

aiomqtt = pytest.importorskip("aiomqtt")
if not Path(MOSQUITTO).exists():
    pytest.skip(f"{MOSQUITTO} is not installed", allow_module_level=True)

HELLO = """\
routine: hello
title: Say hello when the hub starts
triggers:
  - hub_start: true
steps:
  - event: {message: "hub up", level: info}
"""


def site_with_routine(tmp_path: Path, sim: SimProcess, extra: str = "") -> Path:
    (tmp_path / "routines").mkdir(parents=True, exist_ok=True)
    (tmp_path / "routines" / "hello.yaml").write_text(HELLO)
    return make_site(tmp_path, sim, hub=HUB_BLOCK + "  routines: [hello]\n" + extra)


class Recorder:
    """Every smartbuild/# message from subscription on (events are not retained: listen first)."""

    def __init__(self, broker: Mosquitto) -> None:
        self.broker = broker
        self.seen: dict[str, list[Any]] = {}
        self.changed = asyncio.Event()

    async def __aenter__(self) -> Recorder:
        from smartbuild.mqtt.settings import NO_DELAY

        self.client = aiomqtt.Client(self.broker.host, self.broker.port, socket_options=[NO_DELAY])
        await self.client.__aenter__()
        await self.client.subscribe("smartbuild/#", qos=1)
        self.task = asyncio.ensure_future(self._pump())
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
        await self.client.__aexit__(None, None, None)

    async def _pump(self) -> None:
        async for message in self.client.messages:
            text = bytes(message.payload).decode()
            try:
                value: Any = json.loads(text)
            except ValueError:
                value = text
            self.seen.setdefault(str(message.topic), []).append(value)
            self.changed.set()

    async def until(self, predicate: Any, timeout: float = 20.0) -> dict[str, list[Any]]:
        """Wait (bounded) until ``predicate(seen)`` holds."""
        deadline = asyncio.get_running_loop().time() + timeout
        while not predicate(self.seen):
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise AssertionError(f"not seen in {timeout} s; topics: {sorted(self.seen)[:20]}; "
                                     f"events: {events(self.seen)[-5:]}")  # fmt: skip
            self.changed.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.changed.wait(), left)
        return self.seen


def events(seen: dict[str, list[Any]]) -> list[Any]:
    return [e for topic, values in seen.items() if topic.endswith("/events") for e in values]


def said_hello(seen: dict[str, list[Any]]) -> bool:
    return any("hub up" in json.dumps(e) for e in events(seen))


async def test_routines_and_the_bridge_run_inside_the_hub_and_survive_a_reload(
    tmp_path: Path, sim: SimProcess, hubs: Any
) -> None:
    with Mosquitto() as broker:
        async with Recorder(broker) as mqtt:
            site = site_with_routine(tmp_path, sim)
            home = tmp_path / "hubhome"
            hub = hubs(site, home, "--mqtt", broker.url)
            status = hub.status(lambda s: s["state"] == "running" and len(s["faces"]) == 2)
            assert set(status["faces"]) == {"routines", "mqtt"}
            seen = await mqtt.until(lambda s: said_hello(s) and any(
            t.endswith("/th-z01/room_temperature") for t in s))  # fmt: skip
            status_topics = [t for t in seen if t.endswith("/status")]
            assert status_topics and seen[status_topics[0]][-1] == "online"
            state = seen[next(t for t in seen if t.endswith("/th-z01/room_temperature"))][-1]
            assert state["unit"] == "°C" and isinstance(state["value"], (int, float))
            status = hub.status(lambda s: s["sections"].get("routines", {}).get("routines"))
            assert "hello" in json.dumps(status["sections"]["routines"])

            # a reload starts both faces again on the new configuration: the hub says hello again
            mqtt.seen.clear()
            os.kill(hub.proc.pid, signal.SIGHUP)
            hub.status(lambda s: s["reload"]["seq"] == 1 and s["reload"]["ok"])
            await mqtt.until(said_hello)
            status = hub.status(lambda s: set(s["faces"]) == {"routines", "mqtt"})
            assert all(f["state"] == "running" for f in status["faces"].values()), status["faces"]
            assert hub.stop() == 0
            assert "Traceback" not in hub.output()


async def test_the_sites_mqtt_block_starts_the_bridge(
    tmp_path: Path, sim: SimProcess, hubs: Any
) -> None:
    with Mosquitto() as broker:
        async with Recorder(broker) as mqtt:
            site = make_site(tmp_path, sim, hub=HUB_BLOCK + f"mqtt: {{url: '{broker.url}'}}\n")
            hub = hubs(site, tmp_path / "hubhome")
            status = hub.status(lambda s: s["state"] == "running" and "mqtt" in s["faces"])
            assert "routines" not in status["faces"]  # the hub block names none
            topic = "smartbuild/sim-building/status"
            await mqtt.until(lambda s: s.get(topic, [])[-1:] == ["online"])
            assert hub.stop() == 0
            # a clean stop says offline, retained (a last will does not fire on a clean exit)
            await mqtt.until(lambda s: s.get(topic, [])[-1:] == ["offline"])


def test_hub_check_names_an_unknown_or_disabled_routine(
    tmp_path: Path, sim: SimProcess, run: Any
) -> None:
    site = site_with_routine(tmp_path, sim)
    site.write_text(site.read_text().replace("routines: [hello]", "routines: [helo]"))
    result = run("--site", str(site), "hub", "check")
    assert result.exit_code == 2, result.output
    line = site.read_text().splitlines().index("  routines: [helo]") + 1
    assert f"site.yaml:{line}:" in result.output
    assert "no routine named 'helo'. Did you mean 'hello'?" in result.output

    (tmp_path / "routines" / "hello.yaml").write_text(HELLO + "enabled: false\n")
    site.write_text(site.read_text().replace("routines: [helo]", "routines: [hello]"))
    result = run("--site", str(site), "hub", "check")
    assert result.exit_code == 2, result.output
    assert "routine 'hello' is disabled" in result.output


def test_a_missing_mqtt_extra_stops_the_start_with_the_install_hint(
    tmp_path: Path, sim: SimProcess, hubs: Any
) -> None:
    site = make_site(tmp_path, sim)
    blocker = tmp_path / "block"
    blocker.mkdir()
    (blocker / "aiomqtt.py").write_text("raise ImportError('aiomqtt is not installed here')\n")
    env = {"PYTHONPATH": f"{blocker}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    hub = hubs(site, tmp_path / "hubhome", "--mqtt", "mqtt://127.0.0.1:1", env=env)
    assert hub.proc.wait(30) == 1
    assert "aiomqtt" in hub.output() and "pip install" in hub.output()
    assert "Traceback" not in hub.output()
