"""Charts as inline SVG: no script, no fetch; every text escaped here, since the page trusts it."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

COLOURS = ("#1f6feb", "#d1242f", "#1a7f37", "#9a6700", "#8250df", "#0a7ea4")
DASHED = {
    "heating_setpoint": "6 3",
    "cooling_setpoint": "6 3",
    "zone_air_temperature_setpoint": "2 3",
}


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    span = (high - low) or 1.0
    raw = span / count
    magnitude = 10 ** len(str(int(raw))) / 10 if raw >= 1 else 0.1
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10, 20, 50) if m * magnitude >= raw)
    first = (low // step) * step
    ticks: list[float] = []
    value = first
    while value <= high + 1e-9 and len(ticks) < 20:
        if value >= low - 1e-9:
            ticks.append(round(value, 6))
        value += step
    return ticks


def trend_chart(
    title: str,
    series: Sequence[dict[str, Any]],
    band: tuple[float, float] | None,
    unit: str,
    width: int = 560,
    height: int = 200,
) -> str:
    """Return an SVG line chart of samples [[seconds, value], ...] with an optional band."""
    left, right, top, bottom = 44, 150, 22, 26
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [float(v) for s in series for _, v in s["samples"] if isinstance(v, (int, float))]
    times = [float(t) for s in series for t, _ in s["samples"]]
    if band:
        values += list(band)
    if not values or not times:
        return ""
    low, high = min(values), max(values)
    pad = max(0.5, (high - low) * 0.08)
    low, high = low - pad, high + pad
    t_max = max(times) or 1.0

    def x(t: float) -> float:
        return round(left + plot_w * t / t_max, 1)

    def y(v: float) -> float:
        return round(top + plot_h * (1 - (v - low) / (high - low)), 1)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">',
        f'<text x="{left}" y="14" font-size="12" font-weight="bold">{escape(title)}</text>',
    ]
    if band:
        y_high, y_low = y(band[1]), y(band[0])
        parts.append(f'<rect class="band" x="{left}" y="{y_high}" width="{plot_w}" '
                     f'height="{round(y_low - y_high, 1)}" fill="#dafbe1"/>')  # fmt: skip
    for tick in _ticks(low, high):
        parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y(tick)}" y2="{y(tick)}" '
                     f'stroke="#d0d7de" stroke-width="0.5"/>'
                     f'<text x="{left - 4}" y="{y(tick) + 4}" font-size="10" '
                     f'text-anchor="end">{tick:g}</text>')  # fmt: skip
    parts.append(f'<text x="{left + plot_w}" y="{height - 6}" font-size="10" text-anchor="end">'
                 f'{t_max:g} s</text><text x="{left}" y="{height - 6}" font-size="10">0 s</text>'
                 f'<text x="4" y="14" font-size="10">{escape(unit)}</text>')  # fmt: skip
    for index, s in enumerate(series):
        colour = COLOURS[index % len(COLOURS)]
        points = " ".join(f"{x(float(t))},{y(float(v))}" for t, v in s["samples"]
                          if isinstance(v, (int, float)))  # fmt: skip
        dash = DASHED.get(s.get("role") or "")
        style = f' stroke-dasharray="{dash}"' if dash else ""
        parts.append(f'<polyline class="series" fill="none" stroke="{colour}" stroke-width="1.5"'
                     f'{style} points="{points}"/>')  # fmt: skip
        label = f"{s['device']}.{s['point']}"
        ly = top + 12 + 14 * index
        parts.append(f'<line x1="{width - right + 8}" x2="{width - right + 24}" y1="{ly - 4}" '
                     f'y2="{ly - 4}" stroke="{colour}" stroke-width="2"{style}/>'
                     f'<text x="{width - right + 28}" y="{ly}" font-size="10">'
                     f"{escape(label[:24])}</text>")  # fmt: skip
    if band:
        ly = top + 12 + 14 * len(series)
        parts.append(f'<rect x="{width - right + 8}" y="{ly - 9}" width="16" height="8" '
                     f'fill="#dafbe1"/><text x="{width - right + 28}" y="{ly}" font-size="10">'
                     f"comfort {band[0]:g}–{band[1]:g}</text>")  # fmt: skip
    parts.append("</svg>")
    return "".join(parts)


def latency_chart(figures: Sequence[dict[str, Any]], limit: int = 40, width: int = 640) -> str:
    """Return a bar chart of p50 and p95 read latency per device (the slowest ``limit``)."""
    rows = [f for f in figures if f.get("p95_ms") is not None]
    rows = sorted(rows, key=lambda f: -float(f["p95_ms"]))[:limit]
    if not rows:
        return ""
    left, right, top, bar = 170, 70, 24, 14
    height = top + bar * len(rows) + 24
    scale = max(float(f["p95_ms"]) for f in rows) or 1.0
    plot_w = width - left - right
    title = f"read latency per device (ms), the {len(rows)} slowest of {len(figures)}"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">',
        f'<text x="4" y="14" font-size="12" font-weight="bold">{escape(title)}</text>',
    ]
    for index, f in enumerate(rows):
        y = top + index * bar
        p50 = float(f["p50_ms"] or 0) / scale * plot_w
        p95 = float(f["p95_ms"]) / scale * plot_w
        colour = "#d1242f" if f.get("errors") or f.get("timeouts") else "#1f6feb"
        parts.append(f'<text x="{left - 6}" y="{y + 10}" font-size="10" text-anchor="end">'
                     f"{escape(str(f['device'])[:28])}</text>"
                     f'<rect x="{left}" y="{y + 2}" width="{round(p95, 1)}" height="{bar - 4}" '
                     f'fill="{colour}" fill-opacity="0.35"/>'
                     f'<rect class="bar" x="{left}" y="{y + 2}" width="{round(p50, 1)}" '
                     f'height="{bar - 4}" fill="{colour}"/>'
                     f'<text x="{left + round(p95, 1) + 4}" y="{y + 10}" font-size="10">'
                     f"{float(f['p95_ms']):g}</text>")  # fmt: skip
    parts.append(f'<text x="{left}" y="{height - 6}" font-size="10">dark: p50 · light: p95</text>')
    parts.append("</svg>")
    return "".join(parts)
