"""Commands from MQTT: what a ``…/set`` payload asks for, who may ask how often, and what came of it.

Parsing is pure: a payload becomes the engineering value the write path expects (a number, a
switch state or an enum code) or a clear refusal; nothing here writes.
"""

from __future__ import annotations

import json
import math
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from smartbuild.config.schema import PointSpec

_ON = {"on", "true", "1", "yes"}
_OFF = {"off", "false", "0", "no"}
MAX_PAYLOAD = 4096


class CommandRefused(Exception):
    """A command that is not sent: ``cause`` is one word (payload, rate, retained, …)."""

    def __init__(self, cause: str, message: str) -> None:
        super().__init__(message)
        self.cause = cause
        self.message = message


@dataclass(frozen=True)
class Command:
    """A parsed command: the value to write, its id (for at-most-once) and who sent it."""

    value: Any
    id: str | None = None
    who: str | None = None


def parse_payload(payload: bytes, point: PointSpec) -> Command:
    """Return the command a payload carries for a point, or raise CommandRefused saying why."""
    if len(payload) > MAX_PAYLOAD:
        raise CommandRefused("payload", f"payload of {len(payload)} bytes is too long")
    try:
        text = payload.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise CommandRefused("payload", "payload is not UTF-8 text") from None
    if not text:
        raise CommandRefused("payload", "empty payload: send a value such as 22, on or a label")
    raw: Any = text
    command_id = who = None
    if text[0] in '{["' or text in ("true", "false", "null"):
        try:
            raw = json.loads(text)
        except ValueError as error:
            raise CommandRefused("payload", f"invalid JSON: {error}") from None
        if isinstance(raw, dict):
            unknown = sorted(set(raw) - {"value", "id", "by"})
            if unknown or "value" not in raw:
                raise CommandRefused(
                    "payload",
                    'a JSON command is {"value": …} with optional "id" and "by"'
                    + (f"; unknown keys: {', '.join(unknown)}" if unknown else ""),
                )
            command_id = None if raw.get("id") is None else str(raw["id"])[:100]
            who = None if raw.get("by") is None else str(raw["by"])[:100]
            raw = raw["value"]
    return Command(coerce(raw, point), command_id, who)


def coerce(raw: Any, point: PointSpec) -> Any:
    """Return raw (text, number or bool) as the value kind the point holds."""
    kind = point.value_kind()
    text = raw.strip() if isinstance(raw, str) else None
    if point.enum:
        if isinstance(raw, (int, float)) and not isinstance(raw, bool):
            return _number(raw)
        for code, label in point.enum.items():
            if text is not None and text.lower() == str(label).lower():
                return code
        if text is not None and _is_number(text):
            return _number(float(text))
        labels = ", ".join(str(v) for v in point.enum.values())
        raise CommandRefused("payload", f"{raw!r} is not one of: {labels}")
    if kind == "bool":
        if isinstance(raw, bool):
            return raw
        word = text.lower() if text is not None else str(raw).lower()
        if word in _ON:
            return True
        if word in _OFF:
            return False
        raise CommandRefused("payload", f"{raw!r} is not on or off")
    if kind == "text":
        if text is None:
            raise CommandRefused("payload", f"{raw!r} is not text")
        return text
    if isinstance(raw, bool) or raw is None:
        raise CommandRefused("payload", f"{json.dumps(raw)} is not a number")
    if isinstance(raw, (int, float)):
        value = float(raw)
    elif text is not None and _is_number(text):
        value = float(text)
    elif text is not None and "," in text and _is_number(text.replace(",", ".")):
        raise CommandRefused("payload", f"{text!r}: use a decimal point, not a comma")
    else:
        raise CommandRefused("payload", f"{raw!r} is not a number")
    if not math.isfinite(value):
        raise CommandRefused("payload", f"{raw!r} is not a finite number")
    return _number(value)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return text.lower() not in ("nan", "inf", "-inf", "+inf", "infinity", "-infinity")


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else float(value)


class RateLimit:
    """At most one command per key every ``interval_s`` seconds (a refused one does not count)."""

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self._last: dict[Any, float] = {}

    def check(self, key: Any, now: float) -> None:
        """Raise CommandRefused when key had a command less than interval_s ago; else note it."""
        last = self._last.get(key)
        if last is not None and now - last < self.interval_s:
            wait = self.interval_s - (now - last)
            raise CommandRefused("rate", f"rate limit: one command per {self.interval_s:g} s "
                                         f"for this point; try again in {wait:.1f} s")  # fmt: skip
        self._last[key] = now


class SeenIds:
    """The command ids seen lately (bounded), so a redelivered command is answered, not re-applied."""

    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self._ids: OrderedDict[str, dict[str, Any] | None] = OrderedDict()

    def get(self, command_id: str) -> tuple[bool, dict[str, Any] | None]:
        """Return whether an id was seen, and its result when known (None: still running)."""
        return command_id in self._ids, self._ids.get(command_id)

    def claim(self, command_id: str) -> tuple[bool, dict[str, Any] | None]:
        """Return (True, None) for a new id (now taken), else (False, its result if known)."""
        if command_id in self._ids:
            return False, self._ids[command_id]
        self._ids[command_id] = None
        while len(self._ids) > self.size:
            self._ids.popitem(last=False)
        return True, None

    def done(self, command_id: str, result: dict[str, Any]) -> None:
        """Remember the result a command id produced."""
        self._ids[command_id] = result
