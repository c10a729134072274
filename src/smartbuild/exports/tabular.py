"""The points schedule as CSV (RFC 4180, a header row, UTF-8)."""

from __future__ import annotations

import csv
import dataclasses
import io
from collections.abc import Sequence

from smartbuild.exports.schedule import PointRow

COLUMNS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(PointRow))


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    text = str(value)
    # a cell a spreadsheet would run as a formula (=, +, -, @) is kept as text
    return f"'{text}" if text[:1] in ("=", "+", "-", "@") and not _number(text) else text


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def to_csv(rows: Sequence[PointRow]) -> str:
    """Return the schedule as CSV text with a header row."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow([_cell(getattr(row, column)) for column in COLUMNS])
    return out.getvalue()
