"""Shipped device templates (YAML files beside this module) and the template loader."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any

from smartbuild.hookspecs import hookimpl

if TYPE_CHECKING:
    from smartbuild.config.schema import Template

TEMPLATE_DIR = Path(__file__).parent


@hookimpl
def register_device_templates(register: Any) -> None:
    """Register the templates shipped with smartbuild."""
    register(TEMPLATE_DIR)


@functools.lru_cache(maxsize=512)
def _load(path: str, mtime_ns: int) -> Template:
    from smartbuild.config.locate import load_model
    from smartbuild.config.schema import Template

    template, _doc = load_model(Template, path)
    return template


def load_template(path: str | Path) -> Template:
    """Load and validate one template file (cached while the file is unchanged)."""
    from smartbuild.errors import ConfigError, Problem

    p = Path(path)
    try:
        mtime = p.stat().st_mtime_ns
    except OSError:
        raise ConfigError(Problem("file not found", file=str(p))) from None
    return _load(str(p), mtime)
