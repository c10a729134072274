"""Run the hub's faces (the routine engine, the MQTT bridge): supervised, restarted with backoff.

Faces come from ``Hub(faces=[...])`` or from installed packages: an entry point in the group
``smartbuild.hub_faces`` names a callable that returns a face (a class works). The plugin
allowlist ``SMARTBUILD_LOAD_PLUGINS`` applies to them as to every plugin.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from smartbuild.hub.face import Face, HubContext

ENTRY_POINT_GROUP = "smartbuild.hub_faces"
BACKOFF_START_S = 1.0
BACKOFF_MAX_S = 60.0
STABLE_S = 60.0  # a face that ran this long before failing starts its backoff over


def load_faces(warn: Callable[[str], None]) -> list[Face]:
    """Return the faces installed packages provide (a broken one is a warning, not a crash)."""
    from importlib.metadata import entry_points

    from smartbuild.services.plugins import allowlist

    allowed = allowlist()
    faces: list[Face] = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        dist = ep.dist.name if ep.dist is not None else None
        if allowed is not None and ep.name not in allowed and dist not in allowed:
            continue
        try:
            faces.append(ep.load()())
        except Exception as error:
            warn(
                f"hub face {ep.name!r} from {dist} failed to load: {type(error).__name__}: {error}"
            )
    return faces


@dataclass
class FaceState:
    """How one face is doing, for ``hub status``."""

    name: str
    state: str = "starting"  # starting | running | backoff | finished
    restarts: int = 0
    last_error: str | None = None
    errors: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """Return the state as JSON-ready data."""
        return {"state": self.state, "restarts": self.restarts, "last_error": self.last_error}


async def supervise(
    face: Face, ctx: HubContext, state: FaceState, report: Callable[[str], None]
) -> None:
    """Run a face until it returns or is cancelled; report each failure and restart it with backoff."""
    backoff = BACKOFF_START_S
    while True:
        state.state = "running"
        started = time.monotonic()
        try:
            await face.run(ctx)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            if time.monotonic() - started > STABLE_S:
                backoff = BACKOFF_START_S
            state.restarts += 1
            state.last_error = f"{type(error).__name__}: {error}"
            state.state = "backoff"
            report(f"face {state.name!r} failed ({state.last_error}); restarting in {backoff:g} s")
            await asyncio.sleep(backoff)
            backoff = min(BACKOFF_MAX_S, backoff * 2)
            continue
        state.state = "finished"
        return
