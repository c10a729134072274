"""The hooks a smartbuild plugin can implement (pluggy project name "smartbuild").

Every hook here is documented in docs/plugins.md; tests/test_hookspecs.py fails when one is not.
"""

from __future__ import annotations

from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("smartbuild")
hookimpl = pluggy.HookimplMarker("smartbuild")


@hookspec
def register_commands(cli: Any) -> None:
    """Add click commands or groups to the smartbuild command line."""


@hookspec
def register_transports(register: Any) -> None:
    """Register transport classes with ``register(name, transport_class)``."""


@hookspec
def register_device_templates(register: Any) -> None:
    """Register device templates with ``register(path_or_directory)``."""


@hookspec
def register_profile_actions(register: Any) -> None:
    """Register kinds of profile action with ``register(name, action)``."""


@hookspec(firstresult=True)
def identify_device(candidate: Any, templates: Any) -> Any:
    """Return the template match for a discovered candidate, or None to let others try."""


@hookspec
def check_action(action: Any, device: Any, site: Any) -> Any:
    """Return a list of reasons that must block a planned write (a safety veto)."""


@hookspec
def track_event(event: Any, app: Any) -> None:
    """Observe a discovered, planned, applied, failed or rolled-back event."""
