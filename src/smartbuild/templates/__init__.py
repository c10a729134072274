"""Shipped device templates (YAML files beside this module), registered as a builtin plugin."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from smartbuild.hookspecs import hookimpl

TEMPLATE_DIR = Path(__file__).parent


@hookimpl
def register_device_templates(register: Any) -> None:
    """Register the templates shipped with smartbuild."""
    register(TEMPLATE_DIR)
