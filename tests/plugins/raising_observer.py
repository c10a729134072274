"""A broken observer plugin: it raises on every intent (the journal must not care)."""

from __future__ import annotations

from typing import Any

from smartbuild.hookspecs import hookimpl


@hookimpl
def track_event(event: Any, session: Any) -> None:
    """Fail on intents."""
    if event.kind == "intent":
        raise RuntimeError("observer exploded")
