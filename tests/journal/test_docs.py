"""docs/journal.md: its commands run, its names exist, its outcome table matches `log`."""

from __future__ import annotations

import re
import shlex

from smartbuild.commands.log import KIND_STYLES
from smartbuild.journal import Journal, store
from tests.conftest import REPO

DOC = (REPO / "docs" / "journal.md").read_text()


def test_the_documented_log_commands_run(run, isolated_home):
    journal = Journal(isolated_home)
    journal.start_run("3fa2c1d0", "profile apply office.yaml")
    journal.add_entry("3fa2c1d0", "intent", device="th-1", point="heating_setpoint", requested=21)
    journal.add_entry("3fa2c1d0", "written", device="th-1", point="heating_setpoint", after=21)
    block = re.search(r"```sh\n(.+?)\n```", DOC, flags=re.S)
    assert block
    ran = 0
    for line in block.group(1).splitlines():
        args = shlex.split(line.split("#", 1)[0])
        assert args[0] == "smartbuild"
        result = run(*args[1:])
        assert result.exit_code == 0, (line, result.output)
        assert "th-1" in result.stdout or "3fa2c1d0" in result.stdout, line
        ran += 1
    assert ran == 5


def test_every_documented_kind_is_rendered_by_log():
    table = DOC.split("| kind | meaning |", 1)[1].split("\n\n", 1)[0]
    kinds = re.findall(r"^\| `(\w+)` \|", table, flags=re.M)
    assert kinds == ["intent", "written", "unchanged", "refused", "rejected", "unknown",
                     "reverted", "conflict"]  # fmt: skip
    assert set(kinds) <= set(KIND_STYLES)
    for legacy in re.findall(
        r"`(\w+)`", DOC.split("Journals of v0.1 also hold", 1)[1].split(";", 1)[0]
    ):
        assert legacy in KIND_STYLES


def test_documented_names_exist():
    assert f"`${store.WAIT_ENV}` seconds (default {store.DEFAULT_WAIT_S:g})" in DOC
    code = DOC.split("```python", 1)[1].split("```", 1)[0]
    for name in re.findall(r"journal\.(\w+)\(", code):
        assert callable(getattr(Journal, name)), name
