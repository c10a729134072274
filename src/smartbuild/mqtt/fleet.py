"""The fleet: hubs on one broker answering requests from a laptop (``smartbuild fleet``).

A request goes to ``smartbuild/<site>/fleet/request`` at QoS 1 as MQTT 5 with a response topic
and correlation data (the request id); the hub answers there. ``apply`` plans and applies a
profile on the hub, under its own leases and journal; its id is tagged in the run's command,
so a request delivered twice (a retry, a broker restart) is answered, never applied again.
``log`` returns the hub's latest journal runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from smartbuild.errors import SmartbuildError
from smartbuild.mqtt.control import applied_before, correlation, tagged
from smartbuild.mqtt.topics import Topics, timestamp

if TYPE_CHECKING:
    from smartbuild.mqtt.bridge import MqttBridge
    from smartbuild.mqtt.settings import BrokerSettings

ACTIONS = ("apply", "log")


# ---- the hub's side ------------------------------------------------------------------------
async def answer_request(bridge: MqttBridge, client: Any, message: Any) -> dict[str, Any]:
    """Carry out one fleet request and publish the answer on its response topic."""
    from smartbuild.mqtt.bridge import _dump

    response_topic, corr = correlation(message)
    answer = await _answer(bridge, message)
    if response_topic:
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        props = Properties(PacketTypes.PUBLISH)
        if corr is not None:
            props.CorrelationData = corr
        await client.publish(response_topic, _dump(answer), qos=1, properties=props)
    return answer


async def _answer(bridge: MqttBridge, message: Any) -> dict[str, Any]:
    assert bridge.ctx is not None and bridge.topics is not None and bridge.settings is not None
    base: dict[str, Any] = {"site": bridge.topics.site, "received": timestamp(time.time())}
    try:
        request = json.loads(message.payload)
        if not isinstance(request, dict) or request.get("action") not in ACTIONS:
            raise ValueError(f"a request is a JSON object with an action of {', '.join(ACTIONS)}")
        request_id = str(request.get("id") or "")
        if not request_id:
            raise ValueError("a request needs an id")
    except ValueError as error:
        return {**base, "status": "refused", "cause": "payload", "message": str(error)}
    base["id"] = request_id
    if request["action"] == "log":
        return {**base, "status": "ok", "runs": _runs(bridge, request)}
    if message.retain:
        return {**base, "status": "refused", "cause": "retained",
                "message": "a retained request is never applied"}  # fmt: skip
    if not bridge.settings.commands:
        return {**base, "status": "refused", "cause": "disabled",
                "message": "this hub takes no commands: its site's mqtt block lacks "
                "`commands: true`"}  # fmt: skip
    fresh, earlier = bridge.seen.claim(request_id)
    run = None if not fresh else applied_before(bridge, request_id)
    if not fresh or run is not None:
        bridge.counters["duplicates"] += 1
        first = earlier
        if first is None and run is not None:  # carried out before this hub restarted
            first = {"run": run, "status": bridge.ctx.session.journal.run(run)["status"]}
        return {**base, "status": "duplicate", "first": first,
                "message": f"request {request_id} was received before: not applied again"}  # fmt: skip
    answer = {**base, **await _apply(bridge, request, request_id)}
    answer["finished"] = timestamp(time.time())
    bridge.seen.done(request_id, {k: answer.get(k) for k in ("status", "run")})
    return answer


async def _apply(bridge: MqttBridge, request: dict[str, Any], request_id: str) -> dict[str, Any]:
    assert bridge.ctx is not None
    session = bridge.ctx.session
    profile = str(request.get("profile") or "")
    who = str(request.get("by") or "fleet")[:100]
    zones = [str(z) for z in request.get("zones") or []]
    try:
        live = await session.plan(profile, request.get("at"), zones)
        command = f"fleet apply {profile} {tagged(request_id)} from {who}"
        result = await session.apply(live, confirm=lambda question: True,
                                     dry_run=bool(request.get("dry_run")), command=command)  # fmt: skip
    except SmartbuildError as error:
        refused = error.exit_status == 5
        return {"status": "refused" if refused else "error", "message": error.message}
    except Exception as error:  # reported to the fleet, never fatal to the hub
        return {"status": "error", "message": f"internal error: {type(error).__name__}: {error}"}
    from smartbuild.services.session import run_status

    status = "dry-run" if result.dry_run else run_status(result.outcomes)
    changes = live.plan.changes()
    return {"status": status, "run": result.run, "profile": profile, "changes": len(changes),
            "outcomes": [o.to_json() for o in result.outcomes]}  # fmt: skip


def _runs(bridge: MqttBridge, request: dict[str, Any]) -> list[dict[str, Any]]:
    assert bridge.ctx is not None
    limit = max(1, min(int(request.get("limit") or 20), 500))
    since = request.get("since")
    runs = bridge.ctx.session.journal.runs(since=float(since) if since else None, limit=limit)
    return [json.loads(json.dumps(r, default=str)) for r in runs]


# ---- the laptop's side ---------------------------------------------------------------------
@dataclass
class FleetAnswers:
    """The answers gathered for one request, by site; sites that never answered are missing."""

    request: dict[str, Any]
    answers: dict[str, dict[str, Any]] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)


async def hubs(
    settings: BrokerSettings, quiet_s: float = 0.5, max_s: float = 5.0
) -> list[dict[str, Any]]:
    """Return the hubs seen on the broker: retained hub info and status of every site."""
    seen: dict[str, dict[str, Any]] = {}
    base = settings.base_topic
    async with settings.client(identifier=f"smartbuild-fleet-{secrets.token_hex(4)}") as client:
        await client.subscribe([(f"{base}/+/hub", 1), (f"{base}/+/status", 1)])
        deadline = time.monotonic() + max_s
        while time.monotonic() < deadline:
            try:
                message = await asyncio.wait_for(_next(client), quiet_s)
            except asyncio.TimeoutError:
                break  # retained messages come at once: a quiet moment means all are in
            parts = str(message.topic).split("/")
            site = parts[-2]
            entry = seen.setdefault(site, {"site": site})
            if parts[-1] == "status":
                entry["status"] = message.payload.decode(errors="replace") or None
            elif message.payload:
                with contextlib.suppress(ValueError):
                    info = json.loads(message.payload)
                    if isinstance(info, dict):
                        entry.update({k: v for k, v in info.items() if k != "site"})
    return [seen[s] for s in sorted(seen) if len(seen[s]) > 1]


async def _next(client: Any) -> Any:
    async for message in client.messages:
        return message
    raise SmartbuildError("the broker closed the connection")


async def request(
    settings: BrokerSettings, sites: list[str], body: dict[str, Any], *, timeout: float = 60.0
) -> FleetAnswers:
    """Send one request (one id) to each site and gather the answers until all came or timeout.

    A site that has not answered by half the timeout gets the same request again: the id makes
    sure it is carried out at most once.
    """
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    request_id = body.get("id") or secrets.token_hex(8)
    body = {**body, "id": request_id}
    gathered = FleetAnswers(body)
    nonce = secrets.token_hex(6)
    response_topic = f"{settings.base_topic}/_fleet/{nonce}/response"
    payload = json.dumps(body).encode()
    async with settings.client(identifier=f"smartbuild-fleet-{nonce}") as client:
        await client.subscribe(response_topic, qos=1)

        async def send(targets: list[str]) -> None:
            for site in targets:
                props = Properties(PacketTypes.PUBLISH)
                props.ResponseTopic = response_topic
                props.CorrelationData = request_id.encode()
                target = Topics(site, settings.base_topic).fleet_request
                await client.publish(target, payload, qos=1, properties=props)

        await send(sites)
        started = time.monotonic()
        resent = False
        while len(gathered.answers) < len(sites):
            left = timeout - (time.monotonic() - started)
            if left <= 0:
                break
            if not resent and left < timeout / 2:
                await send([s for s in sites if s not in gathered.answers])
                resent = True
            wait = left - timeout / 2 if not resent else left
            try:
                message = await asyncio.wait_for(_next(client), max(0.05, wait))
            except asyncio.TimeoutError:
                continue
            _, corr = correlation(message)
            with contextlib.suppress(ValueError):
                answer = json.loads(message.payload)
                site = answer.get("site")
                # a duplicate whose first delivery is still running is no answer yet
                pending = answer.get("status") == "duplicate" and not answer.get("first")
                if corr == request_id.encode() and site in sites and not pending:
                    gathered.answers.setdefault(site, answer)
    gathered.missing = [s for s in sites if s not in gathered.answers]
    return gathered
