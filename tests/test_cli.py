"""The CLI shell: lazy commands, global options, error boundary, start-up imports."""

from __future__ import annotations

import json
import subprocess
import sys

import click
import pytest

from smartbuild.cli import COMMANDS, cli

HEAVY = (
    "pymodbus",
    "bleak",
    "zeroconf",
    "bacpypes3",
    "dbus_fast",
    "pydantic",
    "sqlite3",
    "pluggy",
    "rich",
    "yaml",
)


def test_help_lists_every_builtin_command(run):
    result = run("--help")
    assert result.exit_code == 0, result.output
    flat = " ".join(result.output.split())
    for name, (_, _, help_) in COMMANDS.items():
        assert f" {name} " in flat
        assert help_ in flat


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_lazy_help_matches_the_command_docstring(name):
    module, attr, help_ = COMMANDS[name]
    import importlib

    command = getattr(importlib.import_module(module), attr)
    assert isinstance(command, click.Command)
    assert command.get_short_help_str(limit=200) == help_


def test_version(run):
    result = run("--version")
    assert result.exit_code == 0
    assert "smartbuild" in result.output


@pytest.mark.parametrize("args", [["--help"], ["--version"]])
def test_help_and_version_import_no_heavy_library(args, tmp_path):
    code = (
        "import sys\n"
        "from smartbuild.cli import main\n"
        f"try:\n    main({args!r})\nexcept SystemExit:\n    pass\n"
        f"print('LOADED', sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    env = {"SMARTBUILD_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    # a second run uses the plugin command index and must not even import pluggy
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert "LOADED []" in done.stdout, done.stdout


def test_unknown_command_is_a_usage_error(run):
    result = run("frobnicate")
    assert result.exit_code == 2


def test_json_error_goes_to_stdout_as_json(run, tmp_path):
    missing = tmp_path / "nope.yaml"
    result = run("--json", "validate", str(missing))
    assert result.exit_code == 2
    data = json.loads(result.stdout)
    assert data["ok"] is False
    assert "file not found" in data["files"][0]["problems"][0]


def test_internal_errors_have_no_traceback_without_flag(run, monkeypatch):
    import smartbuild.commands.schema as schema_mod

    def boom(kind):
        raise RuntimeError("kaput")

    monkeypatch.setattr(schema_mod, "json_schema", boom)
    result = run("schema", "site")
    assert result.exit_code == 1
    assert "internal error: RuntimeError: kaput" in result.stderr
    assert "Traceback" not in result.stderr
    result = run("--traceback", "schema", "site")
    assert isinstance(result.exception, RuntimeError)


def test_python_dash_m_entry_point(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "smartbuild", "--version"],
        capture_output=True,
        text=True,
        env={"SMARTBUILD_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0
    assert "smartbuild" in done.stdout


def test_root_group_is_click_group():
    assert isinstance(cli, click.Group)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--json", "read", "--bogus"], "No such option '--bogus'"),
        (["--json", "write", "th", "heating_setpoint"], "Missing argument 'VALUE'"),
        (["--json", "frobnicate"], "No such command 'frobnicate'"),
        (["--json", "--bogus", "devices"], "No such option '--bogus'"),
        (["--json", "profile", "plan"], "Missing argument 'PROFILE'"),
        (["--json", "log", "--since"], "'--since' requires an argument"),
    ],
)
def test_json_usage_errors_are_one_json_document_on_stdout(run, args, message):
    result = run(*args)
    assert result.exit_code == 2, result.output
    data = json.loads(result.stdout)  # exactly one document, nothing else on stdout
    assert data["error"] == "UsageError" and data["exit_status"] == 2
    assert message in data["message"]
    assert "Error:" in result.stderr  # people still get click's message on stderr


def test_usage_errors_without_json_leave_stdout_empty(run):
    result = run("read", "--bogus")
    assert result.exit_code == 2
    assert result.stdout == ""


def test_internal_error_with_json_is_a_json_document(run, monkeypatch):
    import smartbuild.commands.schema as schema_mod

    def boom(kind):
        raise RuntimeError("kaput")

    monkeypatch.setattr(schema_mod, "json_schema", boom)
    result = run("--json", "schema", "site")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["error"] == "InternalError" and "kaput" in data["message"]
    assert "Traceback" not in result.stderr


def _hoist(*args: str) -> list[str]:
    from smartbuild.cli import hoist_global_options

    with click.Context(cli) as ctx:
        return hoist_global_options(cli, ctx, list(args))


@pytest.mark.parametrize(
    ("args", "hoisted"),
    [
        (["read", "th", "--json"], ["--json", "read", "th"]),
        (["read", "th", "-vv", "-q"], ["-vv", "-q", "read", "th"]),
        (
            ["profile", "plan", "p", "--site", "s.yaml"],
            ["--site", "s.yaml", "profile", "plan", "p"],
        ),
        (["log", "--home=h", "--no-color"], ["--home=h", "--no-color", "log"]),
        (["--json", "devices", "--traceback"], ["--json", "--traceback", "devices"]),
        # the value of a command's own option stays with it, even when it looks like a global one
        (["log", "--device", "--json"], ["log", "--device", "--json"]),
        # nothing after -- moves
        (["templates", "show", "--", "--json"], ["templates", "show", "--", "--json"]),
        # an unknown command: click reports it with the arguments as typed
        (["reed", "th", "--json"], ["reed", "th", "--json"]),
    ],
)
def test_global_options_after_the_command_are_hoisted(args, hoisted):
    assert _hoist(*args) == hoisted


def test_a_global_option_without_its_value_is_a_usage_error(run):
    result = run("devices", "--site")
    assert result.exit_code == 2
    assert "Option '--site' requires an argument" in result.stderr


def test_global_options_work_after_builtin_commands_and_nested_groups(run, tmp_path):
    from tests.conftest import EXAMPLES

    site = str(EXAMPLES / "site.yaml")
    result = run("devices", "--site", site, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["site"] == "example-hq"
    result = run("profile", "list", "--json", "-q")  # a nested group's command
    assert result.exit_code == 0, result.output
    assert "office-en16798-cat2" in {p["profile"] for p in json.loads(result.stdout)["profiles"]}
    home = tmp_path / "elsewhere"
    result = run("log", "--home", str(home), "--json", "--no-color")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["runs"] == []
    assert (home / "journal.db").exists()
    result = run("templates", "show", "--", "--json")  # after --, "--json" is a template name
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "'--json'" in result.stderr


def test_json_version_is_json_wherever_json_is(run):
    for args in (["--json", "--version"], ["--version", "--json"]):
        result = run(*args)
        assert result.exit_code == 0, result.output
        from smartbuild import __version__

        assert json.loads(result.stdout) == {"name": "smartbuild", "version": __version__}


def test_a_misspelled_command_gets_a_suggestion(run):
    result = run("reed", "th-z01")
    assert result.exit_code == 2
    assert "No such command 'reed'. Did you mean 'read'?" in result.stderr
    result = run("--json", "templats", "list")
    assert result.exit_code == 2
    assert "Did you mean 'templates'?" in json.loads(result.stdout)["message"]
    result = run("frobnicate")
    assert "Did you mean" not in result.stderr


def test_a_command_option_without_its_value_is_left_to_click(run):
    result = run("log", "--device")
    assert result.exit_code == 2
    assert "Option '--device' requires an argument" in result.stderr
