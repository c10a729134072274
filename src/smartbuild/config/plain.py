"""A site's device entries as plain data: what the config cache keeps for reading devices.

`read DEVICE` on a warm config cache reads through these copies of the validated ``DeviceSpec``
(frozen dataclasses of builtins and ``Secret``; no pydantic) and a family's plain template copy
(``TransportFamily.plain_template``). They have every field of the schema with the same meaning;
tests check the field lists against the schema.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from smartbuild.config.secret import Secret

if TYPE_CHECKING:
    from smartbuild.config.schema import DeviceSpec


@dataclass(frozen=True, slots=True)
class PlainSerial:
    """A validated SerialSpec as plain data."""

    baudrate: int
    parity: str
    stopbits: int
    bytesize: int


@dataclass(frozen=True, slots=True)
class PlainDevice:
    """A validated DeviceSpec as plain data (the address stays a Secret when it is one)."""

    template: str
    transport: str
    address: str | Secret
    unit: int | None
    zone: str | None
    serves: list[str]
    title: str | None
    enabled: bool
    timeout: float | None
    retries: int | None
    pause_ms: float | None
    connect_delay_ms: float | None
    max_gap: int | None
    serial: PlainSerial | None
    adapter: str | None
    identity: dict[str, Any]


def _values(cls: Any, model: Any) -> dict[str, Any]:
    return {f.name: getattr(model, f.name) for f in dataclasses.fields(cls)}


def plain_device(spec: DeviceSpec) -> PlainDevice:
    """Return a plain copy of a validated device entry."""
    values = _values(PlainDevice, spec)
    if spec.serial is not None:
        values["serial"] = PlainSerial(**_values(PlainSerial, spec.serial))
    values["identity"] = dict(spec.identity)
    values["serves"] = list(spec.serves)
    return PlainDevice(**values)
