"""Make docs/img/report.png: the first page of a commissioning report of the simulated building.

Starts `smartbuild sim` (4 zones, loopback only), runs `smartbuild commission --write-test
--trend 20s` against it, and screenshots the report's first page in headless Chromium.
Run: PYTHONPATH=src python scripts/report_image.py [--out docs/img/report.png]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from smartbuild.sim.launch import SimProcess, free_base  # noqa: E402

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--window-size=1100,1400"]  # fmt: skip


def main() -> int:
    """Generate the report and its first-page image; exit 1 when a step fails."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img" / "report.png")
    args = parser.parse_args()
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        print("Chromium is not installed (apt-get install chromium)", file=sys.stderr)
        return 1
    tmp = Path(tempfile.mkdtemp(prefix="sb-report-image-"))
    sim = SimProcess(tmp / "sim", zones=4, speed=60, base=free_base(),
                     site_out=tmp / "sim-site.yaml", extra=["--no-ble", "--no-mdns"])  # fmt: skip
    sim.start()
    try:
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "SMARTBUILD_HOME": str(tmp / "home")}
        report = tmp / "report.html"
        done = subprocess.run(
            [sys.executable, "-m", "smartbuild", "--site", str(tmp / "sim-site.yaml"),
             "commission", "--write-test", "--yes", "--trend", "20s",
             "--profile", "office-en16798-cat2", "--installer", "A. Fitter", "--out", str(report)],
            env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        if done.returncode not in (0, 4):
            print(done.stderr, file=sys.stderr)
            return 1
        shot = subprocess.run([exe, *FLAGS, f"--user-data-dir={tmp / 'profile'}",
                               f"--screenshot={args.out.resolve()}", report.as_uri()],
                              capture_output=True, timeout=120)  # fmt: skip
        if shot.returncode != 0:
            print(shot.stderr.decode(errors="replace")[-2000:], file=sys.stderr)
            return 1
    finally:
        sim.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
