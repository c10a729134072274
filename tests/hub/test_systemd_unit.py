"""examples/systemd/smartbuild-hub.service: what the hub needs from systemd, checked."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import EXAMPLES

UNIT = EXAMPLES / "systemd" / "smartbuild-hub.service"


def settings() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            out.setdefault(key, []).append(value)
    return out


def test_the_unit_asks_for_notify_watchdog_a_user_and_its_groups() -> None:
    unit = settings()
    assert unit["Type"] == ["notify"]
    assert int(unit["WatchdogSec"][0]) >= 10
    assert unit["User"] != ["root"] and unit["User"][0]
    assert set(unit["SupplementaryGroups"][0].split()) == {"dialout", "bluetooth"}
    assert unit["StateDirectory"] == ["smartbuild"]
    assert "SMARTBUILD_HOME=/var/lib/smartbuild" in unit["Environment"]
    # the stop timeout leaves room for the write in flight the hub waits for
    from smartbuild.hub.runner import STOP_WAIT_S

    assert int(unit["TimeoutStopSec"][0]) > STOP_WAIT_S


def test_its_commands_are_smartbuild_commands(run: Any) -> None:
    unit = settings()
    for key in ("ExecStart", "ExecReload"):
        args = shlex.split(unit[key][0])
        assert args[0].endswith("/bin/smartbuild")
        result = run(*args[1:], "--help")
        assert result.exit_code == 0, result.output


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_systemd_accepts_the_unit(tmp_path: Path) -> None:
    exe = Path(sys.executable).parent / "smartbuild"
    unit = tmp_path / "smartbuild-hub.service"
    unit.write_text(UNIT.read_text().replace("/opt/smartbuild/.venv/bin/smartbuild", str(exe)))
    done = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    problems = [line for line in done.stderr.splitlines() if "smartbuild-hub.service" in line]
    assert done.returncode == 0 and problems == [], done.stderr
