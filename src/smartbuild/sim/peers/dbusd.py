"""A private ``dbus-daemon`` for simulated D-Bus services, and helpers to use it safely.

:class:`PrivateBus` runs a system-bus-like daemon on a unix socket in a temporary
directory (any client may own any name and call anything), so tests and the
simulator never touch the machine's real system bus. Point
``DBUS_SYSTEM_BUS_ADDRESS`` at :attr:`PrivateBus.address` for clients such as bleak.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import shutil
import socket
import subprocess
import tempfile
import termios
import time
import weakref
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape

from smartbuild.errors import SmartbuildError

if TYPE_CHECKING:
    from dbus_fast.aio import MessageBus

log = logging.getLogger(__name__)

_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_type="method_return"/>
    <allow send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="signal"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
  </policy>
</busconfig>
"""


def _cleanup(proc: subprocess.Popen[bytes] | None, tmpdir: str | None) -> None:
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
    if tmpdir is not None:
        shutil.rmtree(tmpdir, ignore_errors=True)


class PrivateBus:
    """Run a private ``dbus-daemon``; use as a (sync or async) context manager."""

    def __init__(self, executable: str = "dbus-daemon", *, start_timeout: float = 5.0) -> None:
        self.executable = executable
        self.start_timeout = start_timeout
        self.address = ""
        self.pid: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._tmpdir: str | None = None
        self._socket: Path | None = None
        self._finalizer: weakref.finalize[..., PrivateBus] | None = None

    def _spawn(self) -> None:
        binary = shutil.which(self.executable)
        if binary is None:
            raise SmartbuildError(
                f"{self.executable} is not installed; the simulated BLE rig needs it",
                hint="apt-get install dbus-daemon",
            )
        self._tmpdir = tempfile.mkdtemp(prefix="sb-dbus-")
        self._socket = Path(self._tmpdir) / "bus"
        config = Path(self._tmpdir) / "bus.conf"
        config.write_text(_CONFIG.format(socket=escape(str(self._socket))))
        logfile = (Path(self._tmpdir) / "daemon.log").open("wb")
        with logfile:
            # never a PIPE: nobody reads it, and a full pipe would hang the daemon
            self._proc = subprocess.Popen(
                [binary, f"--config-file={config}", "--nofork", "--nopidfile", "--nosyslog"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=logfile,
            )
        self.pid = self._proc.pid
        self._finalizer = weakref.finalize(self, _cleanup, self._proc, self._tmpdir)

    def _ready(self) -> bool:
        assert self._proc is not None and self._socket is not None
        if self._proc.poll() is not None:
            output = Path(self._socket).with_name("daemon.log").read_text(errors="replace")
            self.stop()
            raise SmartbuildError(
                f"dbus-daemon exited with status {self._proc.returncode}: {output.strip()}"
            )
        if not self._socket.exists():
            return False
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            try:
                probe.connect(str(self._socket))
            except OSError:
                return False
        self.address = f"unix:path={self._socket}"
        return True

    def _timed_out(self) -> SmartbuildError:
        self.stop()
        return SmartbuildError(f"dbus-daemon did not start within {self.start_timeout} s")

    def start(self) -> PrivateBus:
        """Start the daemon and wait until its socket accepts connections."""
        self._spawn()
        deadline = time.monotonic() + self.start_timeout
        while not self._ready():
            if time.monotonic() > deadline:
                raise self._timed_out()
            time.sleep(0.005)
        return self

    async def astart(self) -> PrivateBus:
        """Start the daemon without blocking the event loop."""
        self._spawn()
        deadline = time.monotonic() + self.start_timeout
        while not self._ready():
            if time.monotonic() > deadline:
                raise self._timed_out()
            await asyncio.sleep(0.005)
        return self

    def stop(self) -> None:
        """Stop the daemon and remove its socket and temporary directory."""
        if self._finalizer is not None:
            self._finalizer()  # runs _cleanup once
        self._finalizer = None
        self.address = ""

    @property
    def running(self) -> bool:
        """Return True while the daemon process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def __enter__(self) -> PrivateBus:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> PrivateBus:
        return await self.astart()

    async def __aexit__(self, *exc: object) -> None:
        self.stop()


class SignalPacer:
    """Send on a dbus-fast bus in small batches, never overfilling its socket.

    dbus-fast 5.2 drops the whole connection when a send finds the socket buffer
    full (thousands of signals back to back do that), so sends are queued and
    released only while the daemon has read most of what was sent before.
    """

    _BATCH = 64
    _STALL_S = 10.0

    def __init__(self, bus: MessageBus) -> None:
        self._urgent: deque[tuple[Callable[[], None], asyncio.Future[None]]] = deque()
        self._normal: deque[Callable[[], None]] = deque()
        self._wake = asyncio.Event()
        # dbus-fast has no public accessor for its socket; without one, pace by time.
        self._sock: socket.socket | None = getattr(bus, "_sock", None)
        self._low_water = 64 * 1024
        if self._sock is not None:
            with contextlib.suppress(OSError):
                # a bigger buffer (the kernel caps it at net.core.wmem_max) absorbs replies
                self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
                sndbuf = self._sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)
                self._low_water = max(self._low_water, sndbuf // 4)

    def push(self, fn: Callable[[], None]) -> None:
        """Queue a send (a callable that sends a few messages) behind earlier ones."""
        self._normal.append(fn)
        self._wake.set()

    async def run_now(self, fn: Callable[[], None]) -> None:
        """Run a send ahead of the queue and wait until it has been handed to the bus."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._urgent.append((fn, fut))
        self._wake.set()
        await fut

    async def flush(self) -> None:
        """Wait until everything queued so far has been handed to the bus."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def done() -> None:
            if not fut.done():
                fut.set_result(None)

        self.push(done)
        await fut

    def backlog(self) -> int:
        """Return how many queued sends are waiting."""
        return len(self._urgent) + len(self._normal)

    def _unsent(self) -> int:
        if self._sock is None or self._sock.fileno() < 0:
            return 0
        # bytes written but not yet read by the daemon (SIOCOUTQ)
        buf = fcntl.ioctl(self._sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0")
        return int.from_bytes(buf, "little")

    async def _room(self) -> None:
        deadline = time.monotonic() + self._STALL_S
        while self._unsent() > self._low_water:
            if time.monotonic() > deadline:
                raise SmartbuildError("the D-Bus daemon stopped reading from the simulator")
            await asyncio.sleep(0.001)

    async def run(self) -> None:
        """Send queued work until cancelled."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._urgent or self._normal:
                await self._room()
                for _ in range(self._BATCH):
                    if self._urgent:
                        fn, fut = self._urgent.popleft()
                        self._call(fn, fut)
                    elif self._normal:
                        self._call(self._normal.popleft(), None)
                    else:
                        break
                # let readers in this loop (often bleak) and the daemon catch up
                await asyncio.sleep(0 if self._sock is not None else 0.001)

    @staticmethod
    def _call(fn: Callable[[], None], fut: asyncio.Future[None] | None) -> None:
        try:
            fn()
        except Exception as exc:
            if fut is None:
                log.exception("simulated D-Bus service: a queued send failed")
            elif not fut.done():
                fut.set_exception(exc)
            return
        if fut is not None and not fut.done():
            fut.set_result(None)


async def wait_for_name(bus_address: str, name: str, timeout: float = 5.0) -> None:
    """Wait until ``name`` has an owner on the bus (e.g. a service in another process)."""
    from dbus_fast import Message, MessageType
    from dbus_fast.aio import MessageBus

    bus = await MessageBus(bus_address=bus_address).connect()
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            reply = await bus.call(
                Message(
                    destination="org.freedesktop.DBus",
                    path="/org/freedesktop/DBus",
                    interface="org.freedesktop.DBus",
                    member="NameHasOwner",
                    signature="s",
                    body=[name],
                )
            )
            if reply.message_type == MessageType.METHOD_RETURN and reply.body[0]:
                return
            await asyncio.sleep(0.01)
    finally:
        bus.disconnect()
    raise SmartbuildError(f"nothing owns {name} on {bus_address} after {timeout} s")
