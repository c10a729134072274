"""Three hubs on one broker: fleet status, apply (at most once) and log through the real CLI."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from typing import Any

from tests.mqtt.conftest import running_bridge, start_farm, write_site

SITES = ("north", "south", "east")


@contextlib.asynccontextmanager
async def three_hubs(tmp_path: Path, broker: Any, commands: bool = True) -> Any:
    farms, bridges = [], []
    async with contextlib.AsyncExitStack() as stack:
        for index, site in enumerate(SITES):
            farm, endpoint = await start_farm(2, host=f"127.0.7.{index + 1}")
            farms.append(farm)
            stack.push_async_callback(farm.close)
            mqtt = f'{{url: "{broker.url}", commands: {str(commands).lower()}}}'
            site_file = write_site(tmp_path / site, site, endpoint, 2, mqtt)
            bridge = await stack.enter_async_context(
                running_bridge(site_file, tmp_path / f"home-{site}")
            )
            bridges.append(bridge)
        yield farms, bridges


def fleet(run: Any, *args: str) -> Any:
    """Run `smartbuild fleet …` in a worker thread (the test's loop keeps serving the hubs)."""
    return asyncio.to_thread(run, "--json", "fleet", *args)


async def test_fleet_status_lists_every_hub(run, tmp_path, broker):
    async with three_hubs(tmp_path, broker):
        result = await fleet(run, "status", "--broker", broker.url)
        assert result.exit_code == 0, result.output
        hubs = json.loads(result.stdout)["hubs"]
        assert [h["site"] for h in hubs] == sorted(SITES)
        assert all(
            h["status"] == "online" and h["health"] == "ok" and h["devices"] == 2 for h in hubs
        )
        assert all(h["version"] and h["last_seen"] for h in hubs)


async def test_fleet_apply_plans_and_applies_on_each_hub_once(run, tmp_path, broker):
    from smartbuild.journal import Journal

    async with three_hubs(tmp_path, broker) as (farms, _):
        result = await fleet(
            run,
            "apply",
            "setback",
            "--site",
            "north",
            "--site",
            "south",
            "--site",
            "east",
            "--broker",
            broker.url,
            "--yes",
            "--id",
            "job-1",
        )
        assert result.exit_code == 0, result.output
        answers = json.loads(result.stdout)["answers"]
        assert sorted(answers) == sorted(SITES)
        for answer in answers.values():
            assert answer["status"] == "ok" and answer["changes"] == 2, answer
            assert {o["status"] for o in answer["outcomes"]} == {"written"}
        for farm in farms:
            host, port = farm.endpoints[0]
            for unit in (1, 2):
                assert (await farm.get_registers(host, port, unit, "holding", 10))[0] == 170
        # the same id again (a retry): answered, applied nowhere a second time
        again = await fleet(
            run,
            "apply",
            "setback",
            "--site",
            "north",
            "--broker",
            broker.url,
            "--yes",
            "--id",
            "job-1",
        )
        assert again.exit_code == 0, again.output
        assert json.loads(again.stdout)["answers"]["north"]["status"] == "duplicate"
        log = await fleet(run, "log", "--broker", broker.url, "--site", "north", "--site", "south")
        assert log.exit_code == 0, log.output
        runs = json.loads(log.stdout)["runs"]
        assert sorted({r["site"] for r in runs}) == ["north", "south"]
        assert all("[cmd job-1]" in r["command"] for r in runs)
    for site in SITES:
        journal = Journal(tmp_path / f"home-{site}")
        assert len(journal.runs()) == 1
        journal.close()


async def test_fleet_apply_says_which_hubs_refused_or_never_answered(run, tmp_path, broker):
    async with three_hubs(tmp_path, broker, commands=False):
        result = await fleet(
            run,
            "apply",
            "setback",
            "--site",
            "north",
            "--site",
            "nowhere",
            "--broker",
            broker.url,
            "--yes",
            "--timeout",
            "1",
        )
        assert result.exit_code == 4, result.output
        out = json.loads(result.stdout)
        assert out["answers"]["north"]["status"] == "refused"
        assert "commands: true" in out["answers"]["north"]["message"]
        assert out["missing"] == ["nowhere"]


def test_fleet_apply_refuses_without_confirmation_and_a_bad_broker_is_a_usage_error(run):
    result = run("fleet", "apply", "setback", "--site", "a", "--broker", "mqtt://127.0.0.1:1")
    assert result.exit_code == 5 and "--yes" in result.output
    result = run("fleet", "status", "--broker", "http://x")
    assert result.exit_code == 2 and "mqtt://host:1883" in result.output
    result = run("fleet", "status", "--broker", "mqtt://127.0.0.1:1")
    assert result.exit_code == 3 and "cannot reach the broker" in result.output
