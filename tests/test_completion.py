"""Completion scripts are generated (and kept in sync); ids complete from the site file."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from smartbuild.commands.completion import SHELLS, completion_script
from tests.conftest import EXAMPLES, REPO


@pytest.mark.parametrize("shell", SHELLS)
def test_shipped_completion_scripts_are_current(shell):
    shipped = (REPO / "completions" / f"smartbuild.{shell}").read_text()
    assert shipped == completion_script(shell) + "\n", (
        f"completions/smartbuild.{shell} is stale: regenerate it with "
        f"`smartbuild completion {shell} > completions/smartbuild.{shell}`"
    )


def _complete(words: str, tmp_path) -> list[str]:
    env = dict(os.environ)
    env.update(
        {
            "_SMARTBUILD_COMPLETE": "bash_complete",
            "COMP_WORDS": words,
            "COMP_CWORD": str(len(words.split()) - (0 if words.endswith(" ") else 1)),
            "SMARTBUILD_HOME": str(tmp_path),
        }
    )
    done = subprocess.run(
        [sys.executable, "-m", "smartbuild"], capture_output=True, text=True, env=env, timeout=60
    )
    return [line.split(",", 1)[1] for line in done.stdout.splitlines() if "," in line]


def test_commands_and_devices_complete_without_network(tmp_path):
    assert "templates" in _complete("smartbuild tem", tmp_path)
    words = f"smartbuild --site {EXAMPLES / 'site.yaml'} log --device th-f1"
    assert _complete(words, tmp_path) == ["th-f1-office", "th-f1-meeting"]
    words = f"smartbuild log --site {EXAMPLES / 'site.yaml'} --json --device th-f1"  # globals after
    assert _complete(words, tmp_path) == ["th-f1-office", "th-f1-meeting"]
    assert "acme-th200" in _complete("smartbuild templates show acme", tmp_path)
