"""Wire time of RTU frames and adaptive request timeouts.

An RTU character is 11 bits (start, 8 data, parity or a second stop bit, stop); a frame ends
with 3.5 silent character times (fixed at 1.75 ms above 19200 Bd). A request's round trip on a
bus is therefore at least the request frame plus the response frame; what a device adds on top
(its turnaround) is learned from the answers seen on the link.

``AdaptiveTimeout`` starts with the configured timeout. After the first answer on a link it
uses ``max(floor, k x expected round trip)``, where the expected round trip is the frames' wire
time plus the largest turnaround seen lately, and the floor is the wire time plus 20 character
times and 20 ms of host latency on RTU (a device cannot answer faster than the bytes take) or 100 ms on TCP (network
and host jitter: a present unit missed costs more than a silent one waited for).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

BITS_PER_CHAR = 11
TCP_FLOOR_S = 0.1
RTU_SLACK_CHARS = 20  # turnaround allowance in the RTU floor
RTU_HOST_SLACK_S = 0.02  # USB serial adapters and the host add latency (FTDI: up to 16 ms)
DEFAULT_K = 3.0
PLAN_TURNAROUND_S = 0.001  # what the RTU read planner charges per request for device turnaround


def char_time(baudrate: int, bits_per_char: int = BITS_PER_CHAR) -> float:
    """Return the seconds one character takes on the wire."""
    return bits_per_char / baudrate


def frame_gap(baudrate: int, bits_per_char: int = BITS_PER_CHAR) -> float:
    """Return the silent interval that ends an RTU frame (3.5 characters, 1.75 ms above 19200)."""
    return 0.00175 if baudrate > 19200 else 3.5 * char_time(baudrate, bits_per_char)


def frame_time(n_bytes: int, baudrate: int, bits_per_char: int = BITS_PER_CHAR) -> float:
    """Return the seconds an RTU frame of ``n_bytes`` occupies the line, gap included."""
    return n_bytes * char_time(baudrate, bits_per_char) + frame_gap(baudrate, bits_per_char)


def read_frames(table: str, count: int) -> tuple[int, int]:
    """Return (request bytes, response bytes) of one RTU read of ``count`` registers or bits."""
    payload = math.ceil(count / 8) if table in ("coil", "discrete") else 2 * count
    return 8, 5 + payload


def read_time(table: str, count: int, baudrate: int, bits_per_char: int = BITS_PER_CHAR) -> float:
    """Return the bus time of one read (request frame + response frame, gaps included)."""
    request, response = read_frames(table, count)
    return frame_time(request, baudrate, bits_per_char) + frame_time(
        response, baudrate, bits_per_char
    )


@dataclass(frozen=True)
class TimeoutSettings:
    """How a link times requests: the first timeout, the factor k and an optional floor."""

    initial: float = 0.5
    k: float = DEFAULT_K  # 0 turns adaptation off: every request waits ``initial``
    floor: float | None = None  # seconds; None: derived from the baud rate (RTU) or 100 ms (TCP)
    baudrate: int | None = None  # RTU only
    bits_per_char: int = BITS_PER_CHAR


class AdaptiveTimeout:
    """The timeout of the next request on one link, learned from the answers seen."""

    def __init__(self, settings: TimeoutSettings) -> None:
        self.settings = settings
        self._turnarounds: deque[float] = deque(maxlen=32)
        self.last: float = settings.initial

    @property
    def learned(self) -> bool:
        """Return whether an answer has been seen (adaptation applies)."""
        return bool(self._turnarounds) and self.settings.k > 0

    @property
    def turnaround(self) -> float:
        """Return the largest recent time beyond the wire time (0 before any answer)."""
        return max(self._turnarounds, default=0.0)

    def wire(self, request_bytes: int, response_bytes: int) -> float:
        """Return the wire time of a request and its response (0 on TCP)."""
        baud = self.settings.baudrate
        if not baud:
            return 0.0
        bits = self.settings.bits_per_char
        return frame_time(request_bytes, baud, bits) + frame_time(response_bytes, baud, bits)

    def floor(self, request_bytes: int = 8, response_bytes: int = 7) -> float:
        """Return the smallest timeout for a request of this size."""
        s = self.settings
        if s.floor is not None:
            return s.floor
        if s.baudrate:
            slack = RTU_SLACK_CHARS * char_time(s.baudrate, s.bits_per_char) + RTU_HOST_SLACK_S
            return self.wire(request_bytes, response_bytes) + slack
        return TCP_FLOOR_S

    def timeout(self, request_bytes: int = 8, response_bytes: int = 7) -> float:
        """Return the timeout for the next request of this size."""
        if not self.learned or (not self.settings.baudrate and response_bytes > 9):
            # on TCP the wire time behind a gateway is unknown: only requests the size of
            # the ones timed (one or two registers) get the learned timeout
            self.last = self.settings.initial
        else:
            expected = self.wire(request_bytes, response_bytes) + self.turnaround
            self.last = max(self.floor(request_bytes, response_bytes), self.settings.k * expected)
        return self.last

    def observe(self, seconds: float, request_bytes: int = 8, response_bytes: int = 7) -> None:
        """Record the round trip of an answered request."""
        self._turnarounds.append(max(0.0, seconds - self.wire(request_bytes, response_bytes)))

    def describe(self) -> str:
        """Return one line for -v: the current rule and figures."""
        s = self.settings
        if not self.learned:
            return f"timeout {s.initial * 1000:.0f} ms (no answer seen yet)"
        return (
            f"adaptive timeout {self.timeout() * 1000:.1f} ms for a one-register read "
            f"(k={s.k:g} x (wire {self.wire(8, 7) * 1000:.1f} ms + turnaround "
            f"{self.turnaround * 1000:.1f} ms), floor {self.floor() * 1000:.1f} ms)"
        )


def frames_of(
    function: str, kwargs: dict[str, object], args: tuple[object, ...]
) -> tuple[int, int]:
    """Return (request bytes, largest response bytes) of a pymodbus client call on RTU."""
    count = kwargs.get("count", 1)
    count = count if isinstance(count, int) else 1
    if function in ("read_holding_registers", "read_input_registers"):
        return read_frames("holding", count)
    if function in ("read_coils", "read_discrete_inputs"):
        return read_frames("coil", count)
    if function == "write_registers" and args:
        values = args[1] if len(args) > 1 else kwargs.get("values", [])
        n = len(values) if isinstance(values, (list, tuple)) else 1
        return 9 + 2 * n, 8
    if function in ("write_register", "write_coil"):
        return 8, 8
    return 8, 256  # FC43, FC17 and others: the answer may fill a whole frame
