"""The open transport contract: what a transport family declares and what each transport does.

A **family** owns a template format (``transport: modbus`` in a template) and identification:
its template schema (point, identify-rule and defaults schemas), its matcher and how people see a
candidate's identity. A **transport** of the family reaches devices (``modbus-tcp`` and
``modbus-rtu`` both serve Modbus templates): read, write, optionally discover (with typed options
that declare their own command-line flags) and follow (values pushed by the device).

A transport is created once per session, shared by all devices it serves (so Modbus TCP devices
behind one gateway share one connection), and closed at the end. All methods are async.
docs/plugins.md walks through a complete family.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from smartbuild.model.device import Candidate, Device, DeviceStats, Reading

if TYPE_CHECKING:
    import asyncio

    from smartbuild.config.schema import DeviceSpec, Template
    from smartbuild.model.checks import Check


class TransportFamily:
    """A template format and the way devices of it are identified."""

    name: ClassVar[str] = ""  # the template's `transport:` value, e.g. "modbus"
    template_schema: ClassVar[type[Template]]  # a Template subclass: its point/identify schemas
    identity_fields: ClassVar[tuple[str, ...]] = ()  # candidate identity keys shown to people

    @classmethod
    def plain_template(cls, template: Template) -> Any:
        """Return a copy of a validated template as plain data (no pydantic), or None.

        The config cache stores it, and `read DEVICE` on a warm cache reads through it without
        importing the schemas: it needs every attribute and method the family's transports use
        to read (the Modbus family's is in transports/modbus/plain.py). None (the default): the
        family's devices are read through the validated templates.
        """
        return None

    @classmethod
    def rules(cls, template: Template) -> Any:
        """Return the template's identify rules of this family (``identify.<name>``), or None."""
        return getattr(template.identify, cls.name, None) if template.identify else None

    @classmethod
    def match(cls, template: Template, candidate: Candidate) -> list[str] | None:
        """Return the rules of the template that matched the candidate (all must), or None."""
        return None

    @classmethod
    def describe_point(cls, template: Template, point: Any) -> tuple[str, str]:
        """Return where a point lives and how it is encoded, for `templates show`."""
        return "", point.value_kind()

    @classmethod
    def describe(cls, candidate: Candidate) -> str:
        """Return a one-line identity of a candidate for tables."""
        parts = [candidate.identity.get(k) for k in cls.identity_fields]
        return " ".join(str(p) for p in parts if p)

    @classmethod
    async def doctor(cls, context: DoctorContext) -> list[Check]:
        """Return checks of what the family needs from this host (buses, ports, permissions)."""
        return []


class LazySchema:
    """A family's ``template_schema`` imported on first use (``LazySchema(module, class name)``).

    A transport module then need not import its pydantic schema to read a device.
    """

    def __init__(self, module: str, name: str) -> None:
        self.module, self.name = module, name

    def __get__(self, instance: object, owner: type | None = None) -> type[Template]:
        import importlib

        schema: type[Template] = getattr(importlib.import_module(self.module), self.name)
        return schema


@dataclass(frozen=True)
class OptionSpec:
    """A command-line flag of a discover option (faces turn it into their own option type)."""

    flags: tuple[str, ...]  # e.g. ("--modbus",)
    help: str
    type: Any = str  # str, int, float or a tuple of choices
    multiple: bool = False
    is_flag: bool = False
    metavar: str | None = None
    range: tuple[float | None, float | None] | None = None  # inclusive bounds for numbers
    show_default: bool = False


def option(
    default: Any = None, *, spec: OptionSpec, parse: Callable[[Any], Any] | None = None
) -> Any:
    """Declare a discover option field with its flag (and a parser from the flag's raw value)."""
    factory: dict[str, Any] = (
        {"default_factory": list} if default is None and spec.multiple else {"default": default}
    )
    return field(metadata={"spec": spec, "parse": parse}, **factory)


@dataclass(frozen=True)
class DiscoverOptions:
    """Base of a transport's typed discover options (a frozen dataclass of `option()` fields).

    ``ACTIVATE`` names the field whose flag asks for this transport; a transport with
    ``BY_DEFAULT`` runs when no transport is asked for by name.
    """

    ACTIVATE: ClassVar[str] = ""
    BY_DEFAULT: ClassVar[bool] = False

    @classmethod
    def specs(cls) -> list[tuple[str, OptionSpec, Any]]:
        """Return (field name, flag spec, default) of every option."""
        out = []
        for f in dataclasses.fields(cls):
            spec = f.metadata.get("spec")
            if spec is not None:
                default = [] if f.default is dataclasses.MISSING else f.default
                out.append((f.name, spec, default))
        return out

    @classmethod
    def from_flags(cls, values: Mapping[str, Any]) -> DiscoverOptions:
        """Build the options from raw flag values keyed by field name (parsers applied)."""
        kwargs = {}
        for f in dataclasses.fields(cls):
            if f.name not in values:
                continue
            raw = values[f.name]
            parse = f.metadata.get("parse")
            # a parser reads what a person typed; values built in code pass as they are
            kwargs[f.name] = parse(raw) if parse is not None and isinstance(raw, str) else raw
        return cls(**kwargs)

    def check(self) -> None:
        """Raise a SmartbuildError when these options must not run (before anything is sent)."""

    def active(self) -> bool:
        """Return True when this transport was asked for."""
        value = getattr(self, self.ACTIVATE, None) if self.ACTIVATE else None
        return bool(value)


@dataclass
class DiscoverContext:
    """What a discovering transport gets besides its options."""

    templates: Mapping[str, Template]  # every template the session knows, by name
    progress: Callable[[str], None] = lambda text: None
    stop: asyncio.Event | None = None  # set by the caller to end an open-ended discovery early
    debug: Callable[[str], None] = lambda text: None  # details for -v (timeouts, sweep figures)


@dataclass(frozen=True)
class DoctorContext:
    """What a family's host checks get: the site devices it serves and a time limit."""

    devices: Sequence[DeviceSpec] = ()  # enabled site devices on this family's transports
    timeout: float = 2.0  # seconds for any one question to the host (a bus call, a connect)

    @property
    def used(self) -> bool:
        """Return True when the site relies on this family (its problems are failures)."""
        return bool(self.devices)


class Transport:
    """Base class of transports; a plugin registers subclasses with ``register_transports``."""

    name: ClassVar[str] = ""
    family: ClassVar[type[TransportFamily]]
    discover_options: ClassVar[type[DiscoverOptions] | None] = None

    def __init__(self, warn: Callable[[str], None] | None = None) -> None:
        self.warn = warn or (lambda message: None)
        self.stats: dict[str, DeviceStats] = {}

    def stat(self, device_id: str) -> DeviceStats:
        """Return the counters of one device."""
        return self.stats.setdefault(device_id, DeviceStats())

    async def read(self, device: Device, points: Sequence[str]) -> list[Reading]:
        """Read points of a device; failures come back as Readings with an error."""
        raise _unsupported(self.name, "read points")

    async def write(self, device: Device, point: str, value: Any) -> None:
        """Write one point (engineering units).

        Raise ``DeviceRejected`` when the device answered with an exception (known not applied),
        ``DeviceError`` when the request may not have arrived or its answer was lost.
        """
        raise _unsupported(self.name, "write points")

    def read_timeout(self, device: Device) -> float | None:
        """Return how long one read of the device may take before it counts as lost (None: unknown).

        By default the device's ``timeout`` setting; a transport that reads by listening (BLE
        adverts) returns its listen window. Commissioning calls a link slow near this figure.
        """
        timeout = device.setting("timeout")
        return None if timeout is None else float(timeout)

    def write_details(self, device: Device, point: str) -> dict[str, Any]:
        """Return how a point is written, for the journal (a BACnet priority, say); optional."""
        return {}

    def releases(self, device: Device, point: str) -> bool:
        """Return True when undoing a write of this point is a ``release``, not a write back."""
        return False

    async def release(self, device: Device, point: str) -> None:
        """Give up this application's claim on a point the protocol's own way; optional.

        Rollback and override release call it instead of writing the old value back when
        ``releases`` says so (BACnet relinquishes: NULL at the priority it writes at). Raise like
        ``write``.
        """
        raise _unsupported(self.name, "release points")

    async def overridden_by(self, device: Device, point: str) -> str | None:
        """Return who holds a point ahead of this application's writes, or None; optional.

        E.g. ``priority 8``: the write path then reports ``overridden`` instead of success.
        """
        return None

    @classmethod
    def check_device(cls, spec: DeviceSpec) -> list[tuple[tuple[str, ...], str]]:
        """Return problems of a site device entry for this transport: (key path, message)."""
        return []

    async def resolution(self, device: Device, point: str) -> float | None:
        """Return the step of values the device holds for a point (None: continuous).

        The template knows it for plain integer encodings; a transport whose devices scale values
        themselves (SunSpec scale factors) reads what it needs to know the real step.
        """
        return device.point(point).step()

    async def discover(
        self, options: DiscoverOptions, context: DiscoverContext, found: Callable[[Candidate], None]
    ) -> None:
        """Find devices and report each Candidate through found()."""
        raise _unsupported(self.name, "discover devices")

    @classmethod
    def follow_options(
        cls, addresses: Sequence[str], asked: DiscoverOptions | None
    ) -> DiscoverOptions | None:
        """Return options to discover endpoints another transport found (None: not supported).

        A candidate names such endpoints in ``extra["endpoints"]`` as ``{transport: [address]}``
        (an mDNS service announcing a Modbus TCP port, say).
        """
        return None

    async def follow(self, devices: Sequence[Device], emit: Callable[[Reading], None]) -> None:
        """Stream values the devices push (adverts, notifications) until cancelled; optional."""
        return None

    async def aclose(self) -> None:
        """Release connections, sockets and buses."""


def _unsupported(transport: str, what: str) -> Exception:
    from smartbuild.errors import UsageError

    return UsageError(f"the {transport} transport cannot {what}")


__all__ = [
    "Candidate",
    "DeviceStats",
    "DiscoverContext",
    "DiscoverOptions",
    "DoctorContext",
    "OptionSpec",
    "Reading",
    "Transport",
    "TransportFamily",
    "option",
]
