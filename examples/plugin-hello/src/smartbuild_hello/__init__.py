"""A tiny smartbuild plugin: adds `smartbuild hello` and a device template."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from smartbuild.hookspecs import hookimpl


@click.command()
@click.option("--name", default="building", help="Who to greet.")
def hello(name: str) -> None:
    """Say hello from a third-party plugin."""
    click.echo(f"hello, {name}! (from the smartbuild-hello plugin)")


@hookimpl
def register_commands(cli: Any) -> None:
    """Add the hello command."""
    cli.add_command(hello)


@hookimpl
def register_device_templates(register: Any) -> None:
    """Register this plugin's templates."""
    register(Path(__file__).parent / "templates")
