"""A transport family that exists only in this test plugin: "kv", a line protocol over TCP.

It proves the transport contract is open: smartbuild's core knows nothing of it, yet a template
for it validates, and discover, read, write (bounds, journal, verify) and rollback work through
the public hooks alone. The peer is a real TCP server (``KvDevice``) on the loopback.

Protocol (one request per line, one answer per line):
``ID`` -> ``OK vendor=ACME model=KV-1``; ``GET key`` -> ``OK value``;
``SET key value`` -> ``OK`` or ``ERR reason``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field

from smartbuild.config.schema import Closed, PointSpec, Template, ValueKind
from smartbuild.errors import DeviceError, DeviceRejected
from smartbuild.hookspecs import hookimpl
from smartbuild.transports.base import (
    Candidate,
    Device,
    DiscoverContext,
    DiscoverOptions,
    OptionSpec,
    Reading,
    Transport,
    TransportFamily,
    option,
)

# ---- the template format -------------------------------------------------------------------


class KvRules(Closed):
    """Identify a kv device by what it answers to ID."""

    model: str


class KvIdentify(Closed):
    """The identify block of a kv template."""

    kv: KvRules | None = None


class KvPoint(PointSpec):
    """A value under a key; integers hold whole steps of `scale`."""

    key: str
    type: Literal["int", "float"] = "float"

    def value_kind(self) -> ValueKind:
        """Return integer for int keys."""
        return "integer" if self.type == "int" else "number"

    def step(self) -> float | None:
        """Return one step for int keys."""
        return abs(self.scale) if self.type == "int" else None


class KvTemplate(Template):
    """A kv device template."""

    transport: Literal["kv"]
    identify: KvIdentify | None = None
    points: dict[str, KvPoint] = Field(default_factory=dict)  # type: ignore[assignment]

    @classmethod
    def check_points(cls, points: dict[str, Any], fields: dict[str, Any]) -> list[str]:
        """Return points that share a key."""
        keys = [p.key for p in points.values()]
        return [f"key {k!r} is used twice" for k in sorted({k for k in keys if keys.count(k) > 1})]


class KvFamily(TransportFamily):
    """Devices that speak the kv line protocol."""

    name = "kv"
    template_schema = KvTemplate
    identity_fields = ("vendor", "model")

    @classmethod
    def match(cls, template: Any, candidate: Candidate) -> list[str] | None:
        """Match the model the device names."""
        rules = cls.rules(template)
        if rules is None or candidate.identity.get("model") != rules.model:
            return None
        return [f"kv model = {rules.model}"]


KvTemplate.family = KvFamily


@dataclass(frozen=True)
class KvOptions(DiscoverOptions):
    """Ask each HOST:PORT who it is."""

    ACTIVATE: ClassVar[str] = "targets"

    targets: list[str] = option(spec=OptionSpec(
        ("--kv",), "kv device HOST:PORT to identify (repeatable).", multiple=True,
        metavar="HOST:PORT"), parse=list)  # fmt: skip


# ---- the transport -------------------------------------------------------------------------


async def ask(address: str, line: str, timeout: float = 2.0) -> str:
    """Send one request line and return the answer line."""
    host, port = address.rsplit(":", 1)
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)), timeout)
    try:
        writer.write(line.encode() + b"\n")
        await writer.drain()
        return (await asyncio.wait_for(reader.readline(), timeout)).decode().strip()
    finally:
        writer.close()


class KvTransport(Transport):
    """The kv transport: address HOST:PORT."""

    name = "kv"
    family = KvFamily
    discover_options = KvOptions

    async def read(self, device: Device, points: Sequence[str]) -> list[Reading]:
        """GET each point's key."""
        out = []
        for name in points:
            spec = device.template.points[name]
            try:
                answer = await ask(device.spec.address, f"GET {spec.key}")
            except OSError as error:
                out.append(Reading(device.id, name, error=f"unreachable: {error}"))
                continue
            if not answer.startswith("OK "):
                out.append(Reading(device.id, name, error=answer))
                continue
            raw = float(answer[3:])
            value = raw * spec.scale + spec.offset
            out.append(Reading(device.id, name, round(value, 10), spec.unit, raw=raw))
        return out

    async def write(self, device: Device, point: str, value: Any) -> None:
        """SET the point's key; ERR is a rejection, a lost answer is unknown."""
        spec = device.template.points[point]
        raw = (float(value) - spec.offset) / spec.scale
        text = str(round(raw)) if spec.type == "int" else repr(raw)
        try:
            answer = await ask(device.spec.address, f"SET {spec.key} {text}")
        except (OSError, asyncio.TimeoutError) as error:
            raise DeviceError(device.id, f"no answer to SET {spec.key}: {error}") from None
        if answer != "OK":
            raise DeviceRejected(device.id, f"SET {spec.key}: {answer}")

    async def discover(
        self, options: DiscoverOptions, context: DiscoverContext, found: Callable[[Candidate], None]
    ) -> None:
        """Ask each target for its identity."""
        assert isinstance(options, KvOptions)
        for address in options.targets:
            try:
                answer = await ask(address, "ID")
            except OSError:
                continue
            identity = dict(part.split("=", 1) for part in answer[3:].split())
            found(Candidate("kv", address, identity=identity))


@hookimpl
def register_transports(register: Any) -> None:
    """Register the kv transport."""
    register("kv", KvTransport)


@hookimpl
def register_device_templates(register: Any) -> None:
    """Register the kv templates beside this module."""
    register(Path(__file__).parent / "kv_templates")


# ---- the peer ------------------------------------------------------------------------------


class KvDevice:
    """A kv device on the loopback: keys with values, optional limits it enforces itself."""

    def __init__(self, values: dict[str, float], model: str = "KV-1", vendor: str = "ACME") -> None:
        self.values = dict(values)
        self.model = model
        self.vendor = vendor
        self.sets: list[tuple[str, str]] = []
        self.refuse: set[str] = set()
        self.slow: dict[str, float] = {}  # key -> seconds a SET takes before its answer
        self.server: asyncio.Server | None = None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Answer one request line."""
        words = (await reader.readline()).decode().split()
        if words == ["ID"]:
            answer = f"OK vendor={self.vendor} model={self.model}"
        elif len(words) == 2 and words[0] == "GET" and words[1] in self.values:
            answer = f"OK {self.values[words[1]]}"
        elif len(words) == 3 and words[0] == "SET" and words[1] in self.values:
            self.sets.append((words[1], words[2]))
            await asyncio.sleep(self.slow.get(words[1], 0.0))
            if words[1] in self.refuse:
                answer = "ERR read-only now"
            else:
                self.values[words[1]] = float(words[2])
                answer = "OK"
        else:
            answer = "ERR bad request"
        writer.write(answer.encode() + b"\n")
        await writer.drain()
        writer.close()

    async def start(self, host: str = "127.0.0.1") -> str:
        """Listen on a free port; return HOST:PORT."""
        self.server = await asyncio.start_server(self.handle, host, 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"{host}:{port}"

    async def stop(self) -> None:
        """Close the server."""
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
