"""Start-up budget: `smartbuild --help` against a minimal click application, in the same run.

Prints median wall times over N runs, the ratio to the bare click app (target <= 1.25x), the ratio
to `python -c pass`, and the peak RSS of `smartbuild --help`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET = 1.25  # smartbuild --help may cost at most 25 % more than a minimal click app

MINIMAL_CLICK = '''
import click

@click.group()
def cli():
    """A minimal click application."""

@cli.command()
def hello():
    """Say hello."""

cli(["--help"])
'''


def _time(argv: list[str], runs: int, env: dict[str, str]) -> list[float]:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(
            argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=True
        )
        samples.append(time.perf_counter() - start)
    return samples


def _peak_rss_kib(argv: list[str], env: dict[str, str]) -> int:
    pid = os.fork()
    if pid == 0:  # child: exec the command and let the parent read its rusage
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        os.execve(argv[0], argv, env)
    _, _, usage = os.wait4(pid, 0)
    return int(usage.ru_maxrss)


def main() -> int:
    """Run the benchmark, print a small report; exit 1 when the target is missed."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        # every installed plugin is allowed (the realistic case); the home holds the command index
        env = {k: v for k, v in os.environ.items() if k != "SMARTBUILD_LOAD_PLUGINS"}
        env["SMARTBUILD_HOME"] = str(Path(tmp) / "home")
        app = Path(tmp) / "minimal_click.py"
        app.write_text(MINIMAL_CLICK)
        py = sys.executable
        script = str(Path(sys.executable).with_name("smartbuild"))
        commands = {
            "python -c pass": [py, "-c", "pass"],
            "minimal click --help": [py, str(app)],
            "smartbuild --help": [script, "--help"],
            "smartbuild --version": [script, "--version"],
            "python -m smartbuild --help": [py, "-m", "smartbuild", "--help"],
        }
        for argv in commands.values():  # warm the page cache and .pyc files
            subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        medians = {}
        # interleave the commands so that machine noise hits them alike
        samples: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.runs):
            for name, argv in commands.items():
                samples[name].extend(_time(argv, 1, env))
        for name in commands:
            medians[name] = statistics.median(samples[name])
        rss = _peak_rss_kib([script, "--help"], env)
        rss_click = _peak_rss_kib([py, str(app)], env)
    base = medians["minimal click --help"]
    print(f"{'command':<24} {'median ms':>10} {'vs click':>9} {'vs python':>10}")
    for name, value in medians.items():
        print(
            f"{name:<24} {value * 1000:>10.1f} {value / base:>8.2f}x "
            f"{value / medians['python -c pass']:>9.2f}x"
        )
    ratio = medians["smartbuild --help"] / base
    met = ratio <= TARGET
    print(f"\nsmartbuild --help / minimal click --help = {ratio:.2f}x "
          f"(target <= {TARGET}x: {'met' if met else 'NOT met'})")  # fmt: skip
    print(
        f"peak RSS: smartbuild --help {rss / 1024:.1f} MiB, minimal click {rss_click / 1024:.1f} MiB"
    )
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
