"""The simulated building's water: a meter with a daily demand profile, a leak, a burst, a valve.

Demand follows the use of the building (an office draws in the morning, at lunch and in the
afternoon; nothing from late evening to early morning, so a sound installation shows hours of zero
flow every night). An injected leak adds a small continuous flow — the night never falls to zero —
and a burst a large one that, after a while, wets the floor under the leak detection cable. Closing the
shut-off valve stops every flow; the cable stays wet (its alarm latched) once water escaped.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

# (start hour, end hour, mean draw in m³/h) of a working day; weekends draw a tenth
OFFICE_PROFILE: tuple[tuple[float, float, float], ...] = (
    (6.0, 8.0, 0.25), (8.0, 11.5, 0.45), (11.5, 13.5, 0.8), (13.5, 17.0, 0.4), (17.0, 20.0, 0.15),
)  # fmt: skip
NOMINAL_M3H = 4.0  # Q3 of a DN20 meter: bursts are judged as a share of it
VALVE_CLOSED = (2, 6)  # Belimo override codes that shut the valve: closed, fast_closed
WATER_ROLES = frozenset({"water_flow", "water_volume_total", "leak_alarm", "valve"})
STEP_S = 60.0
SPILL_S = 45 * 60.0  # a burst wets the leak detection cable after this long


@dataclass
class WaterModel:
    """The building's water supply as its meter, valve and leak detector see it."""

    leak_lph: float = 0.0  # continuous leak, litres per hour
    burst_m3h: float = 0.0  # a burst pipe, m³/h
    valve_code: int = 1  # the valve actuator's override register (1 = open)
    volume_m3: float = 0.0
    wet: bool = False  # the leak detection cable found water
    spilled_s: float = 0.0  # how long a burst has run with the valve open
    now: dt.datetime | None = None

    @property
    def valve_open(self) -> bool:
        """Return True while the shut-off valve lets water through."""
        return self.valve_code not in VALVE_CLOSED

    @staticmethod
    def demand_m3h(at: dt.datetime) -> float:
        """Return the building's own draw at a moment (no leak), in m³/h."""
        hour = at.hour + at.minute / 60
        for start, end, mean in OFFICE_PROFILE:
            if start <= hour < end:
                # taps open and close: the draw varies around its mean within the slot
                wobble = 0.5 + 0.5 * math.sin(hour * 7.0) ** 2
                scale = 1.0 if at.weekday() < 5 else 0.1
                return round(mean * wobble * scale * 1.33, 3)
        return 0.0

    def flow_m3h(self, at: dt.datetime | None = None) -> float:
        """Return the flow through the meter now (m³/h)."""
        at = at or self.now
        if at is None or not self.valve_open:
            return 0.0
        return self.demand_m3h(at) + self.leak_lph / 1000.0 + self.burst_m3h

    def advance(self, seconds: float, end: dt.datetime) -> None:
        """Integrate the volume over the ``seconds`` that end at ``end``."""
        t = end - dt.timedelta(seconds=seconds)
        remaining = seconds
        while remaining > 1e-9:
            h = min(STEP_S, remaining)
            self.volume_m3 += self.flow_m3h(t) * h / 3600.0
            if self.burst_m3h > 0 and self.valve_open:
                self.spilled_s += h
                self.wet = self.wet or self.spilled_s >= SPILL_S
            t += dt.timedelta(seconds=h)
            remaining -= h
        self.now = end

    def role_value(self, role: str) -> Any:
        """Return the value of a water role (canonical unit), or None for other roles."""
        if role == "water_flow":
            return self.flow_m3h()
        if role == "water_volume_total":
            return math.floor(self.volume_m3)
        if role == "leak_alarm":
            return self.wet
        if role == "valve":
            return self.valve_code
        return None

    def point_value(self, name: str, unit: str | None) -> Any:
        """Return a plausible value for a water device's point without a role."""
        if name == "volume_fraction":
            return int((self.volume_m3 % 1.0) * 1e6)
        if name == "position":
            return 100.0 if self.valve_open else 0.0
        if name == "actuator_type":
            return 3  # rotary valve
        if name == "battery_voltage":
            return 3600
        if name == "firmware":
            return 1.5
        if name in ("leak_distance", "leak_current"):
            return 12 if self.wet else 0
        if name == "cable_length":
            return 30
        return 0
