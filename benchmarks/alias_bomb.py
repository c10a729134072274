"""Alias bomb: the time to refuse a 324-byte "billion laughs" document vs loading a normal site.

The bomb is nine levels of nine aliases (9^9 strings once expanded); the loader must refuse it
before building anything. The baseline, measured in the same run, is loading and validating a
site file of similar size (three devices, the same loader). Prints best-of-N times and their
ratio; exits 1 when the refusal takes more than 50 ms or more than 20x the normal load.
Run: `.venv/bin/python benchmarks/alias_bomb.py`.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

from smartbuild.config.locate import load_model  # noqa: E402
from smartbuild.config.schema import Site  # noqa: E402
from smartbuild.errors import ConfigError  # noqa: E402

BOMB = "".join(
    f"{name}: &{name} [{','.join([f'*{prev}'] * 9) if prev else ','.join(['lol'] * 9)}]\n"
    for prev, name in zip(["", *"abcdefgh"], "abcdefghi", strict=True)
)
SITE = """\
site: hq
timezone: Europe/Berlin
zones:
  f1: {building: main, floor: 1, tags: [office]}
devices:
  th-1: {template: acme-th200, transport: modbus-tcp, address: "127.0.1.10:5020", unit: 1, zone: f1}
  th-2: {template: acme-th200, transport: modbus-tcp, address: "127.0.1.11:5020", unit: 1, zone: f1}
"""
LIMIT_S = 0.050
LIMIT_RATIO = 20.0


def best_of(fn: Callable[[], None], runs: int) -> tuple[float, float]:
    """Return the best and median wall time of runs calls (GC collected before, paused during)."""
    samples = []
    for _ in range(runs):
        gc.collect()
        gc.disable()
        try:
            start = time.perf_counter()
            fn()
            samples.append(time.perf_counter() - start)
        finally:
            gc.enable()
    return min(samples), statistics.median(samples)


def main() -> int:
    """Measure, print, and return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        bomb, site = Path(folder) / "bomb.yaml", Path(folder) / "site.yaml"
        bomb.write_text(BOMB)
        site.write_text(SITE)

        def load_site() -> None:
            load_model(Site, str(site))

        def refuse_bomb() -> None:
            try:
                load_model(Site, str(bomb))
            except ConfigError as error:
                assert "alias bomb" in str(error), error
                return
            raise AssertionError("the alias bomb was accepted")

        load_site()  # warm imports and caches for both
        refuse_bomb()
        site_best, site_median = best_of(load_site, args.runs)
        bomb_best, bomb_median = best_of(refuse_bomb, args.runs)
    ratio = bomb_best / site_best
    print(f"normal site ({len(SITE)} bytes): best {site_best * 1e3:.3f} ms, "
          f"median {site_median * 1e3:.3f} ms")  # fmt: skip
    print(f"alias bomb  ({len(BOMB)} bytes, 9^9 values): best {bomb_best * 1e3:.3f} ms, "
          f"median {bomb_median * 1e3:.3f} ms refused")  # fmt: skip
    print(f"ratio bomb/site: {ratio:.2f}x (goal: <= {LIMIT_RATIO:g}x and <= {LIMIT_S * 1e3:g} ms)")
    if bomb_best > LIMIT_S or ratio > LIMIT_RATIO:
        print("FAIL: refusing the alias bomb is too slow", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
