"""The commissioning report at scale, and a commission run against the sum of its timeouts.

A simulated building of --zones zones (default 500: about 1,000 Modbus devices) is served by
`smartbuild sim` in a child process. Measured, each against a baseline taken in the same run:

- generation: rendering the HTML of the whole building's report, against serialising the same
  document as JSON (``render / json`` ratio); goal: the page renders in under GENERATION_GOAL x;
- size: the HTML file, goal <= 5 MiB (the issue's limit);
- first paint: Chromium's firstContentfulPaint lifecycle event of the report (driven over the
  DevTools pipe, headless, fresh profile), against the same for the report of the --devices run
  (a building a tenth the size): first paint must not grow with the building; goal: under
  PAINT_GOAL x (skipped with a message where Chromium is absent); a one-paragraph page is shown
  beside them for scale;
- a commission run over --devices devices (whole zones): wall time against the sum of the
  timeouts its checks could wait (identification once, every read and its retry, each
  ``timeout x (retries + 1)``); goal: under RUN_GOAL of that sum.

Exit 1 when a goal is missed. Run: PYTHONPATH=src python benchmarks/report.py [--zones 500]
"""

from __future__ import annotations

import argparse
import json
import os
import select
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from smartbuild.report import render_html  # noqa: E402
from smartbuild.sim.launch import SimProcess, free_base  # noqa: E402

MAX_BYTES = 5 * 1024 * 1024
GENERATION_GOAL = 40.0  # render time / json.dumps time of the same document
PAINT_GOAL = 3.0  # first contentful paint of the whole building's report / the small run's
RUN_GOAL = 0.25  # commission wall time / sum of its checks' timeouts
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--window-size=1280,1600"]  # fmt: skip


def smartbuild(home: Path, *args: str) -> tuple[float, Any]:
    """Run a smartbuild command as a process with --json; return (wall seconds, its JSON)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "SMARTBUILD_HOME": str(home)}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "smartbuild", "--json", *args],
                          capture_output=True, text=True, env=env, timeout=1200)  # fmt: skip
    wall = time.perf_counter() - started
    if done.returncode not in (0, 4):
        raise SystemExit(f"smartbuild {args[:3]} failed ({done.returncode}): {done.stderr[-800:]}")
    return wall, json.loads(done.stdout)


class Browser:
    """Headless Chromium driven over --remote-debugging-pipe (fd 3 in, fd 4 out)."""

    def __init__(self, exe: str, profile: Path) -> None:
        to_child, self._send = os.pipe()
        self._recv, from_child = os.pipe()

        # Chromium reads DevTools commands on fd 3 and answers on fd 4: the shell maps them
        command = [exe, *FLAGS, f"--user-data-dir={profile}", "--remote-debugging-pipe",
                   "about:blank"]  # fmt: skip
        script = f"exec {shlex.join(command)} 3<&{to_child} 4>&{from_child}"
        self.proc = subprocess.Popen(["/bin/sh", "-c", script], pass_fds=(to_child, from_child),
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        os.close(to_child)
        os.close(from_child)
        self._buf, self._id = b"", 0
        targets = self.call("Target.getTargets")["targetInfos"]
        page = next(t for t in targets if t["type"] == "page")
        attached = self.call(
            "Target.attachToTarget", {"targetId": page["targetId"], "flatten": True}
        )
        self.session = attached["sessionId"]
        self.call("Page.enable", session=self.session)
        self.call("Page.setLifecycleEventsEnabled", {"enabled": True}, session=self.session)

    def _send_msg(self, method: str, params: dict[str, Any], session: str | None) -> int:
        self._id += 1
        message: dict[str, Any] = {"id": self._id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._send, json.dumps(message).encode() + b"\0")
        return self._id

    def _next(self, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while b"\0" not in self._buf:
            ready, _, _ = select.select([self._recv], [], [], max(0, deadline - time.monotonic()))
            if not ready:
                raise TimeoutError("Chromium did not answer")
            chunk = os.read(self._recv, 1 << 20)
            if not chunk:
                raise EOFError("Chromium closed the DevTools pipe")
            self._buf += chunk
        message, self._buf = self._buf.split(b"\0", 1)
        data: dict[str, Any] = json.loads(message)
        return data

    def call(self, method: str, params: dict[str, Any] | None = None,
             session: str | None = None) -> dict[str, Any]:  # fmt: skip
        """Send a DevTools command and return its result."""
        wanted = self._send_msg(method, params or {}, session)
        while True:
            message = self._next()
            if message.get("id") == wanted:
                result: dict[str, Any] = message.get("result", {})
                return result

    def first_paint(self, page: Path) -> float:
        """Navigate to a page; return seconds from navigation start to first contentful paint."""
        self._send_msg("Page.navigate", {"url": page.resolve().as_uri()}, self.session)
        seen: dict[str, float] = {}
        while "firstContentfulPaint" not in seen:
            message = self._next()
            if message.get("method") == "Page.lifecycleEvent":
                params = message["params"]
                if params["name"] == "init":
                    seen.clear()  # a new document: times count from here
                seen.setdefault(params["name"], params["timestamp"])
        return seen["firstContentfulPaint"] - seen["init"]

    def close(self) -> None:
        """Stop Chromium."""
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        os.close(self._send)
        os.close(self._recv)


def paint_times(report: Path, baseline: Path, tmp: Path) -> dict[str, Any] | None:
    """Return median first paints: the report, the baseline report, a one-line page."""
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        return None
    line = tmp / "line.html"
    line.write_text("<!DOCTYPE html><html><body><p>smartbuild</p></body></html>")
    browser = Browser(exe, tmp / "chromium-profile")
    try:
        browser.first_paint(line)  # warm up: the first navigation pays for start-up
        one = statistics.median(browser.first_paint(line) for _ in range(3))
        base = statistics.median(browser.first_paint(baseline) for _ in range(3))
        page = statistics.median(browser.first_paint(report) for _ in range(3))
    finally:
        browser.close()
    return {"one_line_page_s": round(one, 3), "small_run_report_s": round(base, 3),
            "report_s": round(page, 3), "ratio": round(page / base, 2)}  # fmt: skip


def timed(fn: Any, repeat: int = 3) -> float:
    """Return the median wall time of fn()."""
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        fn()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def timeout_budget(doc: dict[str, Any], site: dict[str, Any]) -> float:
    """Return the sum of the timeouts a run's checks could wait, one after another."""
    total = 0.0
    for figures in doc["communication"]:
        spec = site["devices"][figures["device"]]
        per_request = float(spec.get("timeout", 1.0)) * (int(spec.get("retries", 1)) + 1)
        total += per_request * (1 + figures["reads"])  # identification, then every read
    return total


def modbus_site(state: dict[str, Any], out: Path) -> dict[str, Any]:
    """Write the simulator's site with only its Modbus devices; return the data."""
    data = yaml.safe_load(Path(state["site_file"]).read_text())
    data["devices"] = {k: v for k, v in data["devices"].items()
                       if v["transport"].startswith("modbus")}  # fmt: skip
    out.write_text(yaml.safe_dump(data, sort_keys=False))
    return data


def main() -> int:
    """Measure, print the figures (JSON with --json), and exit 1 when a goal is missed."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--zones", type=int, default=500)
    parser.add_argument("--devices", type=int, default=100)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="sb-report-bench-"))
    sim = SimProcess(tmp / "sim", zones=args.zones, speed=60, base=free_base(),
                     site_out=tmp / "sim" / "site.yaml", extra=["--no-ble", "--no-mdns"])  # fmt: skip
    state = sim.start(timeout=180)
    try:
        home, site_path = tmp / "client", tmp / "site.yaml"
        home.mkdir()
        site = modbus_site(state, site_path)
        out = tmp / "report.html"
        run_s, doc = smartbuild(home, "--site", str(site_path), "commission", "--rounds", "1",
                                "--out", str(out))  # fmt: skip
        size = out.stat().st_size
        render_s = timed(lambda: render_html(doc))
        json_s = timed(lambda: json.dumps(doc))
        zones = [z for z in site["zones"] if any(
            d.get("zone") == z for d in site["devices"].values())]  # fmt: skip
        chosen: list[str] = []
        for zone in zones:
            if sum(d.get("zone") in chosen for d in site["devices"].values()) >= args.devices:
                break
            chosen.append(zone)
        zone_args = [a for z in chosen for a in ("--zone", z)]
        small_out = tmp / "small-report.html"
        small_s, small = smartbuild(home, "--site", str(site_path), "commission", *zone_args,
                                    "--out", str(small_out))  # fmt: skip
        paint = paint_times(out, small_out, tmp)
        budget = timeout_budget(small, site)
        own_s = small["finished"] - small["started"]
    finally:
        stopped = sim.stop()
    figures = {
        "zones": args.zones, "devices": len(doc["devices"]), "points": len(doc["points"]),
        "checks": doc["summary"]["total"], "failed_checks": doc["summary"]["fail"],
        "commission_s": round(run_s, 2), "render_s": round(render_s, 3),
        "json_s": round(json_s, 3), "render_vs_json": round(render_s / json_s, 1),
        "html_bytes": size, "html_mib": round(size / 2**20, 2), "first_paint": paint,
        "run_devices": len(small["devices"]), "run_s": round(own_s, 2),
        "run_process_s": round(small_s, 2), "timeout_sum_s": round(budget, 1),
        "run_vs_timeouts": float(f"{own_s / budget:.3g}"), "clean_stop": not stopped["leftovers"],
    }  # fmt: skip
    missed = []
    if size > MAX_BYTES:
        missed.append(f"report {figures['html_mib']} MiB > 5 MiB")
    if figures["render_vs_json"] > GENERATION_GOAL:
        missed.append(f"render {figures['render_vs_json']}x json > {GENERATION_GOAL}x")
    if paint is not None and paint["ratio"] > PAINT_GOAL:
        missed.append(f"first paint {paint['ratio']}x the small run's > {PAINT_GOAL}x")
    if figures["run_vs_timeouts"] > RUN_GOAL:
        missed.append(f"commission {figures['run_vs_timeouts']} of its timeouts > {RUN_GOAL}")
    if doc["summary"]["fail"] or small["summary"]["fail"]:
        missed.append("the simulated building failed checks: " + "; ".join(
            f"{c['subject']}: {c['reason']}" for c in doc["deficiencies"][:5]))  # fmt: skip
    if not figures["clean_stop"]:
        missed.append(f"the simulator left {stopped['leftovers']}")
    if args.json:
        print(json.dumps({**figures, "missed": missed}, indent=2))
    else:
        for key, value in figures.items():
            print(f"{key:>18}: {value}")
        if paint is None:
            print("first paint not measured: Chromium is not installed")
        print("goals met" if not missed else "MISSED: " + "; ".join(missed))
    shutil.rmtree(tmp, ignore_errors=True)
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
