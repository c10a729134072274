"""A third-party safety veto, loaded with SMARTBUILD_PLUGIN_MODULES: no cooling below 25 °C."""

from __future__ import annotations

from typing import Any

from smartbuild.hookspecs import hookimpl


@hookimpl
def check_action(action: Any, device: Any, site: Any) -> list[str]:
    """Block cooling setpoints below 25 °C."""
    if action.role == "cooling_setpoint" and action.target is not None and action.target < 25:
        return [f"site policy: no cooling below 25 °C in {site.site}"]
    return []
