"""Shell-completion callbacks: read the site file's keys only (no network, no validation)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click
from click.shell_completion import CompletionItem


def _site_keys(ctx: click.Context, section: str) -> list[str]:
    root = ctx.find_root()
    path = root.params.get("site") or os.environ.get("SMARTBUILD_SITE") or "site.yaml"
    try:
        import yaml

        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        return [str(k) for k in (data.get(section) or {})]
    except Exception:  # completion must never fail loudly
        return []


def complete_device(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    """Complete device ids from the site file."""
    return [CompletionItem(d) for d in _site_keys(ctx, "devices") if d.startswith(incomplete)]


def complete_zone(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    """Complete zone ids from the site file."""
    return [CompletionItem(z) for z in _site_keys(ctx, "zones") if z.startswith(incomplete)]


def complete_template(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    """Complete template names from the registered template files."""
    try:
        from smartbuild.plugins import get_plugin_manager
        from smartbuild.registry import build_registry

        names = build_registry(get_plugin_manager()).templates
    except Exception:
        return []
    return [CompletionItem(n) for n in names if n.startswith(incomplete)]
