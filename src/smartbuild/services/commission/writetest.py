"""The write test: each writable point gets a safe test value, is verified, then restored.

The test values go through the one write path as one journaled run (the commission run); the
restore is a rollback of that run, done at the end of the test and also when the run is
interrupted (Ctrl-C cancels the task; the restore runs before the cancellation goes on).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import signal
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from smartbuild.model.roles import PLAUSIBLE, ROLES
from smartbuild.services.commission.checks import FAIL, NA, PASS, Check, Progress

if TYPE_CHECKING:
    from smartbuild.config.schema import PointSpec
    from smartbuild.model.device import Device, Reading
    from smartbuild.services.runs import Run
    from smartbuild.services.session import Session


@contextlib.contextmanager
def _holding_interrupts() -> Iterator[list[int]]:
    """Hold Ctrl-C off while test values are restored: count each one instead of stopping.

    asyncio.run raises KeyboardInterrupt at a second Ctrl-C wherever the loop is, which would
    leave test values on the devices. Outside the main thread there is no signal to hold.
    """
    held: list[int] = []
    loop = asyncio.get_running_loop()
    try:
        previous = signal.getsignal(signal.SIGINT)
        loop.add_signal_handler(signal.SIGINT, lambda: held.append(signal.SIGINT))
    except (ValueError, RuntimeError, NotImplementedError):  # not the main thread, or no signals
        yield held
        return
    try:
        yield held
    finally:
        loop.remove_signal_handler(signal.SIGINT)
        signal.signal(signal.SIGINT, previous)


def safe_test_value(point: PointSpec, current: Any, step: float | None) -> tuple[Any, str]:
    """Return a safe test value near the current one inside every bound, or None and why not."""
    if point.enum is not None or point.value_kind() in ("bool", "text"):
        return None, "switches, modes and text are not changed by the write test"
    if isinstance(current, bool) or not isinstance(current, (int, float)):
        return None, "the current value could not be read"
    if point.min is None or point.max is None:
        return None, "the template gives no bounds: no value is known to be safe"
    low, high = float(point.min), float(point.max)
    if point.role in PLAUSIBLE:
        plausible = PLAUSIBLE[point.role]
        low, high = max(low, plausible[0]), min(high, plausible[1])
    role = ROLES.get(point.role or "")
    delta = role.deadband if role and role.deadband else (high - low) / 100.0
    if step:
        delta = max(step, math.ceil(delta / step - 1e-9) * step)
    for near in (current + delta, current - delta):
        value: float = near
        if step:
            value = round(round((near - point.offset) / step) * step + point.offset, 10)
        if low <= value <= high and value != current:
            chosen: Any = int(value) if isinstance(current, int) and value.is_integer() else value
            return chosen, f"{current:g} → {chosen:g}"
    return None, f"no test value within {low:g}..{high:g} next to {current:g}"


async def _plan(
    session: Session, devices: Sequence[Device], readings: dict[str, list[Reading]]
) -> tuple[list[Any], list[Check]]:
    from smartbuild.model.writes import WriteRequest
    from smartbuild.services.writes import quantize

    requests: list[Any] = []
    skipped: list[Check] = []
    for device in devices:
        values = {r.point: r for r in readings.get(device.id, [])}
        for name, point in device.template.points.items():
            if not point.writable:
                continue
            reading = values.get(name)
            step = await session.conns.transport(device.transport).resolution(device, name)
            current = reading.value if reading is not None and reading.ok else None
            value, why = safe_test_value(point, current, step)
            if value is not None:
                problems = quantize(device, name, value, step).problems
                if problems:
                    value, why = None, "; ".join(problems)
            if value is None:
                skipped.append(Check("write-test", f"{device.id}.{name}", NA, why,
                                     device=device.id, point=name, actual=current))  # fmt: skip
            else:
                requests.append(WriteRequest(device, name, value, "commissioning write test"))
    return requests, skipped


async def write_test(
    session: Session,
    run: Run,
    devices: Sequence[Device],
    readings: dict[str, list[Reading]],
    progress: Progress,
) -> tuple[list[Check], list[dict[str, Any]]]:
    """Write, verify and restore every writable point; return checks and the detail rows."""
    from smartbuild.services.rollback import restorable
    from smartbuild.services.writes import apply_writes

    requests, checks = await _plan(session, devices, readings)
    if not requests:
        return checks, []
    outcomes: list[Any] = []
    restore: dict[tuple[str, str], Any] = {}
    try:
        outcomes = await apply_writes(run, session.conns, requests, lease=session._lease(run))
    finally:
        # also on Ctrl-C (CancelledError) or an error: give back every value the run changed
        if restorable(session.journal, run.id):
            undo = asyncio.ensure_future(session.rollback(run.id, confirm=lambda question: True))
            cancelled = False
            with _holding_interrupts() as held:
                try:
                    result = await asyncio.shield(undo)
                except asyncio.CancelledError:  # cancelled during the restore: finish it first
                    cancelled = True
                    result = await undo
            cancelled = cancelled or bool(held)
            progress.restore_run = result.run
            for o in result.outcomes:
                restore[(o.device, o.point)] = o
                (progress.restored if o.status.ok else progress.not_restored).append(
                    f"{o.device}.{o.point}"
                )
            if cancelled:
                raise asyncio.CancelledError
    rows = []
    for outcome in outcomes:
        back = restore.get((outcome.device, outcome.point))
        restored = (
            back is None and outcome.status.value in ("refused", "rejected", "unchanged")
        ) or (back is not None and back.status.ok)
        verified = outcome.status.value == "written"
        row = {
            "device": outcome.device,
            "point": outcome.point,
            "before": outcome.before,
            "test": outcome.requested,
            "after": outcome.after,
            "outcome": outcome.status.value,
            "restored": restored,
            "restore": None if back is None else back.status.value,
            "message": outcome.message or (back.message if back is not None else None),
        }
        rows.append(row)
        subject = f"{outcome.device}.{outcome.point}"
        if verified and restored:
            status, why = (
                PASS,
                f"wrote {outcome.requested!r}, read back, restored {outcome.before!r}",
            )
        elif verified:
            status, why = (
                FAIL,
                f"wrote {outcome.requested!r} but the restore failed: {row['message']}",
            )
        else:
            status, why = FAIL, f"{outcome.status.value}: {outcome.message or 'not verified'}"
        checks.append(Check("write-test", subject, status, why, device=outcome.device,
                            point=outcome.point, expected=outcome.requested,
                            actual=outcome.after))  # fmt: skip
    return checks, rows
