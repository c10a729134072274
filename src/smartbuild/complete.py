"""Shell-completion callbacks: read the site file's keys only (no network, no validation)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click
from click.shell_completion import CompletionItem


def _site_path(ctx: click.Context) -> str:
    root = ctx.find_root()
    return str(root.params.get("site") or os.environ.get("SMARTBUILD_SITE") or "site.yaml")


def _site_keys(ctx: click.Context, section: str) -> list[str]:
    path = _site_path(ctx)
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
        from smartbuild.cli import default_home
        from smartbuild.services.session import Session

        home = ctx.find_root().params.get("home") or default_home()  # its config cache, not ./
        names = Session(_site_path(ctx), home).full_registry().templates
    except Exception:
        return []
    return [CompletionItem(n) for n in names if n.startswith(incomplete)]
