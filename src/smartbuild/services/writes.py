"""The one write path every face uses: lease, read before, exact bounds, journal, write, verify.

For one device, each write in turn:

1. read the current value (nothing is sent to a device whose value cannot be read);
2. quantize the request to what the device can hold at its resolution (after scale, offset and
   any device scale factor) and check bounds on that exact value — never a rounded one;
3. skip it when the device holds it already (at its resolution): ``unchanged``;
4. rollback and release only: leave it when someone changed it since: ``conflict``;
5. journal the intent (committed: a failed commit stops the run before anything is sent);
6. write — ``rejected`` on a device exception, ``unknown`` when no answer came;
7. read back at once — ``overridden`` when the transport names a higher-priority writer that
   governs the point, ``reverted`` when the device holds something else.

Rollback and release of a point the transport ``releases`` (BACnet: relinquish at our priority)
skip steps 2-4 and 6: they journal the intent, release, and read back what the device holds now.

Then, once per device, wait its settle time and read every written point again: a device that
changed a value back gives ``reverted``. Each outcome is journaled when it is known. The device's
write lease is held from the first read to the last journal entry.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from smartbuild.errors import DeviceRejected, NotSent, SmartbuildError
from smartbuild.model.writes import WriteOutcome, WriteRequest, WriteStatus

if TYPE_CHECKING:
    from smartbuild.config.schema import PointSpec
    from smartbuild.model.device import Device
    from smartbuild.services.connections import Connections
    from smartbuild.services.runs import Run

FLOAT_REL_TOL = 1e-6  # a float32 register keeps 6-7 significant digits
DEFAULT_SETTLE_S = 0.5


@dataclass(frozen=True)
class Quantized:
    """A requested value as the device will hold it, with the step that decided it."""

    value: Any
    step: float | None
    problems: list[str] = field(default_factory=list)


def same_value(point: PointSpec, a: Any, b: Any, step: float | None = None) -> bool:
    """Return True when a and b are the same value on the device (at its resolution)."""
    if a is None or b is None:
        return a is b
    if isinstance(a, bool) or isinstance(b, bool):
        return bool(a) == bool(b)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        tolerance = getattr(point, "tolerance", None)
        if tolerance is not None:
            return abs(float(a) - float(b)) <= tolerance + 1e-12
        if step:
            return abs(float(a) - float(b)) < step / 2
        return math.isclose(float(a), float(b), rel_tol=FLOAT_REL_TOL, abs_tol=1e-12)
    return bool(a == b)


def _fmt(value: float) -> str:
    return f"{value:.7g}"


def quantize(device: Device, point_name: str, value: Any, step: float | None) -> Quantized:
    """Return the value the device will hold for a request, or the reasons it must not be sent.

    Bounds and steps are checked on the exact engineering value the encoded register or
    characteristic will hold; a request between two steps is refused with the nearest values
    that are both representable and within bounds.
    """
    point = device.point(point_name)
    where = f"{device.id}.{point_name}"
    problems: list[str] = []
    if not point.writable:
        problems.append(f"{where} is read-only in template {device.template.template!r}")
    if isinstance(value, float) and not math.isfinite(value):
        # NaN compares False with every bound and float registers store it: refuse outright
        problems.append(f"{value} is not a finite number: {where} cannot take it")
        return Quantized(value, step, problems)
    if isinstance(value, bool):  # a switch: its bounds are 0 (off) and 1 (on)
        if (point.min is not None and int(value) < point.min) or (
            point.max is not None and int(value) > point.max
        ):
            state = "on" if value else "off"
            problems.append(
                f"{where} may not be switched {state} (bounds {point.min}..{point.max})"
            )
        return Quantized(value, step, problems)
    if not isinstance(value, (int, float)):
        return Quantized(value, step, problems)
    if point.enum is not None:
        if value != int(value) or int(value) not in point.enum:
            allowed = ", ".join(f"{k}={v}" for k, v in point.enum.items())
            problems.append(f"{_fmt(value)} is not one of {allowed}")
        return Quantized(value, step, problems)
    exact: float = value
    if step:
        offset = point.offset
        steps = (value - offset) / step
        if not math.isfinite(steps):
            problems.append(f"{_fmt(value)} is far outside what {where} can hold")
            return Quantized(value, step, problems)
        nearest = round(steps)
        if abs(steps - nearest) > 1e-6 * max(1.0, abs(steps)):
            below, above = math.floor(steps), math.ceil(steps)
            options = [o * step + offset for o in (below, above)]
            options = [o for o in options if _in_bounds(point, o)]
            near = " or ".join(_fmt(round(o, 10)) for o in options) or "no value within bounds"
            problems.append(
                f"{_fmt(value)} cannot be held exactly by {where} (steps of {_fmt(step)}); "
                f"nearest: {near}"
            )
            return Quantized(value, step, problems)
        exact = round(nearest * step + offset, 10)
        if isinstance(value, int) and float(exact).is_integer():
            exact = int(exact)
    unencodable = point.unencodable(float(exact))
    if unencodable:
        problems.append(f"{where}: {unencodable}")
    if point.min is not None and exact < point.min:
        problems.append(f"{_fmt(exact)} is below the minimum {_fmt(point.min)} of {where}")
    if point.max is not None and exact > point.max:
        problems.append(f"{_fmt(exact)} is above the maximum {_fmt(point.max)} of {where}")
    return Quantized(exact, step, problems)


def _in_bounds(point: PointSpec, value: float) -> bool:
    return (point.min is None or value >= point.min) and (point.max is None or value <= point.max)


def bounds_problems(device: Device, point_name: str, value: Any) -> list[str]:
    """Return the reasons a value must not be written, at the template's own resolution."""
    return quantize(device, point_name, value, device.point(point_name).step()).problems


def settle_time(device: Device, point: PointSpec) -> float:
    """Return how long to wait before the final read-back (point, device template, default)."""
    own = getattr(point, "settle", None)
    if own is not None:
        return float(own)
    default = getattr(device.template.defaults, "settle", None)
    return DEFAULT_SETTLE_S if default is None else float(default)


@dataclass
class _Pending:
    request: WriteRequest
    before: Any
    target: Any
    step: float | None
    read_back: Any


async def apply_writes(
    run: Run,
    conns: Connections,
    requests: Sequence[WriteRequest],
    *,
    pace_s: float = 0.0,
    lease: Callable[[str], Awaitable[Callable[[], Awaitable[None]]]] | None = None,
) -> list[WriteOutcome]:
    """Write each request; devices in parallel, one write at a time per device; keep order."""
    by_device: dict[str, list[WriteRequest]] = {}
    for request in requests:
        by_device.setdefault(request.device.id, []).append(request)

    # Every device's lease before anything is read or written, in one order (two runs cannot
    # each hold one and wait for the other); a lease held elsewhere stops the run untouched.
    releases: list[Callable[[], Awaitable[None]]] = []
    try:
        if lease is not None:
            for device_id in sorted(by_device):
                releases.append(await lease(device_id))
        # a device that fails must not leave the others running unobserved: the group ends together
        tasks = [asyncio.ensure_future(_device_writes(run, conns, items, pace_s))
                 for items in by_device.values()]  # fmt: skip
        try:
            groups = await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
    finally:
        for release in releases:
            await release()
    order = {(r.device.id, r.point): i for i, r in enumerate(requests)}
    flat = [o for group in groups for o in group]
    return sorted(flat, key=lambda o: order.get((o.device, o.point), 0))


async def _device_writes(
    run: Run, conns: Connections, items: list[WriteRequest], pace_s: float
) -> list[WriteOutcome]:
    outcomes: dict[int, WriteOutcome] = {}
    pending: dict[int, _Pending] = {}
    sent = 0
    for index, request in enumerate(items):
        if sent and pace_s:
            await asyncio.sleep(pace_s)  # many devices dislike back-to-back writes
        result = await _write_one(run, conns, request)
        if isinstance(result, _Pending):
            pending[index] = result
            sent += 1
        else:
            outcomes[index] = result
            sent += int(result.status.sent)
    if pending:
        outcomes.update(await _settle(run, conns, pending))
    return [outcomes[i] for i in range(len(items))]


def _tag(conns: Connections, device: Device, point: str) -> dict[str, Any]:
    plugin, version = conns.provenance(device.transport)
    details = conns.transport(device.transport).write_details(device, point)
    return {"plugin": plugin, "plugin_version": version, "data": details or None}


async def _read_value(conns: Connections, device: Device, point: str) -> Any:
    from smartbuild.errors import DeviceError

    reading = (await conns.read(device, [point]))[0]
    if not reading.ok:
        raise DeviceError(device.id, f"cannot read {point}: {reading.error}")
    return reading.value


def _outcome(
    run: Run, conns: Connections, request: WriteRequest, status: WriteStatus, *,
    before: Any = None, requested: Any = None, after: Any = None, message: str | None = None,
    verified: bool | None = None, cause: str | None = None,
) -> WriteOutcome:  # fmt: skip
    device, name = request.device, request.point
    target = request.target if requested is None else requested
    run.emit(status.value, device.id, name, before=before, requested=target, after=after,
             verified=verified, message=message, **_tag(conns, device, name))  # fmt: skip
    return WriteOutcome(device.id, name, status, before, target, after, message, cause)


async def _write_one(
    run: Run, conns: Connections, request: WriteRequest
) -> WriteOutcome | _Pending:
    device, name = request.device, request.point
    point = device.point(name)
    transport = conns.transport(device.transport)
    try:
        before = await _read_value(conns, device, name)
        step = await transport.resolution(device, name)
    except SmartbuildError as error:
        message = f"not sent: the current value cannot be read: {error.message}"
        return _outcome(run, conns, request, WriteStatus.REFUSED, message=message,
                        cause="unreachable")  # fmt: skip
    if request.undo and transport.releases(device, name):
        return await _release(run, conns, request, before)
    quantized = quantize(device, name, request.target, step)
    if quantized.problems:  # the planner blocks most already; this is the last line of defence
        return _outcome(run, conns, request, WriteStatus.REFUSED, before=before,
                        message="; ".join(quantized.problems), cause="bounds")  # fmt: skip
    target = quantized.value
    if same_value(point, before, target, step):
        # no write at all: many devices keep holding registers in EEPROM with limited write cycles
        return _outcome(run, conns, request, WriteStatus.UNCHANGED, before=before, requested=target,
                        after=before, message="already at the requested value")  # fmt: skip
    if request.check_expect and not same_value(point, before, request.expect_before, step):
        message = (
            f"holds {before!r}, not the {request.expect_before!r} that was written: "
            "someone changed it since; left as it is"
        )
        return _outcome(run, conns, request, WriteStatus.CONFLICT, before=before,
                        requested=target, after=before, message=message, cause="conflict")  # fmt: skip
    # committed before anything is sent: a JournalError here stops the run with nothing written
    run.emit("intent", device.id, name, before=before, requested=target, message=request.reason,
             **_tag(conns, device, name))  # fmt: skip
    try:
        await conns.write(device, name, target)
    except DeviceRejected as error:
        return _outcome(run, conns, request, WriteStatus.REJECTED, before=before,
                        requested=target, message=error.message)  # fmt: skip
    except NotSent as error:  # the transport refused before any I/O: known not applied
        return _outcome(run, conns, request, WriteStatus.REFUSED, before=before,
                        requested=target, message=error.message, cause="not-sent")  # fmt: skip
    except SmartbuildError as error:
        message = f"sent, but no answer: the device may or may not hold it ({error.message})"
        return _outcome(run, conns, request, WriteStatus.UNKNOWN, before=before,
                        requested=target, message=message)  # fmt: skip
    try:
        after = await _read_value(conns, device, name)
    except SmartbuildError as error:
        message = f"written, but the read-back failed: {error.message}"
        return _outcome(run, conns, request, WriteStatus.UNKNOWN, before=before,
                        requested=target, verified=False, message=message)  # fmt: skip
    holder = await transport.overridden_by(device, name)
    if holder is not None:
        message = (
            f"overridden by {holder}: the device holds {after!r}; {target!r} takes effect "
            "when that is released"
        )
        return _outcome(run, conns, request, WriteStatus.OVERRIDDEN, before=before,
                        requested=target, after=after, verified=False, message=message)  # fmt: skip
    if not same_value(point, after, target, step):
        message = f"read back {after!r} after writing {target!r}"
        return _outcome(run, conns, request, WriteStatus.REVERTED, before=before,
                        requested=target, after=after, verified=False, message=message)  # fmt: skip
    return _Pending(request, before, target, step, after)


async def _release(
    run: Run, conns: Connections, request: WriteRequest, before: Any
) -> WriteOutcome:
    """Undo by releasing the point (no value written back); read what the device holds now."""
    device, name = request.device, request.point
    transport = conns.transport(device.transport)
    run.emit("intent", device.id, name, before=before, requested=request.target,
             message=f"{request.reason or 'undo'}: release", **_tag(conns, device, name))  # fmt: skip
    try:
        await transport.release(device, name)
    except DeviceRejected as error:
        return _outcome(run, conns, request, WriteStatus.REJECTED, before=before,
                        message=error.message)  # fmt: skip
    except SmartbuildError as error:
        message = f"release sent, but no answer: the device may still hold it ({error.message})"
        return _outcome(run, conns, request, WriteStatus.UNKNOWN, before=before, message=message)
    try:
        after = await _read_value(conns, device, name)
    except SmartbuildError as error:
        return _outcome(run, conns, request, WriteStatus.UNKNOWN, before=before, verified=False,
                        message=f"released, but the read-back failed: {error.message}")  # fmt: skip
    holder = await transport.overridden_by(device, name)
    message = f"released: the device now holds {after!r}" + (
        f" (set by {holder})" if holder else ""
    )
    return _outcome(run, conns, request, WriteStatus.WRITTEN, before=before, after=after,
                    verified=True, message=message)  # fmt: skip


async def _settle(
    run: Run, conns: Connections, pending: dict[int, _Pending]
) -> dict[int, WriteOutcome]:
    """Wait the device's settle time, read every written point again and journal the outcome."""
    first = next(iter(pending.values())).request.device
    wait = max(settle_time(first, first.point(p.request.point)) for p in pending.values())
    if wait > 0:
        await asyncio.sleep(wait)
    names = list(dict.fromkeys(p.request.point for p in pending.values()))
    readings = {r.point: r for r in await conns.read(first, names)}
    out: dict[int, WriteOutcome] = {}
    for index, p in pending.items():
        request, point = p.request, first.point(p.request.point)
        reading = readings.get(request.point)
        if reading is None or not reading.ok:
            error = reading.error if reading is not None else "no reading"
            out[index] = _outcome(run, conns, request, WriteStatus.UNKNOWN, before=p.before,
                                  requested=p.target, after=p.read_back, verified=False,
                                  message=f"verified at once, unreadable after settling: {error}")  # fmt: skip
        elif same_value(point, reading.value, p.target, p.step):
            out[index] = _outcome(run, conns, request, WriteStatus.WRITTEN, before=p.before,
                                  requested=p.target, after=reading.value, verified=True)  # fmt: skip
        else:
            message = (
                f"read back {p.read_back!r} at once, but {reading.value!r} after {wait:g} s: "
                "the device changed it back"
            )
            out[index] = _outcome(run, conns, request, WriteStatus.REVERTED, before=p.before,
                                  requested=p.target, after=reading.value, verified=False,
                                  message=message)  # fmt: skip
    return out
