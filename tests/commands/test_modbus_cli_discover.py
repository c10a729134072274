"""`smartbuild discover` at field speed through the CLI: sweep and timeout options, -v figures."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest

from smartbuild.sim.peers.modbus_farm import ServerSpec
from smartbuild.sim.peers.ptybridge import PtyBridge
from tests.transports.modbus.test_devices import ThreadedFarm, acme_co2, acme_hp

NET = f"127.{20 + os.getpid() % 30}.{os.getpid() % 250 + 1}"


@pytest.fixture
def farm() -> Iterator[ThreadedFarm]:
    threaded = ThreadedFarm()
    yield threaded
    threaded.stop()


def ok(result: Any) -> Any:
    assert result.exit_code == 0, result.output
    return result


def test_rtu_discover_shows_its_adaptive_timeout_with_v(run: Any, farm: ThreadedFarm) -> None:
    bridge = PtyBridge()
    farm.run(bridge.__aenter__())
    try:
        farm.add_rtu_bus(bridge.path_a, [acme_co2(1)])
        result = ok(run("-v", "--json", "discover", "--rtu", bridge.path_b, "--baud", "19200",
                        "--parity", "N", "--units", "1-5", "--timeout", "0.3",
                        "--timeout-factor", "4", "--timeout-floor", "0.1"))  # fmt: skip
        assert [c["unit"] for c in json.loads(result.stdout)["candidates"]] == [1]
        assert "timeout 300 ms until a unit answers, then k=4" in result.stderr
        assert "adaptive timeout 100.0 ms" in result.stderr  # the floor beats 4 x 12.6 ms
        assert [farm.stats(bridge.path_a).total(u) for u in (2, 3, 4, 5)] == [1, 1, 1, 1]
    finally:
        bridge.close()


def test_tcp_discover_takes_sweep_options_and_escapes_what_it_shows(
    run: Any, farm: ThreadedFarm
) -> None:
    endpoint = farm.add(ServerSpec(f"{NET}.10", [acme_hp(1)], port=0))
    port = endpoint.rsplit(":", 1)[1]
    result = ok(run("-v", "--json", "discover", "--modbus", f"{NET}.8-12", "--port", port,
                    "--units", "1,2", "--sweep-concurrency", "3", "--connect-timeout", "0.3",
                    "--timeout-factor", "0"))  # fmt: skip
    assert [c["template"] for c in json.loads(result.stdout)["candidates"]] == ["acme-hp-50"]
    assert "sweeping 5 addresses in 1 targets, 3 connects at once, connect timeout 300 ms" in (
        result.stderr
    )
    assert f"{NET}.10:{port}: timeout 500 ms" in result.stderr  # factor 0: never adapts
    bad = run("discover", "--modbus", f"{NET}.10", "--sweep-concurrency", "0")
    assert bad.exit_code == 2 and "--sweep-concurrency" in bad.stderr
