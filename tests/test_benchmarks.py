"""The scripts in benchmarks/ start, and each one's exit status says whether it met its goal."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from typing import Any

import pytest

from tests.conftest import REPO

SCRIPTS = sorted((REPO / "benchmarks").glob("*.py"))
# Run every script's --help in one process: its imports (tests' peers, smartbuild modules) resolve.
HELP_ALL = """
import runpy, sys
for path in sys.argv[1:]:
    sys.argv = [path, "--help"]
    try:
        runpy.run_path(path, run_name="__main__")
    except SystemExit as exit_:
        assert exit_.code in (0, None), (path, exit_.code)
    print("OK", path)
"""


def test_every_benchmark_starts() -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)])}
    done = subprocess.run(
        [sys.executable, "-c", HELP_ALL, *map(str, SCRIPTS)],
        capture_output=True, text=True, env=env, timeout=120, cwd=REPO,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("OK ") == len(SCRIPTS)


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_every_benchmark_exits_with_its_verdict(script: Any) -> None:
    tree = ast.parse(script.read_text())
    (main,) = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "main"]
    assert isinstance(main.returns, ast.Name) and main.returns.id == "int", "main() -> int"
    tail = ast.unparse(tree.body[-1])
    passes_status = "SystemExit(main())" in tail or "sys.exit(main())" in tail
    assert passes_status, f"{script.name} must hand main()'s status to the shell: {tail}"


def test_sim_scale_misses_name_each_missed_target() -> None:
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        from sim_scale import misses
    finally:
        sys.path.pop(0)
    row = {"zones": 10, "modbus_devices": 25, "discovered": 25, "points_read": 100,
           "clean_stop": True, "discover_ms_per_device": 30.0, "read_ms_per_device": 17.0}  # fmt: skip
    large = {**row, "zones": 500, "discover_ms_per_device": 1.2, "read_ms_per_device": 1.2}
    assert misses([row, large]) == []
    slower = {**large, "read_ms_per_device": 40.0}
    assert misses([row, slower]) == [
        "read_ms_per_device grew from 17.0 at 10 zones to 40.0 at 500 (target <= 1.5x)"
    ]
    lost = {**large, "discovered": 24, "clean_stop": False}
    assert misses([row, lost]) == [
        "500 zones: discovered 24/25",
        "500 zones: nothing read or not stopped cleanly",
    ]
