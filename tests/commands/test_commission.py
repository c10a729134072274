"""`smartbuild commission` and `smartbuild report` end to end against real Modbus servers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.commission_rig import ACME, Rig, commission_site, thermostat

EVIL = {"VendorName": "<script>alert(1)</script>", "ProductCode": "TH-200"}


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    units = {
        "th-ok": (thermostat(), "acme-th200"),
        "th-hot": (thermostat(room=600), "acme-th200"),  # 60.0 °C: a wiring or scaling fault
        "th-evil": (thermostat(identity=EVIL), "acme-th200"),  # not what the site says
        "th-silent": (thermostat(behaviour="silent"), "acme-th200"),
    }
    with commission_site(tmp_path, units) as rig:
        yield rig


def commission(run, rig: Rig, *args: str):
    return run("--site", str(rig.site), "--json", "commission", *args)


def by_subject(doc: dict) -> dict[tuple[str, str], dict]:
    return {(c["category"], c["subject"]): c for c in doc["checks"]}


def test_a_sound_device_passes_every_check_and_the_journal_renders_it_again(run, rig, tmp_path):
    out = tmp_path / "report.html"
    result = commission(
        run, rig, "--device", "th-ok", "--out", str(out), "--installer", "A. Fitter"
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["summary"]["fail"] == 0 and doc["summary"]["result"] == "pass"
    checks = by_subject(doc)
    assert checks[("identity", "th-ok")]["status"] == "pass"
    assert "firmware 1.4" in checks[("identity", "th-ok")]["reason"]
    assert checks[("point", "th-ok.room_temperature")]["reason"] == (
        "read 21.5 °C, within 5..40 °C"
    )
    assert checks[("setpoints", "th-ok")]["status"] == "pass"
    (figures,) = doc["communication"]
    assert figures["device"] == "th-ok" and figures["reads"] == 3 and figures["errors"] == 0
    assert 0 < figures["p50_ms"] <= figures["p95_ms"]
    assert checks[("plan", "profiles")]["status"] == "n/a"
    assert [p["point"] for p in doc["points"]] == [
        "room_temperature", "room_humidity", "heating_setpoint", "cooling_setpoint", "hvac_mode",
        "occupancy",
    ]  # fmt: skip
    assert doc["points"][2]["address"] == "holding 10" and doc["points"][2]["scale"] == 0.1
    assert rig.writes() == 0
    html = out.read_text()
    assert "A. Fitter" in html and "<script" not in html
    again = run("--json", "report", doc["run"][:6])
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout) == doc
    page = run("report", "--last")
    assert page.exit_code == 0, page.output
    assert page.stdout == html


def test_faulty_devices_fail_with_reasons_and_device_text_is_escaped(run, rig, tmp_path):
    out = tmp_path / "report.html"
    result = commission(run, rig, "--out", str(out))
    assert result.exit_code == 4, result.output
    doc = json.loads(result.stdout)
    checks = by_subject(doc)
    hot = checks[("point", "th-hot.room_temperature")]
    assert hot["status"] == "fail" and "60 °C, outside 5..40 °C" in hot["reason"]
    evil = checks[("identity", "th-evil")]
    assert evil["status"] == "fail" and "matches no template" in evil["reason"]
    assert "<script>alert(1)</script>" in evil["reason"]
    silent = checks[("communication", "th-silent")]
    assert silent["status"] == "fail" and "errors" in silent["reason"]
    assert checks[("identity", "th-silent")]["status"] == "fail"
    assert checks[("point", "th-silent.room_temperature")]["reason"].startswith("unreadable")
    assert checks[("identity", "th-ok")]["status"] == "pass"
    failed = {(c["category"], c["subject"]) for c in doc["deficiencies"]}
    assert failed == {k for k, c in checks.items() if c["status"] == "fail"}
    assert doc["summary"]["fail"] == len(failed)
    html = out.read_text()
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    human = run("--site", str(rig.site), "commission", "--device", "th-hot")
    assert human.exit_code == 4
    assert "th-hot.room_temperature" in human.stdout and "fail" in human.stdout


def test_write_test_writes_verifies_and_restores_every_setpoint(run, rig):
    before = {a: rig.holding("th-ok", a) for a in (10, 11, 12)}
    result = commission(run, rig, "--device", "th-ok", "--write-test", "--yes")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    rows = {r["point"]: r for r in doc["write_test"]}
    assert set(rows) == {"heating_setpoint", "cooling_setpoint"}
    assert rows["heating_setpoint"]["before"] == 20.0 and rows["heating_setpoint"]["test"] == 20.3
    assert all(r["outcome"] == "written" and r["restored"] for r in rows.values())
    checks = by_subject(doc)
    assert checks[("write-test", "th-ok.hvac_mode")]["status"] == "n/a"
    assert rig.writes() == 4  # two test values, two restores
    assert {a: rig.holding("th-ok", a) for a in (10, 11, 12)} == before
    kinds = [e["kind"] for e in doc["journal"]]
    assert kinds.count("intent") == 4 and kinds.count("written") == 4
    assert doc["restore_run"] and {e["run"] for e in doc["journal"]} == {
        doc["run"],
        doc["restore_run"],
    }
    log = json.loads(run("--json", "log").stdout)
    runs = {r["id"]: r for r in log["runs"]}
    assert runs[doc["restore_run"]]["parent_run"] == doc["run"]
    assert runs[doc["restore_run"]]["status"] == "ok"


def test_write_test_needs_a_terminal_or_yes_and_writes_nothing(run, rig):
    result = run("--site", str(rig.site), "commission", "--device", "th-ok", "--write-test")
    assert result.exit_code == 5
    assert "--yes" in result.stderr
    assert rig.writes() == 0


def test_unknown_names_and_runs_are_usage_errors(run, rig):
    result = run("--site", str(rig.site), "commission", "--zone", "z9")
    assert result.exit_code == 2 and "unknown zone 'z9'" in result.stderr
    result = run("--site", str(rig.site), "commission", "--trend", "ten minutes")
    assert result.exit_code == 2 and "invalid duration" in result.stderr
    assert run("report", "abcdef").exit_code == 2
    result = run("report", "--last")
    assert result.exit_code == 2 and "no commission run in the journal" in result.stderr
    assert run("report").exit_code == 2
    write = run("--site", str(rig.site), "write", "th-ok", "heating_setpoint", "21", "--yes")
    assert write.exit_code == 0, write.output
    last = json.loads(run("--json", "log").stdout)["runs"][0]["id"]
    result = run("report", last)
    assert result.exit_code == 2
    assert (
        "holds no commissioning report" in result.stderr and "not a commission run" in result.stderr
    )


def test_trend_captures_series_for_the_charts(run, rig, tmp_path):
    out = tmp_path / "r.html"
    result = commission(run, rig, "--device", "th-ok", "--trend", "1s", "--interval", "0.2",
                        "--out", str(out))  # fmt: skip
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    series = {s["point"]: s for s in doc["trends"]}
    assert set(series) == {"room_temperature", "heating_setpoint", "cooling_setpoint"}
    assert len(series["room_temperature"]["samples"]) >= 3
    assert all(v == 21.5 for _, v in series["room_temperature"]["samples"])
    assert doc["comfort_band"]["source"].startswith("EN 16798-1 Cat II")
    html = out.read_text()
    assert html.count('class="series"') == 3 and 'class="band"' in html


def test_profiles_are_planned_for_the_moment(run, tmp_path):
    with commission_site(tmp_path, {"th-ok": (thermostat(), "acme-th200")}, "127.0.42.1") as rig:
        result = commission(run, rig, "--profile", "office-en16798-cat2",
                            "--at", "2026-12-01 08:00")  # fmt: skip
        writes = rig.writes()
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    (plan,) = doc["plans"]
    assert plan["profile"] == "office-en16798-cat2"
    changes = [
        (a["point"], a["target"]) for a in plan["plan"]["actions"] if a["status"] == "change"
    ]
    assert changes == [("heating_setpoint", 20.5), ("cooling_setpoint", 23.5)]
    assert by_subject(doc)[("plan", "office-en16798-cat2")]["status"] == "pass"
    assert writes == 0
    (room,) = [r for r in doc["readings"] if r["point"] == "room_temperature"]
    assert room["value"] == 21.5


def test_identity_of_another_template_is_a_deficiency(run, tmp_path):
    units = {"th-x": (thermostat(identity={**ACME, "VendorName": "SLOW"}), "acme-th200")}
    with commission_site(tmp_path, units, base="127.0.41.1") as rig:
        result = commission(run, rig)
    assert result.exit_code == 4, result.output
    check = by_subject(json.loads(result.stdout))[("identity", "th-x")]
    assert check["reason"].startswith("identifies as 'slow-th', the site says 'acme-th200'")


def test_a_link_near_its_timeout_is_slow_unless_the_limit_allows_it(run, tmp_path):
    units = {"th-lag": (thermostat(response_delay_s=0.27), "acme-th200")}  # timeout 0.3 s
    with commission_site(tmp_path, units, base="127.0.47.1") as rig:
        slow = commission(run, rig, "--rounds", "2")
        allowed = commission(run, rig, "--rounds", "2", "--max-p95", "1000")
    assert slow.exit_code == 4, slow.output
    check = by_subject(json.loads(slow.stdout))[("communication", "th-lag")]
    assert check["reason"].startswith("slow: p50 2") and check["reason"].endswith("above 240 ms")
    assert check["expected"] == 240
    assert allowed.exit_code == 0, allowed.output
    check = by_subject(json.loads(allowed.stdout))[("communication", "th-lag")]
    assert check["status"] == "pass" and "(limit 1000 ms), 0 retries" in check["reason"]
