"""The one way into asyncio: click commands are synchronous and call run_sync."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable
from typing import Any, TypeVar

T = TypeVar("T")
log = logging.getLogger("smartbuild.aio")


def _quiet_handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """Keep library-internal loop errors out of people's output (-vv shows them).

    A device sending a malformed frame makes pymodbus's protocol raise inside data_received; asyncio
    then prints a full traceback of its own. The request itself still fails with a clear per-device
    error (the connection is closed), so the traceback only adds noise.
    """
    if int(os.environ.get("SMARTBUILD_VERBOSE", "0")) > 1:
        loop.default_exception_handler(context)
    else:
        log.debug("event loop: %s", context.get("message"), exc_info=context.get("exception"))


def run_sync(awaitable: Awaitable[T], *, debug: bool = False) -> T:
    """Run an awaitable on a fresh event loop and return its result.

    A fresh loop per call keeps library state (bleak, pymodbus clients) from leaking
    between commands and tests.
    """

    async def _main() -> T:
        asyncio.get_running_loop().set_exception_handler(_quiet_handler)
        return await awaitable

    return asyncio.run(_main(), debug=debug)
