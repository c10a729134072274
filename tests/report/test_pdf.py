"""The report as PDF (the optional pdf extra): printed by WeasyPrint, checked as text and pixels."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.commission_rig import commission_site, thermostat
from tests.report.browser import ink


def _weasyprint_loads() -> bool:
    """WeasyPrint is installed and finds its system libraries (Pango)."""
    if importlib.util.find_spec("weasyprint") is None:
        return False
    try:
        import weasyprint  # noqa: F401
    except OSError:
        return False
    return True


pytestmark = pytest.mark.skipif(
    not _weasyprint_loads() or shutil.which("pdftoppm") is None,
    reason="needs the pdf extra (pip install 'smartbuild[pdf]') and pdftoppm (poppler-utils)",
)


def test_pdf_holds_the_counts_and_paints(run, tmp_path: Path) -> None:
    units = {"th-ok": (thermostat(), "acme-th200"), "th-hot": (thermostat(room=600), "acme-th200")}
    pdf = tmp_path / "report.pdf"
    with commission_site(tmp_path, units, base="127.0.45.1") as rig:
        result = run("--site", str(rig.site), "--json", "commission", "--pdf", str(pdf))
    assert result.exit_code == 4, result.output
    doc = json.loads(result.stdout)
    assert pdf.read_bytes()[:5] == b"%PDF-"
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True,
                          check=True, text=True).stdout  # fmt: skip
    summary = doc["summary"]
    assert "DEFICIENCIES FOUND" in text
    flat = " ".join(text.split())
    assert f"{summary['pass']} pass, {summary['fail']} fail, {summary['n/a']} n/a" in flat
    for deficiency in doc["deficiencies"]:
        assert deficiency["subject"] in text
    subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", str(pdf),
                    str(tmp_path / "page")], check=True)  # fmt: skip
    (page,) = tmp_path.glob("page*.png")
    share, colours = ink(page)
    assert share > 0.02 and colours > 20, (share, colours)
    again = run("report", doc["run"], "--pdf", str(tmp_path / "again.pdf"), "--out",
                str(tmp_path / "again.html"))  # fmt: skip
    assert again.exit_code == 0, again.output
    assert (tmp_path / "again.pdf").read_bytes()[:5] == b"%PDF-"


def test_pdf_without_weasyprint_says_what_to_install(run, tmp_path: Path, monkeypatch) -> None:
    import sys

    units = {"th-ok": (thermostat(), "acme-th200")}
    monkeypatch.setitem(sys.modules, "weasyprint", None)  # as if the extra were not installed
    with commission_site(tmp_path, units, base="127.0.46.1") as rig:
        result = run("--site", str(rig.site), "commission", "--pdf", str(tmp_path / "r.pdf"))
    assert result.exit_code == 1
    assert "--pdf needs WeasyPrint" in result.stderr
    assert "pip install 'smartbuild[pdf]'" in result.stderr
