"""Plot a KPI comparison as SVG: zone temperatures against the comfort band, site power against
the peak limit, both sides over the whole period (no plotting library needed)."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from html import escape
from typing import TYPE_CHECKING

from smartbuild.sim.building.kpi import PEAK_WINDOW_S, window_means

if TYPE_CHECKING:
    from smartbuild.sim.building.compare import Comparison
    from smartbuild.sim.building.kpi import KpiSample

WIDTH, PANEL, TOP, LEFT, RIGHT, GAP = 1000, 230, 40, 60, 20, 60
BASE, PROF, LIMIT, BAND = "#888888", "#1f77b4", "#d62728", "#2ca02c"


def _ticks(low: float, high: float, n: int = 5) -> list[float]:
    raw = (high - low) / n or 1.0
    step = 10 ** math.floor(math.log10(raw))
    step *= next(m for m in (1, 2, 5, 10) if m * step >= raw)
    first = math.ceil(low / step) * step
    return [round(first + i * step, 6) for i in range(int((high - first) / step) + 1)]


class _Panel:
    """One chart area: maps time and value to SVG coordinates and collects its elements."""

    def __init__(self, top: float, t0: float, t1: float, low: float, high: float) -> None:
        self.top, self.t0, self.t1, self.low, self.high = top, t0, t1, low, high
        self.parts: list[str] = []

    def x(self, t: float) -> float:
        return LEFT + (t - self.t0) / (self.t1 - self.t0) * (WIDTH - LEFT - RIGHT)

    def y(self, v: float) -> float:
        v = min(max(v, self.low), self.high)
        return self.top + PANEL - (v - self.low) / (self.high - self.low) * PANEL

    def line(self, ts: Sequence[float], vs: Sequence[float], color: str, **attrs: str) -> None:
        points = " ".join(f"{self.x(t):.1f},{self.y(v):.1f}" for t, v in zip(ts, vs, strict=True))
        extra = "".join(f' {k.replace("_", "-")}="{v}"' for k, v in attrs.items())
        self.parts.append(f'<polyline fill="none" stroke="{color}" points="{points}"{extra}/>')

    def area(self, ts: Sequence[float], lows: Sequence[float], highs: Sequence[float]) -> None:
        up = [f"{self.x(t):.1f},{self.y(v):.1f}" for t, v in zip(ts, highs, strict=True)]
        down = [f"{self.x(t):.1f},{self.y(v):.1f}" for t, v in zip(ts, lows, strict=True)]
        self.parts.append(f'<polygon fill="{BAND}" fill-opacity="0.15" stroke="none" '
                          f'points="{" ".join(up + down[::-1])}"/>')  # fmt: skip

    def frame(self, title: str, unit: str, tz: dt.tzinfo | None) -> None:
        bottom = self.top + PANEL
        self.parts.append(f'<text x="{LEFT}" y="{self.top - 8}" font-weight="bold">'
                          f"{escape(title)}</text>")  # fmt: skip
        for v in _ticks(self.low, self.high):
            y = self.y(v)
            self.parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
                              f'stroke="#eeeeee"/><text x="{LEFT - 6}" y="{y + 4:.1f}" '
                              f'text-anchor="end">{v:g}</text>')  # fmt: skip
        self.parts.append(f'<text x="12" y="{self.top + PANEL / 2}" transform="rotate(-90 12 '
                          f'{self.top + PANEL / 2})" text-anchor="middle">{escape(unit)}</text>')  # fmt: skip
        day = dt.datetime.fromtimestamp(self.t0, tz).replace(hour=0, minute=0, second=0)
        while day.timestamp() <= self.t1:
            t = day.timestamp()
            if t >= self.t0:
                x = self.x(t)
                self.parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{self.top}" '
                                  f'y2="{bottom}" stroke="#dddddd"/><text x="{x + 3:.1f}" '
                                  f'y="{bottom + 14}">{day:%a %d.%m}</text>')  # fmt: skip
            day = (day + dt.timedelta(days=1, hours=2)).replace(hour=0)
        self.parts.append(f'<rect x="{LEFT}" y="{self.top}" width="{WIDTH - LEFT - RIGHT}" '
                          f'height="{PANEL}" fill="none" stroke="#444444"/>')  # fmt: skip


def _every(samples: Sequence[KpiSample], step_s: float) -> list[KpiSample]:
    out, last = [], -1e18
    for s in samples:
        t = s.t.timestamp()
        if t - last >= step_s - 1e-6 or s is samples[-1]:
            out.append(s)
            last = t
    return out


def comparison_svg(c: Comparison) -> str:
    """Return an SVG document plotting both runs of a comparison."""
    base, prof = c.samples
    if len(prof) < 2:
        raise ValueError("a plot needs the samples of a comparison")
    band: Callable[[dt.datetime], tuple[float, float]] = c.band_at
    t0, t1 = prof[0].t.timestamp(), prof[-1].t.timestamp()
    tz = prof[0].t.tzinfo
    every = 300.0 if t1 - t0 <= 8 * 86400 else 900.0
    thin_p, thin_b = _every(prof, every), _every(base, every)
    ts = [s.t.timestamp() for s in thin_p]
    zones = list(thin_p[0].zone_temp_c)
    temps = [v for s in thin_p for v in s.zone_temp_c.values()]
    lows_highs = [band(s.t) for s in thin_p]
    occupied = [lh for lh in lows_highs if lh[1] - lh[0] < 10]
    lo = min([*temps, *(lh[0] for lh in occupied)]) - 0.5
    hi = max([*temps, *(lh[1] for lh in occupied)]) + 0.5
    temp = _Panel(TOP, t0, t1, math.floor(lo), math.ceil(hi))
    temp.area(ts, [lh[0] for lh in lows_highs], [lh[1] for lh in lows_highs])
    for z in zones:
        temp.line(ts, [s.zone_temp_c[z] for s in thin_p], PROF, stroke_opacity="0.35")
    tb = [s.t.timestamp() for s in thin_b]
    mean_b = [sum(s.zone_temp_c.values()) / len(s.zone_temp_c) for s in thin_b]
    temp.line(tb, mean_b, BASE, stroke_dasharray="4 3")
    temp.frame(f"{c.profile}: zone temperatures (blue, one line per zone) against the comfort "
               f"band (green); constant setpoints: mean (grey dashed)", "°C", tz)  # fmt: skip
    power = []
    for side in (base, prof):
        means = window_means([s.t.timestamp() for s in side], [max(s.power_kw, 0.0) for s in side],
                             PEAK_WINDOW_S)  # fmt: skip
        keys = sorted(means)
        power.append(([(k + 0.5) * PEAK_WINDOW_S for k in keys], [means[k] for k in keys]))
    peak = max(max(v) for _t, v in power)
    top = max(peak, c.limit_kw or 0.0) * 1.1
    site = _Panel(TOP + PANEL + GAP, t0, t1, 0.0, math.ceil(top / 5) * 5 or 5)
    site.line(*power[0], BASE)
    site.line(*power[1], PROF)
    if c.limit_kw is not None:
        site.line([t0, t1], [c.limit_kw, c.limit_kw], LIMIT, stroke_dasharray="6 4")
    limit = f", limit {c.limit_kw:g} kW (red dashed)" if c.limit_kw is not None else ""
    site.frame(f"site power, 15-min means: with profile (blue), constant setpoints (grey){limit}",
               "kW", tz)  # fmt: skip
    height = TOP + 2 * PANEL + GAP + 30
    body = "\n".join([*temp.parts, *site.parts])
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
            f'viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="11">\n'
            f'<rect width="100%" height="100%" fill="white"/>\n{body}\n</svg>\n')  # fmt: skip
