"""Start `smartbuild sim` as a child process, wait until it serves, and stop it cleanly.

Used by ``smartbuild demo``, the benchmarks and the tests: the simulator runs exactly as a user
starts it (a separate process with its own event loop), and each command runs through the real
CLI with its JSON output captured.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from smartbuild.errors import SmartbuildError

READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0


def free_base(port: int = 5020, tries: int = 40) -> str:
    """Return a loopback base address whose first host has ``port`` free (random /24 in 127.x)."""
    rng = random.Random()
    for _ in range(tries):
        base = f"127.{rng.randrange(100, 250)}.{rng.randrange(0, 200)}.1"
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind((base, port))
            except OSError:
                continue
        return base
    raise SmartbuildError(f"no free loopback address found for port {port}")


@dataclass
class SimProcess:
    """A `smartbuild sim` child process; ``start()`` waits until it serves, ``stop()`` checks it ended."""

    home: Path
    zones: int = 12
    speed: float = 60.0
    start_at: str | None = None
    base: str | None = None
    port: int = 5020
    site_out: Path | None = None
    extra: list[str] = field(default_factory=list)
    proc: subprocess.Popen[bytes] | None = None
    state: dict[str, Any] = field(default_factory=dict)
    log_path: Path | None = None

    def command(self) -> list[str]:
        """Return the command line that starts the simulator."""
        args = [sys.executable, "-m", "smartbuild", "--home", str(self.home), "sim",
                "--zones", str(self.zones), "--speed", f"{self.speed:g}", "--port", str(self.port),
                "--site-out", str(self.site_out or self.home / "sim-site.yaml")]  # fmt: skip
        if self.base:
            args += ["--base", self.base]
        if self.start_at:
            args += ["--start", self.start_at]
        return args + self.extra

    def start(self, timeout: float = READY_TIMEOUT_S) -> dict[str, Any]:
        """Start the simulator and return its state once it serves (raise with its log if not)."""
        from smartbuild.sim.state import read_state

        self.home.mkdir(parents=True, exist_ok=True)
        self.log_path = self.home / "sim.log"
        env = {**os.environ, "NO_COLOR": "1"}
        env.pop("SMARTBUILD_SITE", None)
        # the child runs the same smartbuild as this process, installed or not
        package_root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
        with self.log_path.open("wb") as log:  # never a PIPE: nobody drains it while we wait
            self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, env=env)  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:  # bounded wait for the state file
            state = read_state(self.home)
            if state is not None and state.get("pid") == self.proc.pid:
                self.state = state
                return state
            if self.proc.poll() is not None:
                raise SmartbuildError(f"the simulator exited with status {self.proc.returncode}: "
                                      f"{self.log().strip()[-600:]}")  # fmt: skip
            time.sleep(0.05)
        self.stop()
        raise SmartbuildError(
            f"the simulator did not start within {timeout:g} s: {self.log()[-600:]}"
        )

    def log(self) -> str:
        """Return what the simulator printed so far."""
        try:
            return self.log_path.read_text(errors="replace") if self.log_path else ""
        except OSError:
            return ""

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> dict[str, Any]:
        """SIGTERM the simulator, wait, and report what (if anything) it left behind."""
        report: dict[str, Any] = {"exit_status": None, "leftovers": []}
        if self.proc is None:
            return report
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout)
                report["leftovers"].append("the simulator ignored SIGTERM and was killed")
        report["exit_status"] = self.proc.returncode
        if (self.home / "sim.json").exists():
            report["leftovers"].append(f"state file {self.home / 'sim.json'}")
        bus = (self.state.get("ble") or {}).get("bus_address") or ""
        if bus.startswith("unix:path=") and Path(bus[len("unix:path=") :]).exists():
            report["leftovers"].append(f"D-Bus socket {bus}")
        modbus = self.state.get("modbus") or {}
        for host in modbus.get("hosts", []):
            with socket.socket() as probe:
                probe.settimeout(0.5)
                if probe.connect_ex((host, self.port)) == 0:
                    report["leftovers"].append(f"a listener on {host}:{self.port}")
        return report
