"""The only writer: bounds, confirm, write, read back, journal — and rollback.

Order of events for one write, each committed to the journal before the next step:
``intent`` (before, requested) → the write → ``written`` (after, verified) or ``failed``.
A process killed between ``intent`` and ``written`` leaves an intent without a result: the journal
then says "may have been written", and rollback reads the device to find out.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from smartbuild.errors import SafetyRefusal
from smartbuild.model import Event, new_run_id, run_started
from smartbuild.transports.base import Device

if TYPE_CHECKING:
    from smartbuild.cli import App
    from smartbuild.config.schema import PointSpec
    from smartbuild.devices import Connections

RESULT_KINDS = ("written", "unverified", "failed", "skipped", "conflict")


@dataclass(frozen=True)
class WriteRequest:
    """One value to write, and why."""

    device: Device
    point: str
    target: Any
    reason: str | None = None
    expect_before: Any = None  # rollback: the value the device must still hold
    check_expect: bool = False


@dataclass(frozen=True)
class WriteOutcome:
    """What happened to one WriteRequest."""

    device: str
    point: str
    status: str  # written, unverified, unchanged, failed, conflict
    before: Any = None
    requested: Any = None
    after: Any = None
    message: str | None = None

    def to_json(self) -> dict[str, Any]:
        """Return JSON-ready data."""
        return {
            "device": self.device,
            "point": self.point,
            "status": self.status,
            "before": self.before,
            "requested": self.requested,
            "after": self.after,
            "message": self.message,
        }


def tolerance(point: PointSpec) -> float:
    """Return how far two values may differ and still be the same on the device (half a step)."""
    return abs(point.scale) / 2 + 1e-9


def same_value(point: PointSpec, a: Any, b: Any) -> bool:
    """Return True when a and b encode to the same device value."""
    if a is None or b is None:
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return math.isclose(float(a), float(b), abs_tol=tolerance(point))
    return bool(a == b)


def bounds_problems(device: Device, point_name: str, value: Any) -> list[str]:
    """Return the reasons a value must not be written to a point (read-only, out of range)."""
    point = device.point(point_name)
    problems = []
    if not point.writable:
        problems.append(
            f"{device.id}.{point_name} is read-only in template {device.template.template!r}"
        )
    if isinstance(value, float) and not math.isfinite(value):
        # NaN compares False with every bound and an unbounded point takes inf, and float registers
        # store both: refuse them outright
        problems.append(f"{value} is not a finite number: {device.id}.{point_name} cannot take it")
        return problems
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if point.min is not None and value < point.min:
            problems.append(
                f"{value:g} is below the minimum {point.min:g} of {device.id}.{point_name}"
            )
        if point.max is not None and value > point.max:
            problems.append(
                f"{value:g} is above the maximum {point.max:g} of {device.id}.{point_name}"
            )
        if point.enum is not None and (value != int(value) or int(value) not in point.enum):
            allowed = ", ".join(f"{k}={v}" for k, v in point.enum.items())
            problems.append(f"{value:g} is not one of {allowed}")
        elif _integral(point):
            step = abs(point.scale)
            raw = (value - point.offset) / point.scale
            if abs(raw - round(raw)) > 1e-6:
                problems.append(
                    f"{value:g} is not a multiple of the step {step:g} of {device.id}.{point_name}"
                )
    return problems


_INTEGER_TYPES = frozenset({"int16", "uint16", "int32", "uint32", "int64", "uint64"})
_INTEGER_BLE = frozenset({"uint8", "int8", "uint16le", "int16le", "uint32le", "int32le"})


def _integral(point: PointSpec) -> bool:
    """Return True when the device stores the point as an integer (so steps of `scale`)."""
    if point.sf is not None:  # SunSpec scale factors are read at write time
        return False
    if point.ble_format is not None:
        return point.ble_format in _INTEGER_BLE
    return (
        point.table in ("holding", "input") and point.type in _INTEGER_TYPES and point.bit is None
    )


def confirm(app: App, question: str, yes: bool) -> None:
    """Ask before writing on a terminal; without one, refuse unless --yes was given (exit 5)."""
    if yes:
        return
    if not app.output.interactive:
        raise SafetyRefusal(
            "refusing to write without confirmation: there is no terminal to ask on",
            hint="review the plan, then pass --yes to write",
        )
    import click

    try:
        confirmed = click.confirm(question, default=False, err=True)
    except click.Abort:  # Ctrl-C or end of input at the prompt
        raise KeyboardInterrupt from None
    if not confirmed:
        raise SafetyRefusal("nothing written: not confirmed")


class Run:
    """A journaled run: opened on entry, closed with a status on exit (also on Ctrl-C)."""

    def __init__(self, app: App, command: str, **details: Any) -> None:
        self.app = app
        self.id = new_run_id()
        self.command = command
        self.details = details
        self.status = "ok"

    def __enter__(self) -> Run:
        self.app.emit(run_started(self.id, self.command, **self.details))
        return self

    def __exit__(self, kind: type[BaseException] | None, *exc: object) -> None:
        if kind is not None:
            self.status = "interrupted" if issubclass(kind, KeyboardInterrupt) else "error"
        self.app.emit(Event("run-finished", self.id, data={"status": self.status}))

    def emit(
        self, kind: str, device: str | None = None, point: str | None = None, **fields: Any
    ) -> None:
        """Journal one entry of this run (committed before returning)."""
        self.app.emit(Event(kind, self.id, device, point, **fields))


async def apply_writes(
    run: Run,
    conns: Connections,
    requests: Sequence[WriteRequest],
    *,
    pace_s: float = 0.0,
) -> list[WriteOutcome]:
    """Write each request with read-before, journal, read-back; devices in parallel, one at a time each."""
    by_device: dict[str, list[WriteRequest]] = {}
    for request in requests:
        by_device.setdefault(request.device.id, []).append(request)

    async def device_writes(items: list[WriteRequest]) -> list[WriteOutcome]:
        outcomes = []
        for index, request in enumerate(items):
            if index and pace_s:
                await asyncio.sleep(pace_s)  # many devices dislike back-to-back writes
            outcomes.append(await _write_one(run, conns, request))
        return outcomes

    groups = await asyncio.gather(*(device_writes(items) for items in by_device.values()))
    order = {(r.device.id, r.point): i for i, r in enumerate(requests)}
    flat = [o for group in groups for o in group]
    return sorted(flat, key=lambda o: order.get((o.device, o.point), 0))


async def _read_value(conns: Connections, device: Device, point: str) -> Any:
    from smartbuild.errors import DeviceError

    reading = (await conns.read(device, [point]))[0]
    if not reading.ok:
        raise DeviceError(device.id, f"cannot read {point}: {reading.error}")
    return reading.value


async def _write_one(run: Run, conns: Connections, request: WriteRequest) -> WriteOutcome:
    from smartbuild.errors import SmartbuildError

    device, name = request.device, request.point
    point = device.point(name)
    plugin, version = conns.provenance(device.transport)
    tag = {"plugin": plugin, "plugin_version": version}
    try:
        before = await _read_value(conns, device, name)
    except SmartbuildError as error:
        run.emit("failed", device.id, name, requested=request.target, message=error.message, **tag)
        return WriteOutcome(
            device.id, name, "failed", requested=request.target, message=error.message
        )
    if same_value(point, before, request.target):
        # no write at all: many devices keep holding registers in EEPROM with limited write cycles
        run.emit("skipped", device.id, name, before=before, requested=request.target,
                 after=before, message="already at the requested value", **tag)  # fmt: skip
        return WriteOutcome(device.id, name, "unchanged", before, request.target, before)
    problems = bounds_problems(device, name, request.target)
    if problems:  # the planner blocks these already; this is the last line of defence
        refusal = "; ".join(problems)
        run.emit(
            "blocked",
            device.id,
            name,
            before=before,
            requested=request.target,
            message=refusal,
            **tag,
        )
        return WriteOutcome(device.id, name, "blocked", before, request.target, before, refusal)
    if request.check_expect and not same_value(point, before, request.expect_before):
        message: str | None = (
            f"holds {before!r}, not the {request.expect_before!r} that was written: "
            "someone changed it since; left as it is"
        )
        run.emit(
            "conflict",
            device.id,
            name,
            before=before,
            requested=request.target,
            message=message,
            **tag,
        )
        return WriteOutcome(device.id, name, "conflict", before, request.target, before, message)
    run.emit("intent", device.id, name, before=before, requested=request.target,
             message=request.reason, **tag)  # fmt: skip
    try:
        await conns.write(device, name, request.target)
    except SmartbuildError as error:
        run.emit("failed", device.id, name, before=before, requested=request.target,
                 message=error.message, **tag)  # fmt: skip
        return WriteOutcome(
            device.id, name, "failed", before, request.target, message=error.message
        )
    try:
        after = await _read_value(conns, device, name)
    except SmartbuildError as error:
        failure = f"written, but the read-back failed: {error.message}"
        run.emit("unverified", device.id, name, before=before, requested=request.target,
                 verified=False, message=failure, **tag)  # fmt: skip
        return WriteOutcome(device.id, name, "unverified", before, request.target, message=failure)
    verified = same_value(point, after, request.target)
    message = None if verified else f"read back {after!r} after writing {request.target!r}"
    run.emit("written" if verified else "unverified", device.id, name, before=before,
             requested=request.target, after=after, verified=verified, message=message, **tag)  # fmt: skip
    return WriteOutcome(device.id, name, "written" if verified else "unverified", before,
                        request.target, after, message)  # fmt: skip
