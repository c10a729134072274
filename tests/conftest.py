"""Shared fixtures: an isolated home per test, builtins-only plugins, a CLI runner."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point SMARTBUILD_HOME at a temp dir and load only builtin plugins."""
    home = tmp_path / "home"
    monkeypatch.setenv("SMARTBUILD_HOME", str(home))
    monkeypatch.setenv("SMARTBUILD_LOAD_PLUGINS", "")
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.delenv("SMARTBUILD_SITE", raising=False)
    monkeypatch.setenv("COLUMNS", "200")

    yield home


@pytest.fixture
async def private_bus(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Any]:
    """Start a private dbus-daemon and point bleak (DBUS_SYSTEM_BUS_ADDRESS) at it."""
    from smartbuild.sim.peers.dbusd import PrivateBus

    async with PrivateBus() as bus:
        monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", bus.address)
        yield bus


@pytest.fixture
async def bluez(private_bus: Any) -> AsyncIterator[Any]:
    """Run the BlueZ-compatible service on the private bus."""
    from smartbuild.sim.peers.bluez import BlueZService

    async with BlueZService(private_bus.address) as service:
        yield service


class Cli:
    """Invoke smartbuild in-process with click's CliRunner."""

    def __init__(self) -> None:
        self.runner = CliRunner()

    def __call__(
        self, *args: str, input: str | None = None, env: dict[str, str] | None = None
    ) -> Result:
        from smartbuild.cli import cli

        return self.runner.invoke(cli, list(args), input=input, env=env, catch_exceptions=True)


@pytest.fixture
def run() -> Cli:
    """Return a callable that runs the CLI and returns click's Result."""
    return Cli()


@pytest.fixture
def chdir_tmp(tmp_path: Path) -> Iterator[Path]:
    """Run the test inside tmp_path."""
    old = os.getcwd()
    os.chdir(tmp_path)
    try:
        yield tmp_path
    finally:
        os.chdir(old)


def pytest_configure(config: pytest.Config) -> None:
    """Select the hypothesis profile (ci: thousands of cases; deep: 30,000; dev: quick)."""
    from hypothesis import settings

    settings.register_profile("ci", max_examples=1500, deadline=None)
    # deep: 6,000 cases for each of the five mutation tests (30,000 in all), run by hand
    settings.register_profile("deep", max_examples=6000, deadline=None)
    settings.register_profile("dev", max_examples=150, deadline=None)
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))
