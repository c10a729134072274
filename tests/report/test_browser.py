"""The report in a real browser: headless Chromium opens it; its DOM matches the JSON; it paints."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.commission_rig import commission_site, thermostat
from tests.report.browser import chromium, ink, open_page, parse

pytestmark = pytest.mark.skipif(
    chromium() is None,
    reason="Chromium is not installed (apt-get install chromium; CI installs it)",
)


def test_chromium_renders_the_report_with_the_json_counts(run, tmp_path: Path) -> None:
    units = {"th-ok": (thermostat(), "acme-th200"), "th-hot": (thermostat(room=600), "acme-th200")}
    out = tmp_path / "report.html"
    with commission_site(tmp_path, units, base="127.0.44.1") as rig:
        result = run("--site", str(rig.site), "--json", "commission", "--write-test", "--yes",
                     "--trend", "1s", "--interval", "0.25", "--out", str(out))  # fmt: skip
    assert result.exit_code == 4, result.output
    doc = json.loads(result.stdout)

    dom = parse(open_page(out, tmp_path / "profile-dom", "--dump-dom"))
    assert dom.scripts == 0
    summary = doc["summary"]
    assert dom.text["count-pass"] == str(summary["pass"])
    assert dom.text["count-fail"] == str(summary["fail"]) != "0"
    assert dom.text["count-na"] == str(summary["n/a"])
    assert dom.text["verdict"] == "DEFICIENCIES FOUND"
    assert dom.text["run-id"] == doc["run"]
    assert len(dom.tables["checks"]) == len(doc["checks"])
    assert dom.statuses == [c["status"] for c in doc["checks"]]
    assert [row[2] for row in dom.tables["deficiencies"]] == [
        c["subject"] for c in doc["deficiencies"]
    ]
    assert [row[:2] for row in dom.tables["points"]] == [
        [p["device"], p["point"]] for p in doc["points"]
    ]
    assert [row[0] for row in dom.tables["inventory"]] == ["th-ok", "th-hot"]
    assert [row[0] for row in dom.tables["communication"]] == ["th-ok", "th-hot"]
    assert len(dom.tables["write-test"]) == len(doc["write_test"]) == 4
    assert len(dom.tables["journal"]) == len(doc["journal"])
    categories = {row[0]: [int(n) for n in row[1:]] for row in dom.tables["categories"]}
    assert categories == {
        name: [c["pass"], c["fail"], c["n/a"]] for name, c in doc["categories"].items()
    }

    shot = tmp_path / "page.png"
    open_page(out, tmp_path / "profile-shot", f"--screenshot={shot}", "--window-size=1280,1600")
    share, colours = ink(shot)
    assert share > 0.02 and colours > 20, (share, colours)


def test_a_blank_page_reads_as_blank(tmp_path: Path) -> None:
    page = tmp_path / "blank.html"
    page.write_text("<!DOCTYPE html><html><body></body></html>")
    shot = tmp_path / "blank.png"
    open_page(page, tmp_path / "profile", f"--screenshot={shot}", "--window-size=400,300")
    assert ink(shot) == (0.0, 1)
