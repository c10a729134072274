"""The hooks a smartbuild plugin can implement (pluggy project name "smartbuild").

Every hook here is documented in docs/plugins.md; tests/test_plugins.py fails when one is not.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from pathlib import Path

    import click

    from smartbuild.config.schema import Site, Template
    from smartbuild.model.device import Candidate, Device
    from smartbuild.model.events import Event
    from smartbuild.profiles.planner import PlannedAction
    from smartbuild.transports.base import Transport

hookspec = pluggy.HookspecMarker("smartbuild")
hookimpl = pluggy.HookimplMarker("smartbuild")


@hookspec
def register_commands(cli: click.Group) -> None:
    """Add click commands or groups to the smartbuild command line."""


@hookspec
def register_transports(register: Callable[[str, type[Transport]], None]) -> None:
    """Register transport classes (each names its family) with ``register(name, cls)``."""


@hookspec
def register_device_templates(register: Callable[[str | Path], None]) -> None:
    """Register device templates with ``register(path_or_directory)``."""


@hookspec(firstresult=True)
def identify_device(
    candidate: Candidate, templates: Mapping[str, Template]
) -> tuple[str, str] | None:
    """Return (template name, how it matched) for a discovered candidate, or None."""


@hookspec
def check_action(action: PlannedAction, device: Device, site: Site) -> list[str] | None:
    """Return a list of reasons that must block a planned write (a safety veto)."""


@hookspec
def track_event(event: Event, session: Any) -> None:
    """Observe an event after the journal has recorded it (errors are reported, never fatal)."""
