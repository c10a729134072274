"""One command from ``…/<point>/set`` through the one write path, and its published outcome.

Refused before anything is read or written: commands switched off for the site, a retained
command (it would be applied again on every reconnect), an unknown device or point, a payload
that is not a value of the point, a command id seen before, a point commanded again within the
rate limit. Everything else goes to ``Session.write``: lease, read before, exact bounds, journal
(the run's command names the topic and sender), write, read back, settle, verify.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from smartbuild.errors import SafetyRefusal, SmartbuildError
from smartbuild.mqtt.commands import Command, CommandRefused, parse_payload
from smartbuild.mqtt.topics import timestamp

if TYPE_CHECKING:
    from smartbuild.mqtt.bridge import MqttBridge


def correlation(message: Any) -> tuple[str | None, bytes | None]:
    """Return the MQTT 5 response topic and correlation data of a message (None when absent)."""
    props = getattr(message, "properties", None)
    topic = getattr(props, "ResponseTopic", None) if props is not None else None
    data = getattr(props, "CorrelationData", None) if props is not None else None
    return topic or None, data or None


def tagged(command_id: str) -> str:
    """Return how a command id appears in the journal's run command (searched for duplicates)."""
    return f"[cmd {command_id}]"


def applied_before(bridge: MqttBridge, command_id: str) -> str | None:
    """Return the run that already carried out a command id (the journal outlives restarts)."""
    assert bridge.ctx is not None
    pattern = f"%{tagged(command_id)}%"
    run: str | None = bridge.ctx.session.journal.last_run(command_like=pattern)
    return run


async def run_command(bridge: MqttBridge, client: Any, message: Any, device_id: str,
                      point: str) -> dict[str, Any]:  # fmt: skip
    """Carry out one command message and publish its result; return the result."""
    assert bridge.ctx is not None and bridge.topics is not None and bridge.settings is not None
    topic = str(message.topic)
    response_topic, corr = correlation(message)
    result: dict[str, Any] = {"device": device_id, "point": point, "topic": topic,
                              "received": timestamp(time.time())}  # fmt: skip
    command: Command | None = None
    claimed = False
    bridge.counters["commands"] += 1
    try:
        command = _check(bridge, message, device_id, point)
        if command.id is None and corr is not None:
            command = Command(command.value, corr.hex(), command.who)
        result["value"] = command.value
        if command.id is not None:
            result["id"] = command.id
            known, earlier = bridge.seen.get(command.id)
            run = None if known else applied_before(bridge, command.id)
            if known or run is not None:
                bridge.counters["duplicates"] += 1
                duplicate = {**result, "status": "duplicate", "duplicate": True}
                if earlier is not None:  # what the first delivery did
                    duplicate["first"] = {k: earlier.get(k) for k in ("status", "run", "after")}
                duplicate["message"] = (f"command {command.id} was received before"
                                        + (f" (run {run})" if run else "") + ": not applied again")  # fmt: skip
                await _publish(bridge, client, topic, duplicate, response_topic, corr)
                return duplicate
        # a command refused for its rate leaves its id free: a retry after the wait is carried out
        bridge.rate.check((device_id, point), time.monotonic())
        if command.id is not None:
            claimed, _ = bridge.seen.claim(command.id)
        result.update(await _write(bridge, device_id, point, command, topic))
    except CommandRefused as refusal:
        bridge.counters["refused"] += 1
        result |= {"status": "refused", "cause": refusal.cause, "message": refusal.message}
    except SafetyRefusal as refusal:  # bounds, read-only: nothing was sent
        bridge.counters["refused"] += 1
        result |= {"status": "refused", "cause": "bounds", "message": refusal.message}
    except SmartbuildError as error:
        result |= {"status": "error", "cause": "error", "message": error.message}
    except Exception as error:  # one bad command must not stop the bridge; it is reported
        result |= {"status": "error", "cause": "internal",
                   "message": f"internal error: {type(error).__name__}: {error}"}  # fmt: skip
    result["finished"] = timestamp(time.time())
    if claimed and command is not None and command.id is not None:
        bridge.seen.done(command.id, result)
    await _publish(bridge, client, topic, result, response_topic, corr)
    return result


def _check(bridge: MqttBridge, message: Any, device_id: str, point: str) -> Command:
    """Return the parsed command, or raise CommandRefused before anything is touched."""
    from smartbuild.suggest import did_you_mean

    assert bridge.settings is not None
    if not bridge.settings.commands:
        raise CommandRefused("disabled", "commands from MQTT are off for this site: set "
                             "`commands: true` in its mqtt block to allow them")  # fmt: skip
    if message.retain:
        raise CommandRefused("retained", "a retained command is never applied (it would run "
                             "again on every reconnect): publish it without the retain flag")  # fmt: skip
    device = bridge.devices.get(device_id)
    if device is None:
        raise CommandRefused("unknown", f"no device {device_id!r} in this site."
                             f"{did_you_mean(device_id, bridge.devices)}")  # fmt: skip
    points: Any = device.template.points
    if point not in points:
        raise CommandRefused("unknown", f"{device_id}: no point {point!r}."
                             f"{did_you_mean(point, points)}")  # fmt: skip
    return parse_payload(bytes(message.payload), points[point])


async def _write(
    bridge: MqttBridge, device_id: str, point: str, command: Command, topic: str
) -> dict[str, Any]:
    """Write through Session.write, one command at a time per device; return the outcome."""
    import asyncio

    assert bridge.ctx is not None and bridge.settings is not None
    session = bridge.ctx.session
    device = bridge.devices[device_id]
    who = command.who or "an MQTT client"
    tag = f" {tagged(command.id)}" if command.id else ""
    text = (f"mqtt set {device_id}.{point}={command.value}{tag} from {who} on {topic} "
            f"via {bridge.settings.display}")  # fmt: skip
    lock = bridge.locks.setdefault(device_id, asyncio.Lock())
    async with lock:  # our own commands queue per device instead of refusing each other's lease
        run_id, outcome = await session.write(device, point, command.value,
                                              confirm=lambda question: True, command=text)  # fmt: skip
    data = outcome.to_json()
    out = {"status": data["status"], "run": run_id, "before": data["before"],
           "after": data["after"], "message": data["message"], "cause": data["cause"]}  # fmt: skip
    if outcome.status.ok and outcome.after is not None:
        from smartbuild.model.device import Reading

        spec = device.point(point)
        text_label = spec.enum.get(int(outcome.after)) if spec.enum else None
        bridge.note_reading(Reading(device_id, point, outcome.after, spec.unit, text=text_label))
    return out


async def _publish(bridge: MqttBridge, client: Any, topic: str, result: dict[str, Any],
                   response_topic: str | None, corr: bytes | None) -> None:  # fmt: skip
    """Publish a result on ``…/result`` and, when asked, on the MQTT 5 response topic."""
    from smartbuild.mqtt.bridge import _dump

    payload = _dump(result)
    await client.publish(topic[: -len("/set")] + "/result", payload, qos=1)
    if response_topic:
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        props = Properties(PacketTypes.PUBLISH)
        if corr is not None:
            props.CorrelationData = corr
        await client.publish(response_topic, payload, qos=1, properties=props)
