"""The MQTT bridge: a face of the hub that publishes states and takes commands over a broker.

``MqttBridge(settings)`` (or ``MqttBridge()`` to read the site's ``mqtt:`` block) is started by
the hub with a :class:`~smartbuild.hub.face.HubContext` and runs until cancelled. It keeps one
connection with its own reconnect loop (exponential backoff, capped): after each connect it
removes Home Assistant configs of devices that left the site, announces ``online``, publishes
discovery, availability and every known state, and subscribes to commands. While the broker is
away, the hub keeps running its devices; states are kept and published on return. A clean exit
publishes a retained ``offline`` (a last will only fires when the connection dies).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import secrets
import socket
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from smartbuild import __version__
from smartbuild.mqtt.commands import RateLimit, SeenIds
from smartbuild.mqtt.discovery import DiscoveryOptions, config_topic, device_config
from smartbuild.mqtt.topics import Topics, state_payload, timestamp

if TYPE_CHECKING:
    from smartbuild.hub.face import HubContext
    from smartbuild.model.device import Device, Reading
    from smartbuild.model.events import Event
    from smartbuild.mqtt.settings import BrokerSettings

log = logging.getLogger(__name__)
BACKOFF_FIRST_S = 0.1
BACKOFF_MAX_S = 2.0  # a broker back after a restart is found within ~2 s
SYNC_TIMEOUT_S = 5.0
PUBLISH_BATCH = 200


class MqttBridge:
    """States out, commands in, Home Assistant discovery alongside: one broker, one site."""

    name = "mqtt"

    def __init__(self, settings: BrokerSettings | None = None) -> None:
        self.settings: BrokerSettings | None = settings
        self.ctx: HubContext | None = None
        self.client: Any = None
        self.topics: Topics | None = None
        self.devices: dict[str, Device] = {}
        self.connected = asyncio.Event()
        self.connects = 0
        self.started = time.time()
        self.last_error: str | None = None
        self.counters = {"states": 0, "commands": 0, "refused": 0, "duplicates": 0, "events": 0}
        self.states: dict[tuple[str, str], dict[str, Any]] = {}
        self.online: dict[str, dict[str, bool]] = {}  # device -> point -> last read ok
        self.rate = RateLimit(settings.rate_limit_s if settings else 1.0)
        self.seen = SeenIds()
        self.locks: dict[str, asyncio.Lock] = {}
        self._dirty: dict[str, tuple[bytes, bool]] = {}  # topic -> (payload, retain)
        self._wake = asyncio.Event()
        self._events: deque[dict[str, Any]] = deque(maxlen=1000)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._published_devices: set[str] = set()
        self._sync_nonce: str | None = None
        self._sync_done = asyncio.Event()
        self._found: dict[str, dict[str, Any]] = {}

    # ---- the face ------------------------------------------------------------------------
    async def run(self, ctx: HubContext) -> None:
        """Bridge the hub's session to the broker until cancelled (then announce offline)."""
        from smartbuild.mqtt.settings import BrokerSettings, aiomqtt_module

        aiomqtt_module()  # a missing extra is an error at start, not at the first connect
        session = ctx.session
        site = session.site()
        if self.settings is None:
            if site.site.mqtt is None:
                from smartbuild.errors import UsageError

                raise UsageError("the site has no mqtt: block and no broker URL was given",
                                 hint="add `mqtt: {url: mqtt://host:1883}` (docs/mqtt.md)")  # fmt: skip
            self.settings = BrokerSettings.from_spec(site.site.mqtt, site.path.parent)
            self.rate = RateLimit(self.settings.rate_limit_s)
        self.ctx = ctx
        self.topics = Topics(site.site.site, self.settings.base_topic)
        self.devices = session.devices()
        self._want(self.devices)
        ctx.status_section(self.name, self.status)
        session.observers.append(self._observe)
        readings = asyncio.ensure_future(self._follow(ctx))
        try:
            await self._connection_loop()
        finally:
            readings.cancel()
            with contextlib.suppress(ValueError):
                session.observers.remove(self._observe)
            await asyncio.gather(readings, *self._tasks, return_exceptions=True)

    def _want(self, devices: dict[str, Device]) -> None:
        """Ask the hub's poller for every point of these devices at their own intervals."""
        assert self.ctx is not None
        for device in devices.values():
            points = device.template.points
            if points:
                interval = min(p.poll_interval or device.template.defaults.poll_interval
                               for p in points.values())  # fmt: skip
                self.ctx.want(device.id, list(points), interval)

    def status(self) -> dict[str, Any]:
        """Return the bridge's part of ``hub status``."""
        return {
            "broker": self.settings.display if self.settings else None,
            "connected": self.connected.is_set(),
            "connects": self.connects,
            "last_error": self.last_error,
            "devices": len(self.devices),
            "states": len(self.states),
            **self.counters,
        }

    # ---- the connection ------------------------------------------------------------------
    async def _connection_loop(self) -> None:
        from smartbuild.mqtt.settings import aiomqtt_module

        mqtt = aiomqtt_module()
        assert self.settings is not None and self.topics is not None
        delay = BACKOFF_FIRST_S
        while True:
            client = self.settings.client(will=(self.topics.status, "offline"))
            try:
                async with client:
                    self.client = client
                    self.connects += 1
                    delay = BACKOFF_FIRST_S
                    try:
                        await self._session(client)
                    except asyncio.CancelledError:
                        # a clean exit says so itself: the last will fires only on a lost link
                        with contextlib.suppress(Exception):
                            await client.publish(self.topics.status, "offline", qos=1,
                                                 retain=True, timeout=2)  # fmt: skip
                        raise
                    finally:
                        self.connected.clear()
            except mqtt.MqttError as error:
                self.last_error = f"{type(error).__name__}: {error}"
                log.info("mqtt: %s; reconnecting in %.1f s", self.last_error, delay)
            finally:
                self.client = None
            # jitter: hubs that lost one broker must not all knock at the same instant
            await asyncio.sleep(delay * random.uniform(0.75, 1.25))
            delay = min(delay * 2, BACKOFF_MAX_S)

    async def _session(self, client: Any) -> None:
        """Do everything one connection does until it drops."""
        assert self.settings is not None and self.topics is not None
        receiver = asyncio.ensure_future(self._receive(client))
        try:
            await self._announce(client)
            publisher = asyncio.ensure_future(self._publish_loop(client))
            heartbeat = asyncio.ensure_future(self._heartbeat(client))
            done, _ = await asyncio.wait({receiver, publisher, heartbeat},
                                         return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
            for task in (receiver, publisher, heartbeat):
                task.cancel()
            await asyncio.gather(receiver, publisher, heartbeat, return_exceptions=True)
            for task in done:
                task.result()  # the MqttError that ended the connection
        finally:
            receiver.cancel()

    async def _announce(self, client: Any) -> None:
        """Clear departed devices, then online, discovery, availability and every state."""
        assert self.settings is not None and self.topics is not None
        topics, settings = self.topics, self.settings
        if settings.discovery:
            await self._clear_departed(client)
        await client.publish(topics.status, "online", qos=1, retain=True)
        await self._publish_hub(client)
        await self._publish_everything(client)
        from paho.mqtt.subscribeoptions import SubscribeOptions

        # retain-as-published: a retained command shows as such even when it arrives live
        await client.subscribe(
            topics.set_filter, options=SubscribeOptions(qos=1, retainAsPublished=True)
        )
        await client.subscribe(topics.fleet_request, qos=1)
        if settings.discovery:
            await client.subscribe(f"{settings.discovery_prefix}/status", qos=1)
        self.connected.set()

    async def _clear_departed(self, client: Any) -> None:
        """Empty the retained discovery (and states) of our devices that left the site."""
        from smartbuild.mqtt.discovery import is_ours, state_topics

        assert self.settings is not None and self.topics is not None
        wildcard = f"{self.settings.discovery_prefix}/device/+/config"
        self._found, self._sync_done = {}, asyncio.Event()
        self._sync_nonce = secrets.token_hex(8)
        await client.subscribe([(wildcard, 1), (self.topics.sync, 1)])
        # retained configs arrive before our own echo on a topic subscribed at the same time
        await client.publish(self.topics.sync, self._sync_nonce, qos=1)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._sync_done.wait(), SYNC_TIMEOUT_S)
        await client.unsubscribe([wildcard, self.topics.sync])
        current = {config_topic(self._options(), d) for d in self.devices}
        for topic, payload in self._found.items():
            if topic not in current and is_ours(payload, self.topics):
                await client.publish(topic, b"", qos=1, retain=True)
                for state in state_topics(payload):
                    await client.publish(state, b"", qos=1, retain=True)

    def _options(self) -> DiscoveryOptions:
        assert self.settings is not None and self.topics is not None
        return DiscoveryOptions(self.topics, self.settings.discovery_prefix, __version__,
                                self.settings.commands)  # fmt: skip

    async def _publish_everything(self, client: Any) -> None:
        """Publish discovery, availability and the last state of every point (retained)."""
        assert self.settings is not None and self.topics is not None
        ctx = self.ctx
        assert ctx is not None
        zones = ctx.session.site().site.zones
        messages: list[tuple[str, bytes]] = []
        for device in self.devices.values():
            if self.settings.discovery:
                zone = zones.get(device.spec.zone or "")
                title = (zone.title or device.spec.zone) if zone else None
                config = device_config(device, self._options(), zone_title=title)
                messages.append((config_topic(self._options(), device.id), _dump(config)))
            messages.append((self.topics.availability(device.id), self._availability(device.id)))
        for (device_id, point), state in list(self.states.items()):
            messages.append((self.topics.state(device_id, point), _dump(state)))
        self._published_devices = set(self.devices)
        await self._publish_many(client, [(t, p, True) for t, p in messages])

    def _availability(self, device_id: str) -> bytes:
        points = self.online.get(device_id)
        return b"offline" if points is not None and not any(points.values()) else b"online"

    async def _publish_many(self, client: Any, messages: list[tuple[str, bytes, bool]]) -> None:
        for start in range(0, len(messages), PUBLISH_BATCH):
            batch = messages[start : start + PUBLISH_BATCH]
            await asyncio.gather(*(client.publish(t, p, qos=1, retain=r) for t, p, r in batch))

    async def _publish_hub(self, client: Any) -> None:
        assert self.topics is not None
        await client.publish(self.topics.hub, _dump(self.hub_info()), qos=1, retain=True)

    def hub_info(self) -> dict[str, Any]:
        """Return what ``fleet status`` shows of this hub."""
        offline = sorted(d for d in self.devices if self._availability(d) == b"offline")
        return {
            "site": self.topics.site if self.topics else None,
            "version": __version__,
            "host": socket.gethostname(),
            "started": timestamp(self.started),
            "last_seen": timestamp(time.time()),
            "devices": len(self.devices),
            "points": sum(len(d.template.points) for d in self.devices.values()),
            "health": "ok" if not offline else "degraded",
            "offline_devices": offline,
            "commands": bool(self.settings and self.settings.commands),
            "counters": dict(self.counters),
        }

    async def _heartbeat(self, client: Any) -> None:
        assert self.settings is not None and self.ctx is not None
        while True:
            await asyncio.sleep(self.settings.heartbeat_s)
            devices = self.ctx.session.devices()  # a reloaded site may add or remove devices
            if set(devices) != set(self.devices):
                self._want({d: devices[d] for d in devices if d not in self.devices})
                self.devices = devices
                await self._clear_departed(client)
                await self._publish_everything(client)
            await self._publish_hub(client)

    async def _publish_loop(self, client: Any) -> None:
        """Send what changed (coalesced per topic) and the events, as they come."""
        assert self.topics is not None
        while True:
            await self._wake.wait()
            self._wake.clear()
            dirty, self._dirty = self._dirty, {}
            events = list(self._events)
            self._events.clear()
            messages = [(t, p, r) for t, (p, r) in dirty.items()]
            messages += [(self.topics.events, _dump(e), False) for e in events]
            try:
                await self._publish_many(client, messages)
            except BaseException:
                for topic, payload, retain in messages:  # sent again after the reconnect
                    if retain:
                        self._dirty.setdefault(topic, (payload, retain))
                raise
            self.counters["states"] += len(dirty)
            self.counters["events"] += len(events)

    def _queue(self, topic: str, payload: bytes, retain: bool = True) -> None:
        self._dirty[topic] = (payload, retain)
        self._wake.set()

    # ---- states in -------------------------------------------------------------------------
    async def _follow(self, ctx: HubContext) -> None:
        async for reading in ctx.subscribe():
            self.note_reading(reading)

    def note_reading(self, reading: Reading) -> None:
        """Keep a reading as the point's state; queue it when value or quality changed."""
        assert self.topics is not None
        key = (reading.device, reading.point)
        state = state_payload(reading)
        old = self.states.get(key)
        self.states[key] = state
        if old is None or _changed(old, state):
            self._queue(self.topics.state(*key), _dump(state))
        points = self.online.setdefault(reading.device, {})
        before = self._availability(reading.device)
        points[reading.point] = reading.ok
        if self._availability(reading.device) != before:
            self._queue(self.topics.availability(reading.device),
                        self._availability(reading.device))  # fmt: skip

    def _observe(self, event: Event) -> None:
        """Pass journaled events (runs, writes, routine events) to the events topic."""
        if event.kind == "discovered":
            return
        data = {k: v for k, v in event.to_json().items() if v is not None}
        data["timestamp"] = timestamp(event.time)
        self._events.append(json.loads(json.dumps(data, default=str)))
        self._wake.set()

    # ---- messages in -----------------------------------------------------------------------
    async def _receive(self, client: Any) -> None:
        assert self.settings is not None and self.topics is not None
        ha_status = f"{self.settings.discovery_prefix}/status"
        async for message in client.messages:
            topic = str(message.topic)
            if topic == self.topics.sync:
                if message.payload == (self._sync_nonce or "").encode():
                    self._sync_done.set()
            elif topic.endswith("/config") and topic.startswith(self.settings.discovery_prefix):
                with contextlib.suppress(ValueError, UnicodeDecodeError):
                    if message.payload:
                        payload = json.loads(message.payload)
                        if isinstance(payload, dict):
                            self._found[topic] = payload
            elif topic == ha_status:
                if message.payload.strip().lower() == b"online":  # HA restarted: tell it again
                    self._spawn(self._publish_everything(client))
            elif topic == self.topics.fleet_request:
                from smartbuild.mqtt.fleet import answer_request

                self._spawn(answer_request(self, client, message))
            elif (target := self.topics.parse_set(topic)) is not None:
                from smartbuild.mqtt.control import run_command

                self._spawn(run_command(self, client, message, *target))

    def _spawn(self, work: Any) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            error = task.exception()
            self.last_error = f"{type(error).__name__}: {error}"
            log.warning("mqtt: %s", self.last_error)


def _changed(old: dict[str, Any], new: dict[str, Any]) -> bool:
    return any(old.get(k) != new.get(k) for k in ("value", "quality", "text", "unit", "error"))


def _dump(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False, default=str).encode()
