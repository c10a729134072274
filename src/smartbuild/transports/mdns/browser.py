"""Async mDNS / DNS-SD browser: find services, resolve them, merge them into devices.

zeroconf is imported inside the functions that need it, so importing this module is cheap.
Each interface gets its own zeroconf instance pinned to that one address, which is how a
service is attributed to the interface it was heard on.

Services that disappear during a browse (goodbye packets) are dropped from
``BrowseResult.services`` and ``devices`` and reported in ``BrowseResult.removed`` with
their last known data, so callers see the current state and what went away.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from smartbuild.errors import UsageError
from smartbuild.transports.mdns.catalogue import catalogue_types, normalise_type
from smartbuild.transports.mdns.interfaces import interface_error, open_zeroconf, resolve_interfaces
from smartbuild.transports.mdns.records import (
    TXT_SIZE_LIMIT,
    MdnsDevice,
    MdnsService,
    decode_txt,
    device_key,
    merge_services,
)

# Re-exported: callers import the whole browsing API from this module.
__all__ = [
    "TXT_SIZE_LIMIT",
    "BrowseResult",
    "MdnsDevice",
    "MdnsService",
    "browse",
    "decode_txt",
    "device_key",
    "interface_error",
    "merge_services",
    "resolve_interfaces",
]

if TYPE_CHECKING:
    from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

SERVICE_TYPE_ENUMERATION = "_services._dns-sd._udp.local."
RESOLVE_TIMEOUT = 3.0  # seconds per resolve, and never past the browse deadline
MAX_TYPES = 256  # bound on types followed with all_types, against a flood of junk types
MAX_TIMEOUT = 600.0
_DNS_TYPE_SRV = 33  # RFC 1035/2782 record type and class numbers
_DNS_CLASS_IN = 1

Event = str  # "added" | "updated" | "removed"
OnUpdate = Callable[[Event, "MdnsService"], None]


@dataclass(frozen=True)
class BrowseResult:
    """What a browse found: live services, merged devices, removals and warnings."""

    services: tuple[MdnsService, ...]
    devices: tuple[MdnsDevice, ...]
    removed: tuple[MdnsService, ...] = ()
    warnings: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    stopped_early: bool = False  # expect reached and quiet, or the stop event was set


def _qm() -> Any:
    """Return the multicast-reply question type.

    A QU question (zeroconf's default for a first query) gets a unicast reply once the
    answer was multicast in the last quarter TTL. Unicast to port 5353 reaches only ONE of
    the sockets sharing the port (SO_REUSEPORT), so with avahi, another zeroconf or a test
    responder on the same host the reply is often lost and the browse waits ~1 s for the
    next query. Multicast replies reach every socket.
    """
    from zeroconf import DNSQuestionType

    return DNSQuestionType.QM


@dataclass
class _Session:
    interface: str
    azc: AsyncZeroconf
    browsers: list[AsyncServiceBrowser] = field(default_factory=list)
    types: set[str] = field(default_factory=set)


class _Browse:
    """State of one browse: live services, pending resolves, warnings."""

    def __init__(self, deadline: float, on_update: OnUpdate | None) -> None:
        self.loop = asyncio.get_running_loop()
        self.deadline = deadline
        self.on_update = on_update
        self.live: dict[tuple[str, str], MdnsService] = {}
        self.removed: dict[tuple[str, str], MdnsService] = {}
        self.pending: dict[tuple[str, str], asyncio.Task[None]] = {}
        self.unresolved: dict[tuple[str, str], str] = {}
        self.resolving: dict[tuple[str, str], AsyncServiceInfo] = {}
        self.warnings: dict[str, None] = {}
        self.changed = asyncio.Event()
        self.last_change = self.loop.time()
        self.callback_error: BaseException | None = None
        self.type_limit_warned = False

    def warn(self, message: str) -> None:
        self.warnings[message] = None

    def follow(self, session: _Session, service_type: str) -> None:
        """Start browsing one more type on a session (once per type)."""
        from zeroconf.asyncio import AsyncServiceBrowser

        if service_type.lower() in session.types:
            return
        if len(session.types) >= MAX_TYPES:
            if not self.type_limit_warned:
                self.warn(
                    f"{session.interface}: more than {MAX_TYPES} service types; ignored the rest"
                )
                self.type_limit_warned = True
            return
        session.types.add(service_type.lower())
        handler = functools.partial(self.on_state_change, session)
        session.browsers.append(
            AsyncServiceBrowser(
                session.azc.zeroconf, [service_type], handlers=[handler], question_type=_qm()
            )
        )

    def on_state_change(self, session: _Session, **kwargs: Any) -> None:
        """Handle a zeroconf browser event (runs in the event loop)."""
        from zeroconf import ServiceStateChange

        service_type: str = kwargs["service_type"]
        name: str = kwargs["name"]
        change = kwargs["state_change"]
        if service_type == SERVICE_TYPE_ENUMERATION:
            if change is ServiceStateChange.Added:
                try:
                    self.follow(session, normalise_type(name))
                except ValueError:
                    self.warn(f"{session.interface}: skipped malformed service type {name!r}")
            return
        key = (session.interface, name.lower())
        if change is ServiceStateChange.Removed:
            self.cancel(key)
            self.unresolved.pop(key, None)
            gone = self.live.pop(key, None)
            if gone is not None:
                self.removed[key] = gone
                self.emit("removed", gone)
            return
        # Added or Updated: (re-)resolve from the cache, which already holds the new records.
        self.cancel(key)
        self.pending[key] = self.loop.create_task(self.resolve(session, service_type, name))

    def cancel(self, key: tuple[str, str]) -> None:
        self.resolving.pop(key, None)
        task = self.pending.pop(key, None)
        if task is not None:
            task.cancel()

    async def resolve(self, session: _Session, service_type: str, name: str) -> None:
        from zeroconf.asyncio import AsyncServiceInfo

        key = (session.interface, name.lower())
        info = AsyncServiceInfo(service_type, name)
        self.resolving[key] = info
        budget = max(0.0, min(RESOLVE_TIMEOUT, self.deadline - self.loop.time()))
        try:
            complete = await info.async_request(
                session.azc.zeroconf, budget * 1000, question_type=_qm()
            )
        finally:
            if self.pending.get(key) is asyncio.current_task():
                del self.pending[key]
                del self.resolving[key]
        if not complete:
            self.unresolved[key] = _why_unresolved(info, name, session.interface)
            return
        self.unresolved.pop(key, None)
        service = self.service_from_info(info, session)
        if service is None:
            return
        previous = self.live.get(key)
        if previous == service:
            return
        self.live[key] = service
        self.removed.pop(key, None)
        self.emit("added" if previous is None else "updated", service)

    def service_from_info(self, info: AsyncServiceInfo, session: _Session) -> MdnsService | None:
        label = f"{info.name} on {session.interface}"
        addresses = tuple(dict.fromkeys(info.parsed_scoped_addresses()))
        if not addresses or info.port is None:
            self.warn(f"{label}: skipped, the service has no address or port")
            return None
        txt, problems = decode_txt(info.properties, len(info.text or b""), label=label)
        for problem in problems:
            self.warn(problem)
        service = MdnsService(
            info.type, info.name, info.server, addresses, int(info.port), txt, session.interface
        )
        self.check_duplicate(service, session)
        return service

    def check_duplicate(self, service: MdnsService, session: _Session) -> None:
        """Warn when several hosts claim one instance name (probing should prevent it)."""
        from zeroconf import DNSService

        records = session.azc.zeroconf.cache.get_all_by_details(
            service.name, _DNS_TYPE_SRV, _DNS_CLASS_IN
        )
        claims = sorted(
            {f"{r.server.rstrip('.')}:{r.port}" for r in records if isinstance(r, DNSService)}
        )
        kept = f"{(service.server or '').rstrip('.')}:{service.port}"
        others = [c for c in claims if c.lower() != kept.lower()]
        if others:
            self.warn(
                f"{service.name} on {service.interface}: duplicate instance name, also claimed by "
                f"{', '.join(others)}; kept {kept} and skipped the others"
            )

    def emit(self, event: Event, service: MdnsService) -> None:
        self.last_change = self.loop.time()
        self.changed.set()
        if self.on_update is None or self.callback_error is not None:
            return
        try:
            self.on_update(event, service)
        except Exception as exc:  # re-raised by browse() once everything is closed
            self.callback_error = exc

    def device_count(self) -> int:
        return len(merge_services(self.live.values()))

    async def finish(self, sessions: list[_Session]) -> None:
        """Cancel resolves and browsers, close zeroconf, turn leftovers into warnings."""
        for key in list(self.pending):
            info = self.resolving.get(key)
            if info is not None:
                self.unresolved[key] = _why_unresolved(info, info.name, key[0], ended=True)
            self.cancel(key)
        by_interface = {s.interface: s for s in sessions}
        for service in self.live.values():
            # A second claim can arrive after the first resolve, without any browser event.
            self.check_duplicate(service, by_interface[service.interface])
        for session in sessions:
            for browser in session.browsers:
                await browser.async_cancel()
        await asyncio.gather(*(s.azc.async_close() for s in sessions), return_exceptions=True)
        for key, reason in self.unresolved.items():
            if key not in self.live:
                self.warn(reason)


def _why_unresolved(
    info: AsyncServiceInfo, name: str, interface: str, *, ended: bool = False
) -> str:
    if info.server and info.port is not None:
        return (
            f"{name} on {interface}: skipped, no address answered for host "
            f"{info.server.rstrip('.')}"
        )
    if ended:
        return f"{name} on {interface}: skipped, still resolving when the browse ended"
    return f"{name} on {interface}: skipped, the service did not answer a resolve"


async def browse(
    interfaces: list[str],
    types: list[str] | None = None,
    *,
    all_types: bool = False,
    timeout: float = 3.0,
    expect: int | None = None,
    quiet: float = 0.5,
    on_update: OnUpdate | None = None,
    stop: asyncio.Event | None = None,
) -> BrowseResult:
    """Browse DNS-SD services on the given interface addresses and resolve them.

    ``types`` defaults to every catalogue type; ``all_types`` also follows every type
    announced under ``_services._dns-sd._udp.local.``. The browse ends at ``timeout``, or
    once ``expect`` devices are known and nothing changed for ``quiet`` seconds, or when
    ``stop`` is set. ``on_update(event, service)`` sees "added", "updated" and "removed".
    """
    wanted = _check_arguments(
        interfaces, types, all_types=all_types, timeout=timeout, expect=expect, quiet=quiet
    )
    loop = asyncio.get_running_loop()
    state = _Browse(loop.time() + timeout, on_update)
    sessions: list[_Session] = []
    stop_waiter: asyncio.Task[Any] | None = None
    stopped_early = False
    try:
        for interface in dict.fromkeys(interfaces):
            sessions.append(_Session(interface, await open_zeroconf(interface)))
        for session in sessions:
            for service_type in wanted:
                state.follow(session, service_type)
            if all_types:
                state.follow(session, SERVICE_TYPE_ENUMERATION)
        if stop is not None:
            stop_waiter = loop.create_task(stop.wait())
            stop_waiter.add_done_callback(lambda _: state.changed.set())
        while state.callback_error is None:
            if stop is not None and stop.is_set():
                stopped_early = True
                break
            now = loop.time()
            wait = state.deadline - now
            if wait <= 0:
                break
            if expect is not None and state.device_count() >= expect:
                quiet_left = state.last_change + quiet - now
                if quiet_left <= 0:
                    stopped_early = True
                    break
                wait = min(wait, quiet_left)
            state.changed.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(state.changed.wait(), wait)
    finally:
        if stop_waiter is not None:
            stop_waiter.cancel()
        await state.finish(sessions)
    if state.callback_error is not None:
        raise state.callback_error
    live = sorted(state.live.values(), key=lambda s: (s.type, s.name.lower(), s.interface))
    return BrowseResult(
        services=tuple(live),
        devices=tuple(merge_services(live)),
        removed=tuple(state.removed.values()),
        warnings=tuple(state.warnings),
        types=tuple(sorted({t for s in sessions for t in s.types} - {SERVICE_TYPE_ENUMERATION})),
        stopped_early=stopped_early,
    )


def _check_arguments(
    interfaces: Sequence[str],
    types: Sequence[str] | None,
    *,
    all_types: bool,
    timeout: float,
    expect: int | None,
    quiet: float,
) -> list[str]:
    if not interfaces:
        raise UsageError("no interface to browse on", hint="use resolve_interfaces([]) for all")
    if not 0 < timeout <= MAX_TIMEOUT:
        raise UsageError(f"timeout must be above 0 and at most {MAX_TIMEOUT:g} s, not {timeout}")
    if quiet < 0:
        raise UsageError(f"quiet must not be negative, not {quiet}")
    if expect is not None and expect < 1:
        raise UsageError(f"expect must be at least 1, not {expect}")
    if types is None:
        return [] if all_types else catalogue_types()
    try:
        return list(dict.fromkeys(normalise_type(t) for t in types))
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
