"""Modbus discovery: a streaming host sweep, a unit sweep per host or bus, identification.

TCP: a pool of connectors (``sweep_concurrency``, default 256, bounded by the file-descriptor
limit) takes addresses one at a time from a lazy target generator, each connect bounded by
``connect_timeout``; listening hosts go through a bounded queue to ``concurrency`` unit probers.
Candidates are reported as they are identified, so memory does not grow with the range.
RTU: each port and baud rate in turn, one link, units one after the other. On both, request
timeouts adapt after the first answer on a link (``timing.AdaptiveTimeout``).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from smartbuild.errors import SafetyRefusal
from smartbuild.transports.base import Candidate
from smartbuild.transports.modbus.link import Link
from smartbuild.transports.modbus.targets import (
    MAX_ADDRESSES,
    count_addresses,
    expand_targets,
    iter_targets,
)
from smartbuild.transports.modbus.timing import DEFAULT_K, AdaptiveTimeout, TimeoutSettings
from smartbuild.transports.modbus.units import identify_unit, run_probes

if TYPE_CHECKING:
    from smartbuild.transports.modbus.transport import ModbusTransport

__all__ = ["MAX_ADDRESSES", "count_addresses", "discover", "expand_targets", "identify_unit",
           "run_probes", "sweep_limit"]  # fmt: skip
SWEEP_CONCURRENCY = 256
FD_RESERVE = 64  # descriptors kept free for the unit probers, the event loop and the rest


def sweep_limit(requested: int, reserve: int = FD_RESERVE) -> int:
    """Return how many connects may be in flight: ``requested``, within RLIMIT_NOFILE."""
    try:
        import resource
    except ImportError:  # Windows: no such limit to respect
        return requested
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = requested + reserve
    if soft != resource.RLIM_INFINITY and soft < want:
        new = want if hard == resource.RLIM_INFINITY else min(want, hard)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft == resource.RLIM_INFINITY:
        return requested
    return max(1, min(requested, soft - reserve))


async def _listening(host: str, port: int, timeout: float) -> bool:
    """Return whether a TCP connect succeeds within ``timeout``.

    A bare non-blocking socket and a writer callback: no stream objects and no exception per
    address, so a /16 of refused or silent addresses leaves no garbage behind.
    """
    loop = asyncio.get_running_loop()
    address: Any = (host, port)
    try:
        version = ipaddress.ip_address(host).version
        family = socket.AF_INET6 if version == 6 else socket.AF_INET
    except ValueError:  # a host name: resolve it (in a thread) once
        try:
            info = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError:
            return False
        family, _, _, _, address = info[0]
    try:
        sock = socket.socket(family, socket.SOCK_STREAM)
    except OSError:
        return False
    sock.setblocking(False)
    fd = sock.fileno()
    settled: asyncio.Future[bool] = loop.create_future()

    def settle(value: bool) -> None:
        if not settled.done():
            settled.set_result(value)

    timer = loop.call_later(timeout, settle, False)
    try:
        error = sock.connect_ex(address)
        if error == 0:
            return True
        if error != errno.EINPROGRESS:
            return False
        loop.add_writer(fd, settle, True)
        return await settled and sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0
    finally:
        timer.cancel()
        loop.remove_writer(fd)
        sock.close()


def _settings(
    options: dict[str, Any], timeout: float, baudrate: int | None = None
) -> TimeoutSettings:
    factor = options.get("timeout_factor")
    return TimeoutSettings(
        initial=timeout,
        k=DEFAULT_K if factor is None else float(factor),
        floor=options.get("timeout_floor"),
        baudrate=baudrate,
    )


async def discover(
    transport: ModbusTransport, options: dict[str, Any], found: Callable[[Candidate], None]
) -> None:
    """Run a Modbus discovery (TCP targets or RTU ports) and report candidates."""
    from smartbuild.transports.modbus.link import quiet_pymodbus

    quiet_pymodbus()
    templates = options["templates"]
    units: list[int] = options.get("units") or [1]
    # absent units on a bus stay silent: wait less for the first answer there than on TCP
    timeout = float(options.get("timeout") or (0.2 if transport.name == "modbus-rtu" else 0.5))
    if transport.name == "modbus-rtu":
        await _discover_rtu(transport, options, units, timeout, templates, found)
        return
    targets = list(options.get("targets") or [])
    total = count_addresses(targets)
    if total > MAX_ADDRESSES and not options.get("yes"):
        raise SafetyRefusal(
            f"refusing to sweep {total} addresses (more than a /16) without --yes",
            hint="narrow the targets, or pass --yes if you really mean it",
        )
    await _discover_tcp(transport, options, units, timeout, templates, found, total)


async def _discover_tcp(transport: ModbusTransport, options: dict[str, Any], units: list[int], timeout: float,
                        templates: dict[str, Any], found: Callable[[Candidate], None], total: int) -> None:  # fmt: skip
    progress: Callable[[str], None] = options.get("progress") or (lambda text: None)
    debug: Callable[[str], None] = options.get("debug") or (lambda text: None)
    probers = max(1, int(options.get("concurrency") or 64))
    connectors = sweep_limit(
        int(options.get("sweep_concurrency") or SWEEP_CONCURRENCY), FD_RESERVE + probers
    )
    connect_timeout = float(options.get("connect_timeout") or max(timeout, 0.2))
    hosts = iter_targets(
        targets := list(options.get("targets") or []), int(options.get("port") or 502)
    )
    debug(f"modbus-tcp: sweeping {total} addresses in {len(targets)} targets, {connectors} "
          f"connects at once, connect timeout {connect_timeout * 1000:.0f} ms; {probers} hosts "
          f"probed at once")  # fmt: skip
    listening: asyncio.Queue[tuple[str, int] | None] = asyncio.Queue(maxsize=probers)
    done = seen = 0

    async def connector() -> None:
        nonlocal done, seen
        for host, port in hosts:  # one shared generator: each connector takes the next address
            if await _listening(host, port, connect_timeout):
                seen += 1
                await listening.put((host, port))
            done += 1
            if done % 64 == 0 or done == total:
                progress(f"hosts {done}/{total}, {seen} listening")

    async def prober() -> None:
        while (item := await listening.get()) is not None:
            await _units_of(transport, options, item, units, timeout, templates, found, debug)

    async def feed() -> None:
        await asyncio.gather(*(connector() for _ in range(connectors)))
        for _ in range(probers):
            await listening.put(None)

    # one task set: a prober that fails must not leave connectors waiting on a full queue
    tasks = [asyncio.create_task(feed()), *(asyncio.create_task(prober()) for _ in range(probers))]
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
    progress(f"hosts {done}/{total}, {seen} listening")


async def _units_of(transport: ModbusTransport, options: dict[str, Any], where: tuple[str, int], units: list[int],
                    timeout: float, templates: dict[str, Any], found: Callable[[Candidate], None],
                    debug: Callable[[str], None]) -> None:  # fmt: skip
    host, port = where

    def factory() -> Any:
        from pymodbus.client import AsyncModbusTcpClient

        return AsyncModbusTcpClient(host, port=port, timeout=timeout, retries=0, reconnect_delay=0)

    timing = AdaptiveTimeout(_settings(options, timeout))
    link = Link(_address(host, port), factory, connect_delay_s=0, pause_s=0, timing=timing,
                tolerate_silence=True)  # fmt: skip
    try:
        seen: list[dict[str, Any]] = []
        for unit in units:
            try:
                identity = await identify_unit(link, unit)
                if identity is None:
                    continue
                # 0 and 255 usually reach the same TCP-native device as unit 1: report it once
                if unit in (0, 255) and identity in seen:
                    continue
                seen.append(identity)
                await run_probes(transport, link, unit, identity, templates)
            except Exception as error:  # a device answering nonsense fails alone
                transport.warn(
                    f"modbus-tcp: {_address(host, port)} unit {unit} answered what is "
                    f"not Modbus ({type(error).__name__}: {error}); skipped"
                )
                break  # the rest of its units would answer the same way
            found(Candidate("modbus-tcp", _address(host, port), unit, identity=identity))
    finally:
        link.close()
    debug(f"{link.label}: {timing.describe()}")


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def _discover_rtu(transport: ModbusTransport, options: dict[str, Any], units: list[int], timeout: float,
                        templates: dict[str, Any], found: Callable[[Candidate], None]) -> None:  # fmt: skip
    from smartbuild.transports.modbus.transport import check_serial_port

    progress: Callable[[str], None] = options.get("progress") or (lambda text: None)
    debug: Callable[[str], None] = options.get("debug") or (lambda text: None)
    parity = options.get("parity") or "E"
    for port in options.get("ports") or []:
        check_serial_port(port, port)
        for baud in options.get("bauds") or [9600]:

            def factory(port: str = port, baud: int = baud) -> Any:
                from pymodbus.client import AsyncModbusSerialClient

                return AsyncModbusSerialClient(port, baudrate=baud, parity=parity, stopbits=1 if parity != "N" else 2,
                                               timeout=timeout, retries=0, reconnect_delay=0)  # fmt: skip

            timing = AdaptiveTimeout(_settings(options, timeout, baud))
            link = Link(port, factory, connect_delay_s=0, pause_s=0, timing=timing)
            if (timings := options.get("timings")) is not None:  # benchmarks read the figures
                timings[f"{port}@{baud}"] = timing
            debug(f"{port} @ {baud} Bd: timeout {timeout * 1000:.0f} ms until a unit answers, "
                  f"then k={timing.settings.k:g} x round trip, floor {timing.floor() * 1000:.1f} ms")  # fmt: skip
            try:
                for index, unit in enumerate(units):
                    progress(f"{port} @ {baud} Bd: unit {unit} ({index + 1}/{len(units)})")
                    try:
                        identity = await identify_unit(link, unit)
                        if identity is None:
                            continue
                        await run_probes(transport, link, unit, identity, templates)
                    except Exception as error:  # a unit answering nonsense fails alone
                        transport.warn(f"modbus-rtu: {port} unit {unit} answered what is not "
                                       f"Modbus ({type(error).__name__}: {error}); skipped")  # fmt: skip
                        continue
                    serial = {
                        "baudrate": baud,
                        "parity": parity,
                        "stopbits": 1 if parity != "N" else 2,
                    }
                    found(Candidate("modbus-rtu", port, unit, identity=identity, serial=serial))
            finally:
                link.close()
            debug(f"{port} @ {baud} Bd: {timing.describe()}")
