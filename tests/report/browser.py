"""Open a page in headless Chromium (Debian's): its DOM after load, a screenshot, and PNG pixels."""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib
from html.parser import HTMLParser
from pathlib import Path

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars"]  # fmt: skip


def chromium() -> str | None:
    """Return the Chromium executable, or None where it is not installed."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def open_page(page: Path, profile: Path, *args: str, timeout: float = 90) -> str:
    """Run Chromium on a local file with a fresh profile; return what it printed on stdout."""
    exe = chromium()
    assert exe is not None
    command = [exe, *FLAGS, f"--user-data-dir={profile}", *args, page.resolve().as_uri()]
    done = subprocess.run(command, capture_output=True, timeout=timeout, check=False)
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
    return done.stdout.decode("utf-8")


def png_pixels(path: Path) -> tuple[int, int, list[bytes]]:
    """Decode an 8-bit RGB or RGBA, non-interlaced PNG: width, height and rows of pixels."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        (length,), kind = struct.unpack(">I", data[pos : pos + 4]), data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8 and colour in (2, 6) and interlace == 0, (depth, colour, interlace)
    channels = 3 if colour == 2 else 4
    raw, stride = zlib.decompress(idat), width * channels
    rows: list[bytes] = []
    previous = bytearray(stride)
    for y in range(height):
        kind, line = (
            raw[y * (stride + 1)],
            bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)]),
        )
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up, corner = previous[i], previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                pred = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                line[i] = (line[i] + pred) & 0xFF
        rows.append(bytes(line[j] for j in range(stride) if channels == 3 or j % 4 != 3))
        previous = line
    return width, height, rows


def ink(path: Path) -> tuple[float, int]:
    """Return the share of non-white pixels and the number of distinct colours of a screenshot."""
    width, _, rows = png_pixels(path)
    colours: set[bytes] = set()
    dark = 0
    for row in rows[::4]:
        for x in range(0, width * 3, 12):
            pixel = row[x : x + 3]
            colours.add(pixel)
            dark += pixel != b"\xff\xff\xff"
    sampled = len(rows[::4]) * len(range(0, width * 3, 12))
    return dark / sampled, len(colours)


class Tables(HTMLParser):
    """Collect the rows of each table with an id, the status of each row, and texts by id."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.statuses: list[str] = []
        self.text: dict[str, str] = {}
        self._table: str | None = None
        self._in_body = False
        self._cell: list[str] | None = None
        self._id: str | None = None
        self.scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """Track tables, bodies, rows and cells."""
        a = dict(attrs)
        if tag == "script":
            self.scripts += 1
        if tag == "table" and a.get("id"):
            self._table = a["id"]
            self.tables[self._table] = []
        elif tag == "tbody":
            self._in_body = True
        elif tag == "tr" and self._table and self._in_body:
            self.tables[self._table].append([])
            if self._table == "checks":
                self.statuses.append(a.get("data-status") or "")
        elif tag in ("td", "th") and self._table and self._in_body:
            self._cell = []
        if a.get("id") and tag != "table":
            self._id = a["id"]
            self.text[self._id] = ""

    def handle_endtag(self, tag: str) -> None:
        """Close cells, bodies and tables."""
        if tag in ("td", "th") and self._cell is not None and self._table:
            self.tables[self._table][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tbody":
            self._in_body = False
        elif tag == "table":
            self._table = None
        if self._id is not None and tag in ("b", "span", "code", "p"):
            self._id = None

    def handle_data(self, data: str) -> None:
        """Keep the text of cells and of elements with an id."""
        if self._cell is not None:
            self._cell.append(data)
        if self._id is not None:
            self.text[self._id] += data


def parse(dom: str) -> Tables:
    """Return the tables and texts of a DOM dump."""
    tables = Tables()
    tables.feed(dom)
    return tables
