"""The application core without a terminal: a Session drives plan, write and rollback directly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from smartbuild.errors import SafetyRefusal
from smartbuild.model.writes import WriteStatus
from smartbuild.services.session import Session
from tests.plugins.kv import KvDevice


@pytest.fixture
def kv_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "SMARTBUILD_PLUGIN_MODULES", "tests.plugins.kv,tests.plugins.raising_observer"
    )


async def test_a_session_writes_journals_first_and_isolates_a_failing_observer(kv_env, tmp_path):
    device = KvDevice({"t": 210.0, "sp": 40.0})
    address = await device.start()
    site = tmp_path / "site.yaml"
    site.write_text(
        "site: s\ndevices:\n"
        f"  th: {{template: kv-thermostat, transport: kv, address: '{address}'}}\n"
    )
    warnings: list[str] = []
    seen: list[str] = []
    session = Session(site, tmp_path / "home", warn=warnings.append)
    session.observers.append(lambda event: seen.append(event.kind))
    try:
        (th,) = session.select(["th"])
        with pytest.raises(SafetyRefusal, match="not confirmed"):
            await session.write(th, "setpoint", 22, confirm=lambda q: False, command="w")
        assert device.sets == []
        run_id, outcome = await session.write(th, "setpoint", 22, confirm=lambda q: True,
                                              command="write th setpoint 22")  # fmt: skip
        assert outcome.status == WriteStatus.WRITTEN and device.values["sp"] == 44.0
        # the failing plugin observer saw the intent after the journal committed it
        kinds = [e["kind"] for e in session.journal.entries(run=run_id)]
        assert kinds == ["intent", "written"]
        assert any("observer exploded" in w and "intent" in w for w in warnings), warnings
        assert seen == ["run-started", "intent", "written", "run-finished"]
        undo = await session.rollback(run_id, confirm=lambda q: True)
        assert [o.status for o in undo.outcomes] == [WriteStatus.WRITTEN]
        assert device.values["sp"] == 40.0
        assert session.overrides() == []
    finally:
        await session.aclose()
        session.close()
        await device.stop()


def test_a_failing_observer_warns_through_the_cli_and_the_write_lands(run, kv_env, tmp_path):
    from tests.rigs import LoopThread

    lt = LoopThread()
    device = KvDevice({"t": 210.0, "sp": 40.0})
    address = lt.run(device.start())
    try:
        site = tmp_path / "site.yaml"
        site.write_text(
            "site: s\ndevices:\n"
            f"  th: {{template: kv-thermostat, transport: kv, address: '{address}'}}\n"
        )
        result = run("--json", "--site", str(site), "write", "th", "setpoint", "21", "--yes")
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["outcome"]["status"] == "written"
        assert "tests.plugins.raising_observer" in result.stderr
        assert "observer exploded" in result.stderr
        assert device.values["sp"] == 42.0
    finally:
        lt.run(device.stop())
        lt.stop()


def test_reload_picks_up_a_changed_site(tmp_path: Path):
    site = tmp_path / "site.yaml"
    site.write_text("site: one\n")
    session = Session(site, tmp_path / "home")
    assert session.site().site.site == "one"
    site.write_text("site: two\n")
    assert session.site().site.site == "one"  # validated once per session ...
    session.reload()
    assert session.site().site.site == "two"  # ... until the face asks for a reload


async def test_a_lease_held_elsewhere_stops_the_run_before_any_device_is_written(kv_env, tmp_path):
    from smartbuild.journal import LeaseHeld
    from smartbuild.model.writes import WriteRequest
    from smartbuild.services.writes import apply_writes

    a, b = KvDevice({"t": 210.0, "sp": 40.0}), KvDevice({"t": 210.0, "sp": 40.0})
    addresses = [await a.start(), await b.start()]
    site = tmp_path / "site.yaml"
    site.write_text(
        "site: s\ndevices:\n"
        + "".join(
            f"  {name}: {{template: kv-thermostat, transport: kv, address: '{address}'}}\n"
            for name, address in zip("ab", addresses, strict=True)
        )
    )
    session = Session(site, tmp_path / "home")
    try:
        session.journal.acquire_lease("b", "someone", "write b setpoint 21")
        da, db = session.select(["a", "b"])
        with pytest.raises(LeaseHeld, match="run someone"), session._run("test") as run:
            requests = [WriteRequest(da, "setpoint", 22), WriteRequest(db, "setpoint", 22)]
            await apply_writes(run, session.conns, requests, lease=session._lease(run))
        assert a.sets == [] and b.sets == []  # nothing was written anywhere
        assert [lease.device for lease in session.journal.leases()] == ["b"]  # ours went back
    finally:
        await session.aclose()
        session.close()
        await a.stop()
        await b.stop()
