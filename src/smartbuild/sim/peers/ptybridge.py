"""A null-modem cable made of two pseudo-terminals, in pure Python (no socat).

``PtyBridge`` opens two pty pairs and copies bytes between their master sides inside the
running event loop, exposing the two slave device paths: a Modbus RTU server opens one, a
client the other, as with ``socat pty,raw,echo=0 pty,raw,echo=0``. A pty ignores the baud
rate, so for benchmarks the bridge can emulate the time a frame takes on a real RS-485 line:
each chunk is delivered after its character time (11 bits per character: start, 8 data,
parity or a second stop bit, stop) plus a 3.5-character inter-frame gap, with both
directions sharing one half-duplex line.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import termios
import tty
from collections import deque
from types import TracebackType

_CHUNK = 4096


def char_time(baudrate: int, bits_per_char: int = 11) -> float:
    """Return the seconds one character takes on the wire."""
    return bits_per_char / baudrate


def frame_gap(baudrate: int, bits_per_char: int = 11) -> float:
    """Return the silent interval that ends an RTU frame (3.5 characters, ≥ 1.75 ms)."""
    # The Modbus serial line spec fixes the gap at 1.75 ms above 19200 Bd.
    return 0.00175 if baudrate > 19200 else 3.5 * char_time(baudrate, bits_per_char)


def frame_time(n_bytes: int, baudrate: int, bits_per_char: int = 11) -> float:
    """Return the seconds an RTU frame of ``n_bytes`` occupies the line, gap included."""
    return n_bytes * char_time(baudrate, bits_per_char) + frame_gap(baudrate, bits_per_char)


def read_registers_time(count: int, baudrate: int, bits_per_char: int = 11) -> float:
    """Return the bus time of one FC3/FC4 read: 8-byte request, 5 + 2N-byte response."""
    return frame_time(8, baudrate, bits_per_char) + frame_time(
        5 + 2 * count, baudrate, bits_per_char
    )


class PtyBridge:
    """Join two pseudo-terminals back to back and expose their device paths.

    Use ``async with PtyBridge() as bridge:`` and open ``bridge.path_a`` / ``bridge.path_b``.
    ``baudrate`` turns on wire-time emulation; ``None`` forwards bytes at once.
    """

    def __init__(self, *, baudrate: int | None = None, bits_per_char: int = 11) -> None:
        if baudrate is not None and baudrate <= 0:
            raise ValueError(f"baudrate must be positive, got {baudrate}")
        self.baudrate = baudrate
        self.bits_per_char = bits_per_char
        self.path_a = ""
        self.path_b = ""
        #: Bytes copied from side A to side B and back (for tests and benchmarks).
        self.bytes_a_to_b = 0
        self.bytes_b_to_a = 0
        self._fds: list[int] = []
        self._masters: tuple[int, int] = (-1, -1)
        self._outbox: dict[int, bytearray] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._line_free_at = 0.0
        self._timers: deque[asyncio.TimerHandle] = deque()

    async def __aenter__(self) -> PtyBridge:
        """Open the bridge."""
        self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the bridge."""
        self.close()

    def open(self) -> None:
        """Create both pty pairs and start copying (needs a running event loop)."""
        if self._loop is not None:
            raise RuntimeError("PtyBridge is already open")
        loop = asyncio.get_running_loop()
        try:
            master_a, slave_a = os.openpty()
            self._fds += [master_a, slave_a]
            master_b, slave_b = os.openpty()
            self._fds += [master_b, slave_b]
            for slave in (slave_a, slave_b):
                # Raw, no echo: a Modbus frame is binary and must come back unchanged.
                tty.setraw(slave, termios.TCSANOW)
            for master in (master_a, master_b):
                os.set_blocking(master, False)
        except OSError:
            self._close_fds()
            raise
        # The bridge keeps the slave ends open too: a pty whose last slave fd closes hangs
        # up (EIO on the master), which would break a client that reconnects.
        self.path_a, self.path_b = os.ttyname(slave_a), os.ttyname(slave_b)
        self._masters = (master_a, master_b)
        self._outbox = {master_a: bytearray(), master_b: bytearray()}
        self._loop = loop
        loop.add_reader(master_a, self._on_readable, master_a, master_b)
        loop.add_reader(master_b, self._on_readable, master_b, master_a)

    def close(self) -> None:
        """Stop copying and close every descriptor."""
        loop, self._loop = self._loop, None
        if loop is not None:
            for timer in self._timers:
                timer.cancel()
            self._timers.clear()
            for master in self._masters:
                loop.remove_reader(master)
                loop.remove_writer(master)
        self._close_fds()

    def _close_fds(self) -> None:
        for fd in self._fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self._fds = []
        self._masters = (-1, -1)

    def _on_readable(self, src: int, dst: int) -> None:
        try:
            data = os.read(src, _CHUNK)
        except BlockingIOError:
            return
        except OSError:  # EIO: the other side hung up; nothing more will come
            assert self._loop is not None
            self._loop.remove_reader(src)
            return
        if not data:
            return
        if src == self._masters[0]:
            self.bytes_a_to_b += len(data)
        else:
            self.bytes_b_to_a += len(data)
        if self.baudrate is None:
            self._deliver(dst, data)
            return
        loop = self._loop
        assert loop is not None
        # One half-duplex line: a chunk starts when the line is free and ends after its
        # characters; the inter-frame gap then keeps the line busy.
        start = max(loop.time(), self._line_free_at)
        done = start + len(data) * char_time(self.baudrate, self.bits_per_char)
        self._line_free_at = done + frame_gap(self.baudrate, self.bits_per_char)
        self._timers.append(loop.call_at(done, self._deliver_timed, dst, data))

    def _deliver_timed(self, dst: int, data: bytes) -> None:
        # Due times strictly increase, so the timer firing now is the oldest one.
        self._timers.popleft()
        self._deliver(dst, data)

    def _deliver(self, dst: int, data: bytes) -> None:
        if self._loop is None:
            return
        box = self._outbox[dst]
        pending = bool(box)
        box += data
        if not pending:
            self._flush(dst)

    def _flush(self, dst: int) -> None:
        if self._loop is None:
            return
        box = self._outbox[dst]
        try:
            written = os.write(dst, box)
        except BlockingIOError:
            written = 0
        except OSError:  # the pty is gone: a real cable would lose the bytes too
            written = len(box)
        del box[:written]
        if box:
            self._loop.add_writer(dst, self._flush, dst)
        else:
            self._loop.remove_writer(dst)
