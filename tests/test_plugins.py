"""Plugins: builtins, installed entry points, the allowlist, broken plugins, documented hooks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest

from smartbuild import hookspecs
from smartbuild.services.plugins import BUILTINS
from tests.conftest import REPO

HOOKS = sorted(
    name for name in dir(hookspecs) if hasattr(getattr(hookspecs, name), "smartbuild_spec")
)


def smartbuild(
    *args: str, env: dict[str, str] | None = None, home: Path
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k != "SMARTBUILD_LOAD_PLUGINS"}
    base["SMARTBUILD_HOME"] = str(home)
    base["SMARTBUILD_NO_CACHE"] = "1"
    base.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "smartbuild", *args],
        capture_output=True,
        text=True,
        env=base,
        timeout=60,
    )


def test_hooks_are_few_and_documented():
    docs = (REPO / "docs" / "plugins.md").read_text()
    assert 0 < len(HOOKS) <= 8
    for name in HOOKS:
        assert f"`{name}(" in docs, f"hook {name} is not documented in docs/plugins.md"
        assert getattr(hookspecs, name).__doc__.strip(), name


def test_builtins_are_listed(run):
    result = run("--json", "plugins")
    assert result.exit_code == 0, result.output
    plugins = json.loads(result.stdout)["plugins"]
    assert [p["name"] for p in plugins][: len(BUILTINS)] == list(BUILTINS)
    assert all(p["builtin"] for p in plugins)
    identify = next(p for p in plugins if p["name"] == "smartbuild.services.identify")
    assert identify["hooks"] == ["identify_device"]
    modbus = next(p for p in plugins if p["name"] == "smartbuild.transports.modbus")
    assert modbus["hooks"] == ["register_transports"]


def _require_hello() -> None:
    try:
        version("smartbuild-hello")
    except PackageNotFoundError:
        pytest.fail("examples/plugin-hello is not installed: use the README's test command")


def test_installed_plugin_adds_a_command_and_a_template(tmp_path):
    _require_hello()
    done = smartbuild("hello", "--name", "Ada", home=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "hello, Ada!" in done.stdout
    done = smartbuild("--json", "templates", "show", "hello-relay", home=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["_plugin"] == "hello"
    done = smartbuild("--json", "plugins", home=tmp_path)
    hello = next(p for p in json.loads(done.stdout)["plugins"] if p["name"] == "hello")
    assert hello == {
        "name": "hello",
        "version": "1.0.0",
        "builtin": False,
        "distribution": "smartbuild-hello",
        "hooks": ["register_commands", "register_device_templates"],
    }
    assert "hello" in smartbuild("--help", home=tmp_path).stdout


def test_allowlist_controls_installed_plugins(tmp_path):
    _require_hello()
    done = smartbuild("--json", "plugins", env={"SMARTBUILD_LOAD_PLUGINS": ""}, home=tmp_path)
    assert "hello" not in [p["name"] for p in json.loads(done.stdout)["plugins"]]
    done = smartbuild("hello", env={"SMARTBUILD_LOAD_PLUGINS": ""}, home=tmp_path)
    assert done.returncode == 2
    done = smartbuild("hello", env={"SMARTBUILD_LOAD_PLUGINS": "smartbuild-hello"}, home=tmp_path)
    assert done.returncode == 0, done.stderr


def _fake_distribution(root: Path, name: str, module_source: str) -> None:
    dist = root / f"{name}-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[smartbuild]\n{name} = {name}_mod\n")
    (root / f"{name}_mod.py").write_text(textwrap.dedent(module_source))


def test_broken_plugin_warns_and_smartbuild_still_works(tmp_path):
    site = tmp_path / "site"
    _fake_distribution(site, "broken", "import does_not_exist_anywhere\n")
    _fake_distribution(
        site,
        "typo",
        """\
        import pluggy
        hookimpl = pluggy.HookimplMarker("smartbuild")

        @hookimpl
        def register_transportz(register):
            pass
        """,
    )
    env = {"PYTHONPATH": str(site), "SMARTBUILD_LOAD_PLUGINS": "broken,typo"}
    done = smartbuild("--json", "plugins", env=env, home=tmp_path / "home")
    assert done.returncode == 0, done.stderr
    assert "plugin 'broken' failed to load: ModuleNotFoundError" in done.stderr
    assert "SMARTBUILD_LOAD_PLUGINS" in done.stderr and "pip uninstall broken" in done.stderr
    assert "plugin 'typo' failed to load" in done.stderr and "register_transportz" in done.stderr
    data = json.loads(done.stdout)
    assert {p["name"] for p in data["plugins"]} == set(BUILTINS)
    assert len(data["failures"]) == 2


def test_registry_records_provenance(run):
    from smartbuild.services.plugins import get_plugin_manager
    from smartbuild.services.registry import build_registry

    registry = build_registry(get_plugin_manager())
    entry = registry.templates["acme-th200"]
    assert entry.plugin == "smartbuild.templates"
    assert entry.version


def test_global_options_work_after_a_plugin_command(tmp_path):
    env = {"SMARTBUILD_LOAD_PLUGINS": "smartbuild-hello"}
    done = smartbuild("hello", "--name", "lobby", "-q", "--json", env=env, home=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "hello, lobby!" in done.stdout
    done = smartbuild("hello", "--site", env=env, home=tmp_path)
    assert done.returncode == 2
    assert "Option '--site' requires an argument" in done.stderr
