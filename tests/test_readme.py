"""The README's promises: two set-up commands, and CI runs the test one (tests/test_docs.py runs the tour)."""

from __future__ import annotations

import re

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
    assert "comfort" in install, "the PMV tests need the [comfort] extra"
