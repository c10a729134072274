"""The README's promises: two set-up commands, CI runs the test one, tour commands work."""

from __future__ import annotations

import re
import shlex

from tests.conftest import REPO

README = (REPO / "README.md").read_text()


def _setup_commands() -> list[str]:
    section = README.split("## Set up", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.+?)\n```", section, flags=re.S)


def test_exactly_two_setup_commands_and_ci_runs_the_test_one():
    commands = _setup_commands()
    assert len(commands) == 2, commands
    demo, tests = commands
    assert "smartbuild" in demo
    assert tests.rstrip().endswith(".venv/bin/pytest")
    ci = (REPO / ".ci" / "run").read_text()
    install = tests.rsplit("&&", 1)[0].strip()
    assert install in ci, "the CI must install exactly as the README says"
    assert ".venv/bin/pytest" in ci


def test_tour_commands_run(run, monkeypatch):
    monkeypatch.chdir(REPO)
    section = README.split("## A five-minute tour", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.+?)\n```", section, flags=re.S)
    assert block
    ran = 0
    for line in block.group(1).splitlines():
        command = line.split("#", 1)[0].strip()
        if not command.startswith("smartbuild ") or "sim" in command.split()[1:2]:
            continue
        args = shlex.split(command.split(">", 1)[0])[1:]
        result = run(*args)
        assert result.exit_code == 0, (command, result.output)
        ran += 1
    assert ran >= 5
