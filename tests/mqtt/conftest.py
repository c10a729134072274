"""A real Mosquitto broker (anonymous, or with users and an ACL), simulated thermostats, a bridge."""

from __future__ import annotations

import asyncio
import contextlib
import json
import textwrap
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from smartbuild.mqtt.settings import NO_DELAY
from smartbuild.sim.peers.mosquitto import MOSQUITTO, Mosquitto

aiomqtt = pytest.importorskip("aiomqtt")

# read-only users see states; control users may also command (docs/mqtt.md shows the same)
ACL = [
    "user hub",
    "topic readwrite smartbuild/#",
    "topic readwrite homeassistant/#",
    "user viewer",
    "topic read smartbuild/#",
    "user control",
    "topic read smartbuild/#",
    "topic write smartbuild/+/+/+/set",
]
USERS = {"hub": "hub-pw", "viewer": "viewer-pw", "control": "control-pw"}


if not Path(MOSQUITTO).exists():
    pytest.skip(
        f"{MOSQUITTO} is not installed (apt-get install mosquitto)", allow_module_level=True
    )


@pytest.fixture
def broker() -> Iterator[Mosquitto]:
    """An anonymous broker on a free loopback port."""
    with Mosquitto() as running:
        yield running


@pytest.fixture
def tls_broker() -> Iterator[Mosquitto]:
    """An anonymous broker on TLS only, with a certificate from its own CA."""
    with Mosquitto(tls=True) as running:
        yield running


@pytest.fixture
def acl_broker() -> Iterator[Mosquitto]:
    """A broker with users (hub, viewer, control) and the ACL above; anonymous refused."""
    with Mosquitto(users=USERS, acl=ACL) as running:
        yield running


def th_unit(unit: int = 1, setpoint: int = 210) -> Any:
    """Return a simulated ACME TH-200 thermostat (21.0 °C room, setpoint in tenths)."""
    from smartbuild.sim.peers.modbus_farm import SimUnit

    return SimUnit(unit, input={0: 210, 1: 450}, holding={10: setpoint, 11: 260, 12: 1},
                   discrete={0: True})  # fmt: skip


async def start_farm(count: int, host: str = "127.0.7.1") -> Any:
    """Start `count` thermostats on one server (units 1..count); return the farm and endpoint."""
    from smartbuild.sim.peers.modbus_farm import ModbusFarm, ServerSpec

    farm = ModbusFarm(port=0)
    endpoint = await farm.add_server(
        ServerSpec(host, [th_unit(i + 1) for i in range(count)], port=0)
    )
    return farm, endpoint


def write_site(path: Path, site: str, endpoint: tuple[str, int], count: int, mqtt: str) -> Path:
    """Write a site with `count` thermostats (settle 0) and an mqtt block."""
    host, port = endpoint
    devices = "\n".join(
        f'  th-{i + 1}: {{template: th-fast, transport: modbus-tcp, address: "{host}:{port}", '
        f'unit: {i + 1}, zone: office, title: "Thermostat {i + 1}"}}'
        for i in range(count)
    )
    path.mkdir(parents=True, exist_ok=True)
    template = (Path(__file__).parents[2] / "src/smartbuild/templates/acme-th200.yaml").read_text()
    template = template.replace("template: acme-th200", "template: th-fast")
    template = template.replace("defaults: {", "defaults: {settle: 0, ")
    template = template.replace("poll_interval: 10", "poll_interval: 0.5")
    (path / "th-fast.yaml").write_text(template)
    (path / "profiles").mkdir(exist_ok=True)
    (path / "profiles" / "setback.yaml").write_text(SETBACK)
    site_file = path / "site.yaml"
    site_file.write_text(textwrap.dedent(f"""\
        site: {site}
        templates: [th-fast.yaml]
        zones:
          office: {{title: Open office, tags: [office]}}
        profiles: [profiles]
        mqtt: {mqtt}
        devices:
        """) + devices + "\n")  # fmt: skip
    return site_file


SETBACK = """\
profile: setback
title: Heating set back in every office
applies_to: {tags: [office]}
modes:
  night: {heating_setpoint: 17}
schedule: {default: night}
"""


class Listener:
    """An MQTT client that records every message on the topics it follows."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.messages: list[Any] = []
        self.changed = asyncio.Event()

    async def pump(self) -> None:
        async for message in self.client.messages:
            self.messages.append(message)
            self.changed.set()

    def on(self, topic: str) -> list[Any]:
        return [m for m in self.messages if str(m.topic) == topic]

    def last_json(self, topic: str) -> Any:
        found = self.on(topic)
        return json.loads(found[-1].payload) if found and found[-1].payload else None

    async def wait_for(self, predicate: Any, timeout: float = 10.0) -> Any:
        async def go() -> Any:
            while True:
                value = predicate()
                if value:
                    return value
                self.changed.clear()
                await self.changed.wait()

        return await asyncio.wait_for(go(), timeout)


@contextlib.asynccontextmanager
async def listening(broker: Mosquitto, *topics: str, **login: Any) -> AsyncIterator[Listener]:
    """Connect, subscribe to topics (QoS 1) and record messages until the block ends."""
    async with aiomqtt.Client(broker.host, broker.port, protocol=aiomqtt.ProtocolVersion.V5, socket_options=[NO_DELAY],
                              **login) as client:  # fmt: skip
        listener = Listener(client)
        task = asyncio.ensure_future(listener.pump())
        for topic in topics:
            await client.subscribe(topic, qos=1)
        try:
            yield listener
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


@contextlib.asynccontextmanager
async def running_bridge(site_file: Path, home: Path, settings: Any = None) -> AsyncIterator[Any]:
    """Run a PollingContext and an MqttBridge for a site until the block ends."""
    from smartbuild.mqtt.bridge import MqttBridge
    from smartbuild.mqtt.context import PollingContext
    from smartbuild.services.session import Session

    session = Session(site_file, home)
    ctx = PollingContext(session)
    bridge = MqttBridge(settings)
    tasks = [asyncio.ensure_future(ctx.run()), asyncio.ensure_future(bridge.run(ctx))]
    try:
        ready = asyncio.ensure_future(bridge.connected.wait())
        await asyncio.wait([ready, tasks[1]], timeout=10, return_when=asyncio.FIRST_COMPLETED)
        ready.cancel()
        if tasks[1].done():
            tasks[1].result()  # the bridge stopped: show why
        assert bridge.connected.is_set(), "the bridge did not connect within 10 s"
        yield bridge
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await session.aclose()
        session.close()
