"""The report's charts and page: device text is escaped; no script, no external reference."""

from __future__ import annotations

import re

from smartbuild.report import render_html
from smartbuild.report.svg import latency_chart, trend_chart


def series(name: str, values: list[float], role: str = "zone_air_temperature") -> dict:
    return {"device": name, "point": "t", "role": role, "unit": "°C",
            "samples": [[i * 10.0, v] for i, v in enumerate(values)]}  # fmt: skip


def test_trend_chart_draws_the_band_and_escapes_labels():
    svg = trend_chart("z<1>", [series("<evil>", [21.0, 21.5, 22.0])], (20.0, 24.0), "°C")
    assert svg.startswith("<svg") and svg.count("<polyline") == 1 and 'class="band"' in svg
    assert "<evil>" not in svg and "&lt;evil&gt;" in svg and "z&lt;1&gt;" in svg
    assert "comfort 20–24" in svg


def test_charts_without_data_are_left_out():
    assert trend_chart("z", [series("a", [])], None, "°C") == ""
    assert latency_chart([{"device": "a", "p95_ms": None}]) == ""


def test_latency_chart_shows_the_slowest_and_marks_failures():
    figures = [{"device": f"d{i}", "p50_ms": i, "p95_ms": i * 2.0, "errors": int(i == 5),
                "timeouts": 0} for i in range(1, 61)]  # fmt: skip
    svg = latency_chart(figures)
    assert "the 40 slowest of 60" in svg
    assert ">d60<" in svg and ">d1<" not in svg
    assert "#d1242f" not in svg  # d5 (with errors) is not among the slowest 40
    assert "#d1242f" in latency_chart(figures[:10])


def test_the_page_has_no_script_and_fetches_nothing():
    doc = {
        "format": "smartbuild-commission/1", "run": "r1", "restore_run": None, "started": 0,
        "finished": 1, "moment": "2026-12-01T08:00:00+01:00",
        "options": {"trend_s": 0}, "summary": {"pass": 1, "fail": 0, "n/a": 0, "total": 1,
                                              "result": "pass"},
        "categories": {"point": {"pass": 1, "fail": 0, "n/a": 0}}, "deficiencies": [],
        "site": {"name": "<b>hq</b>", "timezone": "UTC", "path": "site.yaml"}, "zones": [],
        "devices": [], "points": [], "readings": [],
        "checks": [{"category": "point", "subject": "d.p", "status": "pass",
                    "reason": "read <img src=x onerror=alert(1)>"}],
        "communication": [], "write_test": [], "trends": [], "comfort_band": {}, "plans": [],
        "signoff": {"installer": None, "date": "2026-12-01"}, "journal": [],
    }  # fmt: skip
    html = render_html(doc)
    assert "<script" not in html and "<img" not in html and "&lt;img" in html
    assert "&lt;b&gt;hq&lt;/b&gt;" in html
    assert not re.search(r"(src|href)=\"?(https?:)?//", html)
    assert "@import" not in html and "url(" not in html
