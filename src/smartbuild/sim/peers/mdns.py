"""mDNS responder rig for tests, the simulator and benchmarks (loopback only by default).

One ``AsyncZeroconf`` pinned to one loopback address announces many services at once
(``cooperating_responders=True`` skips the ~1 s name probe per service). Run it in another
process with ``python -m smartbuild.sim.peers.mdns --examples``; it prints ``READY <n>`` once the
services are registered and stops on SIGTERM, SIGINT or end of stdin.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import os
import signal
import sys
from collections.abc import Awaitable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

from smartbuild.errors import SmartbuildError, UsageError
from smartbuild.sim.peers.mdns_announcements import (
    Announcement,
    TxtValue,
    catalogue_examples,
    garbage_announcements,
    spread,
    synthetic_announcements,
    with_tag,
)

# Re-exported: tests, benchmarks and the simulator import the whole rig from this module.
__all__ = [
    "Announcement",
    "MdnsResponder",
    "TxtValue",
    "catalogue_examples",
    "garbage_announcements",
    "main",
    "serve",
    "spread",
    "synthetic_announcements",
    "with_tag",
]

if TYPE_CHECKING:
    from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf


def _loopback_only(interface: str) -> str:
    if not ipaddress.ip_address(interface).is_loopback:
        raise UsageError(
            f"the mDNS rig announces on loopback only, not {interface}",
            hint="use an address in 127.0.0.0/8",
        )
    return interface


class MdnsResponder:
    """Announce many DNS-SD services from one zeroconf instance pinned to a loopback address."""

    def __init__(self, interface: str = "127.0.0.1") -> None:
        self.interface = _loopback_only(interface)
        self._azc: AsyncZeroconf | None = None
        self._infos: dict[str, AsyncServiceInfo] = {}
        self._announcements: dict[str, Announcement] = {}
        self._broadcasts: list[Awaitable[Any]] = []  # goodbyes still being sent
        # Announcements still being repeated, per service: a repeat after the goodbye would
        # bring a removed service back, so remove() cancels them.
        self._announcing: dict[str, list[Awaitable[Any]]] = {}

    async def __aenter__(self) -> MdnsResponder:
        from zeroconf import IPVersion
        from zeroconf.asyncio import AsyncZeroconf

        self._azc = AsyncZeroconf(interfaces=[self.interface], ip_version=IPVersion.V4Only)
        await self._azc.zeroconf.async_wait_for_start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def announcements(self) -> list[Announcement]:
        """Return what is announced now."""
        return list(self._announcements.values())

    def _zc(self) -> AsyncZeroconf:
        if self._azc is None:
            raise SmartbuildError("MdnsResponder is not started; use 'async with MdnsResponder()'")
        return self._azc

    async def add(self, *announcements: Announcement) -> None:
        """Register announcements concurrently (no name probing: the rig owns its names)."""
        azc = self._zc()
        batch: dict[str, AsyncServiceInfo] = {}
        for item in announcements:
            key = item.name.lower()
            if key in self._infos or key in batch:
                raise UsageError(
                    f"{item.name} is already announced by this responder",
                    hint="announce duplicate instance names from a second MdnsResponder",
                )
            batch[key] = _info(item)
            self._announcements[key] = item
        tasks = await asyncio.gather(
            *(azc.async_register_service(i, cooperating_responders=True) for i in batch.values())
        )
        self._infos.update(batch)
        for key, task in zip(batch, tasks, strict=True):
            self._announcing[key] = [task]

    async def remove(self, *items: Announcement | str) -> None:
        """Withdraw services (goodbye packets), by announcement or full instance name."""
        azc = self._zc()
        for item in items:
            key = (item.name if isinstance(item, Announcement) else item).lower()
            info = self._infos.pop(key, None)
            if info is None:
                raise UsageError(f"{key} is not announced by this responder")
            self._announcements.pop(key, None)
            _cancel(self._announcing.pop(key, []))
            _drop_queued_answers(azc, key)
            self._broadcasts.append(await azc.async_unregister_service(info))

    async def update_txt(
        self, item: Announcement | str, txt: Mapping[str | bytes, TxtValue]
    ) -> None:
        """Replace the TXT record of an announced service and re-announce it."""
        azc = self._zc()
        key = (item.name if isinstance(item, Announcement) else item).lower()
        if key not in self._infos:
            raise UsageError(f"{key} is not announced by this responder")
        old = self._announcements[key]
        new = Announcement(
            old.type, old.instance, old.host, old.port, dict(txt), old.addresses, old.rule
        )
        info = _info(new)
        self._infos[key] = info
        self._announcements[key] = new
        self._announcing.setdefault(key, []).append(await azc.async_update_service(info))

    async def close(self) -> None:
        """Send goodbyes for everything and close the socket."""
        if self._azc is None:
            return
        azc, self._azc = self._azc, None
        pending = [*self._broadcasts, *(t for ts in self._announcing.values() for t in ts)]
        _cancel(pending)
        await asyncio.gather(*pending, return_exceptions=True)
        self._broadcasts.clear()
        self._announcing.clear()
        await azc.async_close()
        self._infos.clear()
        self._announcements.clear()


def _drop_queued_answers(azc: AsyncZeroconf, name: str) -> None:
    """Forget answers about a service that zeroconf queued but has not sent yet.

    An answer to a query is computed when the query arrives and may wait in a queue for over
    a second (RFC 6762 §6 rate limit); sent after the goodbye it would bring the service back.
    """
    for queue in (
        getattr(azc.zeroconf, "out_queue", None),
        getattr(azc.zeroconf, "out_delay_queue", None),
    ):
        for group in getattr(queue, "queue", ()):
            for record in list(group.answers):
                if name in (record.name.lower(), str(getattr(record, "alias", "")).lower()):
                    del group.answers[record]


def _cancel(pending: Sequence[Awaitable[Any]]) -> None:
    for task in pending:
        if isinstance(task, asyncio.Future):
            task.cancel()


def _info(item: Announcement) -> AsyncServiceInfo:
    from zeroconf.asyncio import AsyncServiceInfo

    for key, value in item.txt.items():
        size = len(key if isinstance(key, bytes) else key.encode()) + (
            0 if value is None else 1 + len(value if isinstance(value, bytes) else value.encode())
        )
        if size > 255:  # one TXT string carries at most 255 bytes (RFC 6763 §6.1)
            raise UsageError(f"{item.name}: TXT entry {key!r} is {size} bytes, above 255")
    return AsyncServiceInfo(
        item.full_type,
        item.name,
        port=item.port,
        properties=dict(item.txt),
        server=item.server,
        parsed_addresses=list(item.addresses),
    )


async def serve(
    announcements: Sequence[Announcement],
    interface: str = "127.0.0.1",
    *,
    until_stdin_closes: bool = False,
) -> None:
    """Announce until SIGTERM or SIGINT (or end of stdin); print READY <n> once registered."""
    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, done.set)
    if until_stdin_closes:
        # A parent that dies without signalling still closes our stdin: no rig is left behind.
        fd = sys.stdin.fileno()

        def on_stdin() -> None:
            if not os.read(fd, 4096):
                loop.remove_reader(fd)
                done.set()

        loop.add_reader(fd, on_stdin)
    async with contextlib.AsyncExitStack() as responders:
        for group in spread(announcements):
            responder = await responders.enter_async_context(MdnsResponder(interface))
            await responder.add(*group)
        print(f"READY {len(announcements)}", flush=True)
        await done.wait()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the rig from the command line (see the module docstring)."""
    parser = argparse.ArgumentParser(
        prog="python -m smartbuild.sim.peers.mdns", description=__doc__
    )
    parser.add_argument("--examples", action="store_true", help="announce catalogue_examples()")
    parser.add_argument("--garbage", action="store_true", help="announce garbage_announcements()")
    parser.add_argument(
        "--synthetic", type=int, default=0, metavar="N", help="N Shelly-like devices"
    )
    parser.add_argument("--interface", default="127.0.0.1", help="loopback address to announce on")
    parser.add_argument("--tag", help="6 hex digits added to every name (see with_tag)")
    parser.add_argument(
        "--until-stdin-closes", action="store_true", help="also stop when stdin reaches its end"
    )
    args = parser.parse_args(argv)
    items: list[Announcement] = []
    if args.examples:
        items += catalogue_examples()
    if args.garbage:
        items += garbage_announcements()
    if args.synthetic:
        items += synthetic_announcements(args.synthetic)
    if not items:
        parser.error("nothing to announce: pass --examples, --garbage or --synthetic N")
    from smartbuild.aio import run_sync

    try:
        if args.tag:
            items = with_tag(items, args.tag)
        run_sync(
            serve(items, _loopback_only(args.interface), until_stdin_closes=args.until_stdin_closes)
        )
    except SmartbuildError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return int(exc.exit_status)
    return 0


if __name__ == "__main__":
    sys.exit(main())
