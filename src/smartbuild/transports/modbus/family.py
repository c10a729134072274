"""The Modbus family: template format, identification matcher and typed discover options."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from smartbuild.transports.base import (
    DiscoverOptions,
    LazySchema,
    OptionSpec,
    TransportFamily,
    option,
)

if TYPE_CHECKING:
    from smartbuild.config.schema import Template
    from smartbuild.model.checks import Check
    from smartbuild.model.device import Candidate
    from smartbuild.transports.base import DoctorContext

IDENTITY_FIELDS = (
    "vendor_name",
    "product_code",
    "revision",
    "product_name",
    "model_name",
    "server_id",
)
DEFAULT_UNITS = "0,1,2,100,247,255"


def _search(pattern: str, value: Any) -> bool:
    return value is not None and re.search(pattern, str(value)) is not None


def match_modbus(rules: Any, identity: dict[str, Any], template_name: str) -> list[str] | None:
    """Return the rules that matched (all given must), or None."""
    matched = []
    for field in IDENTITY_FIELDS:
        pattern = getattr(rules, field)
        if pattern is None:
            continue
        if not _search(pattern, identity.get(field)):
            return None
        source = "FC17" if field == "server_id" else "FC43"
        matched.append(f"{source} {field} ~ {pattern}")
    if rules.sunspec:
        models = set((identity.get("sunspec") or {}).get("models", []))
        if not set(rules.sunspec) <= models:
            return None
        matched.append(f"SunSpec models {'+'.join(map(str, rules.sunspec))}")
    if rules.probe is not None:
        value = (identity.get("probes") or {}).get(template_name)
        if not isinstance(value, (int, float)):
            return None
        probe = rules.probe
        if probe.equals is not None and value != probe.equals:
            return None
        if (probe.min is not None and value < probe.min) or (
            probe.max is not None and value > probe.max
        ):
            return None
        matched.append(f"probe {probe.point} = {value:g}")
    return matched or None


class ModbusFamily(TransportFamily):
    """Modbus TCP and RTU devices described by register maps."""

    name = "modbus"
    # imported on first use: reading through a cached site needs no schema (plain.py)
    template_schema = LazySchema("smartbuild.transports.modbus.schema", "ModbusTemplate")
    identity_fields = ("vendor_name", "product_code", "revision")

    @classmethod
    def match(cls, template: Template, candidate: Candidate) -> list[str] | None:
        """Match FC43/FC17 identity, SunSpec models and probe reads against the rules."""
        rules = cls.rules(template)
        if rules is None:
            return None
        return match_modbus(rules, candidate.identity, template.template)

    @classmethod
    def describe_point(cls, template: Template, point: Any) -> tuple[str, str]:
        """Return the table and on-wire PDU address, and the register type."""
        from smartbuild.transports.modbus.schema import ModbusTemplate

        assert isinstance(template, ModbusTemplate)
        return f"{point.table} {template.pdu_address(point)}", point.type

    @classmethod
    def plain_template(cls, template: Template) -> Any:
        """Return a plain copy of a validated template for the config cache (plain.py)."""
        from smartbuild.transports.modbus.plain import plain_template

        return plain_template(template)

    @classmethod
    def describe(cls, candidate: Candidate) -> str:
        """Return vendor, product and revision, or SunSpec manufacturer, model and serial."""
        ident = candidate.identity
        parts = [ident.get(k) for k in cls.identity_fields]
        sunspec = ident.get("sunspec") or {}
        if sunspec:
            parts = [sunspec.get("manufacturer"), sunspec.get("model"), sunspec.get("serial")]
        return " ".join(str(p) for p in parts if p) or str(ident.get("server_id") or "")

    @classmethod
    async def doctor(cls, context: DoctorContext) -> list[Check]:
        """Check the site's serial ports and the dialout group."""
        from smartbuild.transports.modbus.doctor import doctor

        return await doctor(context)


def parse_units(text: str) -> list[int]:
    """Parse "1,2,10-20" or "all" into unit ids."""
    from smartbuild.errors import UsageError

    if text.strip().lower() == "all":
        return list(range(1, 248))
    units: list[int] = []
    for raw in text.split(","):
        part = raw.strip()
        if not part:
            continue
        try:
            if "-" in part:
                lo, hi = (int(x) for x in part.split("-", 1))
                units.extend(range(lo, hi + 1))
            else:
                units.append(int(part))
        except ValueError:
            raise UsageError(
                f"invalid unit list {text!r}", hint="e.g. --units 1,2,10-20 or --units all"
            ) from None
    bad = [u for u in units if not 0 <= u <= 255]
    if bad:
        raise UsageError(f"unit ids must be 0-255, got {bad[0]}")
    return sorted(set(units))


def _bauds(text: str) -> list[int]:
    from smartbuild.errors import UsageError

    try:
        return [int(b) for b in text.split(",") if b.strip()]
    except ValueError:
        raise UsageError(f"invalid baud rates {text!r}", hint="e.g. --baud 9600,19200") from None


_UNITS = OptionSpec(("--units",), "Unit ids to probe: 1,2,10-20 or all.", show_default=True)
_TIMEOUT = OptionSpec(
    ("--timeout",), "Modbus: per-request timeout (s).", type=float,
    range=(0.05, 60),
)  # fmt: skip


_FACTOR = OptionSpec(
    ("--timeout-factor",), "Modbus: after the first answer, timeout = factor x round trip (0: fixed).",
    type=float, range=(0, 100), show_default=True,
)  # fmt: skip
_FLOOR = OptionSpec(
    ("--timeout-floor",), "Modbus: smallest adaptive timeout (s; default: from the baud rate, TCP 100 ms).",
    type=float, range=(0.001, 60),
)  # fmt: skip


@dataclass(frozen=True)
class ModbusTcpOptions(DiscoverOptions):
    """A bounded sweep of hosts, then of unit ids on each host that listens."""

    ACTIVATE: ClassVar[str] = "targets"

    targets: list[str] = option(spec=OptionSpec(
        ("--modbus",), "Hosts, host:port, ranges (10.0.0.5-40) or CIDR blocks (repeatable).",
        multiple=True, metavar="TARGETS"), parse=list)  # fmt: skip
    units: list[int] = option(DEFAULT_UNITS, spec=_UNITS, parse=parse_units)
    port: int = option(502, spec=OptionSpec(
        ("--port",), "Default Modbus TCP port.", type=int, range=(1, 65535), show_default=True))  # fmt: skip
    timeout: float | None = option(None, spec=_TIMEOUT)
    concurrency: int = option(64, spec=OptionSpec(
        ("--concurrency",), "Modbus hosts probed at once.", type=int, range=(1, 1024),
        show_default=True))  # fmt: skip
    sweep_concurrency: int = option(256, spec=OptionSpec(
        ("--sweep-concurrency",), "Modbus TCP connects in flight (within the open-file limit).",
        type=int, range=(1, 65536), show_default=True))  # fmt: skip
    connect_timeout: float | None = option(None, spec=OptionSpec(
        ("--connect-timeout",), "Modbus TCP connect timeout (s; default: --timeout, at least 0.2).",
        type=float, range=(0.01, 60)))  # fmt: skip
    timeout_factor: float = option(3.0, spec=_FACTOR)
    timeout_floor: float | None = option(None, spec=_FLOOR)
    yes: bool = option(False, spec=OptionSpec(
        ("--yes", "-y"), "Allow sweeping more than a /16 of addresses.", is_flag=True))  # fmt: skip

    def __post_init__(self) -> None:
        if isinstance(self.units, str):  # built in code with the flag's text
            object.__setattr__(self, "units", parse_units(self.units))

    def check(self) -> None:
        """Refuse invalid or unresolvable targets (exit 2, with the reason) and a sweep larger
        than a /16 without --yes (exit 5), before anything is sent."""
        from smartbuild.errors import SafetyRefusal
        from smartbuild.transports.modbus.discovery import MAX_ADDRESSES
        from smartbuild.transports.modbus.targets import check_targets

        total = check_targets(list(self.targets), self.port)  # bad address, unresolvable name
        if total > MAX_ADDRESSES and not self.yes:
            raise SafetyRefusal(
                f"refusing to sweep {total} addresses (more than a /16) without --yes",
                hint="narrow the targets, or pass --yes if you really mean it",
            )


@dataclass(frozen=True)
class ModbusRtuOptions(DiscoverOptions):
    """Unit ids on serial buses, at each baud rate."""

    ACTIVATE: ClassVar[str] = "ports"

    ports: list[str] = option(spec=OptionSpec(
        ("--rtu",), "Serial port of a Modbus RTU bus (repeatable).", multiple=True,
        metavar="PORT"), parse=list)  # fmt: skip
    units: list[int] = option(DEFAULT_UNITS, spec=_UNITS, parse=parse_units)
    bauds: list[int] = option("9600,19200", spec=OptionSpec(
        ("--baud",), "RTU baud rates to try.", show_default=True), parse=_bauds)  # fmt: skip
    parity: str = option("E", spec=OptionSpec(
        ("--parity",), "RTU parity.", type=("N", "E", "O"), show_default=True))  # fmt: skip
    timeout: float | None = option(None, spec=_TIMEOUT)
    timeout_factor: float = option(3.0, spec=_FACTOR)
    timeout_floor: float | None = option(None, spec=_FLOOR)

    def __post_init__(self) -> None:
        if isinstance(self.units, str):
            object.__setattr__(self, "units", parse_units(self.units))
        if isinstance(self.bauds, str):
            object.__setattr__(self, "bauds", _bauds(self.bauds))


def follow_tcp(addresses: Sequence[str], asked: DiscoverOptions | None) -> ModbusTcpOptions:
    """Return options that identify Modbus TCP endpoints announced elsewhere (mDNS)."""
    base = asked if isinstance(asked, ModbusTcpOptions) else ModbusTcpOptions()
    units = base.units if asked is not None else [0, 1, 255]
    return ModbusTcpOptions(
        targets=sorted(set(addresses)),
        units=units,
        port=base.port,
        timeout=base.timeout,
        concurrency=base.concurrency,
        sweep_concurrency=base.sweep_concurrency,
        connect_timeout=base.connect_timeout,
        timeout_factor=base.timeout_factor,
        timeout_floor=base.timeout_floor,
        yes=base.yes,
    )
