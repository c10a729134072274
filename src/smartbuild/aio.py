"""The one way into asyncio: click commands are synchronous and call run_sync."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


def run_sync(awaitable: Awaitable[T], *, debug: bool = False) -> T:
    """Run an awaitable on a fresh event loop and return its result.

    A fresh loop per call keeps library state (bleak, pymodbus clients) from leaking
    between commands and tests.
    """

    async def _main() -> T:
        return await awaitable

    return asyncio.run(_main(), debug=debug)
