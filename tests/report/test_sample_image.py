"""The sample report image the README links: present, a real PNG of a painted page, and made
by the committed script."""

from __future__ import annotations

from tests.conftest import REPO
from tests.report.browser import ink, png_pixels

IMAGE = REPO / "docs" / "img" / "report.png"


def test_the_readme_links_a_painted_first_page():
    assert "docs/img/report.png" in (REPO / "README.md").read_text()
    assert "img/report.png" in (REPO / "docs" / "commissioning.md").read_text()
    width, height, _ = png_pixels(IMAGE)
    assert (width, height) == (1100, 1400)
    share, colours = ink(IMAGE)
    assert share > 0.05 and colours > 50, (share, colours)
    script = (REPO / "scripts" / "report_image.py").read_text()
    assert 'docs" / "img" / "report.png' in script and "commission" in script
