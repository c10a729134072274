"""The commissioning report: one self-contained HTML file (inline CSS and SVG, no script).

Jinja2 renders it with autoescaping on, so text a device supplied (names, identity strings,
error messages) is escaped; the only markup passed through is the SVG built in ``svg``, which
escapes its own text. ``render_pdf`` prints the same HTML with WeasyPrint (``smartbuild[pdf]``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from smartbuild.errors import SmartbuildError

PDF_HINT = "pip install 'smartbuild[pdf]'"


def _charts(doc: dict[str, Any]) -> list[dict[str, Any]]:
    from smartbuild.report.svg import trend_chart

    band = doc.get("comfort_band") or {}
    by_zone: dict[str, list[dict[str, Any]]] = {}
    for series in doc.get("trends", []):
        by_zone.setdefault(series.get("zone") or "(no zone)", []).append(series)
    charts = []
    for zone, group in sorted(by_zone.items()):
        temps = [s for s in group if s["role"] != "zone_co2"]
        co2 = [s for s in group if s["role"] == "zone_co2"]
        if temps and band.get("low") is not None:
            limits = (float(band["low"]), float(band["high"]))
            charts.append({"zone": zone, "svg": trend_chart(
                f"{zone}: temperature", temps, limits, temps[0].get("unit") or "°C")})  # fmt: skip
        if co2:
            limit = band.get("co2_max")
            limits2 = (350.0, float(limit)) if limit else None
            charts.append({"zone": zone, "svg": trend_chart(
                f"{zone}: CO2", co2, limits2, co2[0].get("unit") or "ppm")})  # fmt: skip
    return [c for c in charts if c["svg"]]


def _when(stamp: Any, timezone: str | None) -> str:
    """Return an epoch time as site time (the machine's zone where the site names none)."""
    from zoneinfo import ZoneInfo

    if isinstance(stamp, str):
        try:
            moment = dt.datetime.fromisoformat(stamp)
        except ValueError:
            return stamp
    elif isinstance(stamp, (int, float)):
        moment = dt.datetime.fromtimestamp(stamp, dt.timezone.utc)
    else:
        return ""
    try:
        moment = moment.astimezone(ZoneInfo(timezone)) if timezone else moment.astimezone()
    except (KeyError, ValueError):
        moment = moment.astimezone()
    return moment.strftime("%Y-%m-%d %H:%M:%S %Z")


def _value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def render_html(doc: dict[str, Any]) -> str:
    """Return the report document as one self-contained HTML page."""
    from importlib import resources

    import jinja2
    from markupsafe import Markup

    from smartbuild.report.svg import latency_chart

    text = resources.files("smartbuild.report").joinpath("templates/report.html.j2")
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True)  # fmt: skip
    timezone = (doc.get("site") or {}).get("timezone")
    env.filters["when"] = lambda stamp: _when(stamp, timezone)
    env.filters["value"] = _value
    template = env.from_string(text.read_text("utf-8"))
    charts = [{**c, "svg": Markup(c["svg"])} for c in _charts(doc)]
    latency = Markup(latency_chart(doc.get("communication", [])))
    return template.render(doc=doc, charts=charts, latency=latency, journal=doc.get("journal", []))


def write_html(doc: dict[str, Any], path: Path) -> int:
    """Write the report page to path (atomically); return its size in bytes."""
    data = render_html(doc).encode("utf-8")
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_bytes(data)
        tmp.replace(path)
    except OSError as error:
        raise SmartbuildError(f"cannot write the report {path}: {error.strerror}") from None
    return len(data)


def render_pdf(html: str, path: Path, base: Sequence[str] = ()) -> None:
    """Print the report page to a PDF with WeasyPrint (the optional ``pdf`` extra)."""
    try:
        import weasyprint  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        raise SmartbuildError("--pdf needs WeasyPrint", hint=PDF_HINT) from None
    try:
        weasyprint.HTML(string=html).write_pdf(str(path))
    except OSError as error:
        raise SmartbuildError(f"cannot write the PDF {path}: {error}") from None
