"""Line charts as inline SVG: enough for a report a researcher reads at a glance, no plotting stack."""
from __future__ import annotations

import math
from html import escape
from typing import Sequence

Series = dict[str, Sequence[tuple[float, float]]]

# One colour per class of service, the same in every chart and every report.
CLASS_COLOURS = {
    "fast-confirmation": "#d62728", "computation-intensive": "#9467bd", "storage-intensive": "#8c564b",
    "low-cost": "#2ca02c", "management-control": "#17becf", "private": "#e377c2",
    "best-effort": "#1f77b4", "scavenger": "#7f7f7f", "all": "#000000",
}
_FALLBACK = ("#ff7f0e", "#bcbd22", "#393b79", "#637939")
WIDTH, HEIGHT = 760, 300
LEFT, RIGHT, TOP, BOTTOM = 64, 170, 24, 44


def _nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    if high <= low:
        high = low + 1
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.floor(low / step) * step
    return [first + i * step for i in range(int((high - first) / step) + 2) if first + i * step <= high + 1e-9]


def _label(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1000:
        return f"{value / 1000:g}k"
    return f"{value:.3g}"


def line_chart(title: str, series: Series, x_label: str, y_label: str, log_x: bool = False,
               y_max: float | None = None, dashed: Sequence[str] = ()) -> str:
    points = [p for values in series.values() for p in values]
    if not points:
        return f'<p class="empty">{escape(title)}: no data</p>'
    xs = [x for x, _ in points if not log_x or x > 0]
    x_low, x_high = (min(xs), max(xs)) if xs else (0.0, 1.0)
    if log_x:
        x_low, x_high = math.log10(max(x_low, 1e-3)), math.log10(max(x_high, 1e-3))
        if x_high - x_low < 1:
            x_high = x_low + 1
    y_high = y_max if y_max is not None else max(y for _, y in points) * 1.05 or 1.0
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def sx(x: float) -> float:
        value = math.log10(max(x, 1e-3)) if log_x else x
        return LEFT + (value - x_low) / ((x_high - x_low) or 1) * plot_w

    def sy(y: float) -> float:
        return TOP + plot_h - min(y, y_high) / y_high * plot_h

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" role="img" '
             f'aria-label="{escape(title)}" font-family="sans-serif" font-size="11">',
             f'<text x="{LEFT}" y="15" font-size="13" font-weight="bold">{escape(title)}</text>']
    for tick in _nice_ticks(0, y_high):
        y = sy(tick)
        parts.append(f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e5e5e5"/>'
                     f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{_label(tick)}</text>')
    x_ticks = [10 ** e for e in range(math.floor(x_low), math.ceil(x_high) + 1)] if log_x else _nice_ticks(x_low, x_high)
    for tick in x_ticks:
        x = sx(tick)
        if LEFT - 1 <= x <= LEFT + plot_w + 1:
            parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{TOP}" y2="{TOP + plot_h}" stroke="#f0f0f0"/>'
                         f'<text x="{x:.1f}" y="{TOP + plot_h + 16}" text-anchor="middle">{_label(tick)}</text>')
    parts.append(f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#999"/>')
    parts.append(f'<text x="{LEFT + plot_w / 2}" y="{HEIGHT - 8}" text-anchor="middle">{escape(x_label)}</text>')
    parts.append(f'<text x="14" y="{TOP + plot_h / 2}" text-anchor="middle" '
                 f'transform="rotate(-90 14 {TOP + plot_h / 2})">{escape(y_label)}</text>')
    for i, (name, values) in enumerate(series.items()):
        base = name.split(" ")[0]
        colour = CLASS_COLOURS.get(base, _FALLBACK[i % len(_FALLBACK)])
        path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in values if not log_x or x > 0)
        dash = ' stroke-dasharray="5,3"' if name in dashed else ""
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.8"{dash} points="{path}">'
                     f'<title>{escape(name)}</title></polyline>')
        legend_y = TOP + 12 + i * 16
        parts.append(f'<line x1="{LEFT + plot_w + 12}" x2="{LEFT + plot_w + 32}" y1="{legend_y - 4}" '
                     f'y2="{legend_y - 4}" stroke="{colour}" stroke-width="2"{dash}/>'
                     f'<text x="{LEFT + plot_w + 36}" y="{legend_y}">{escape(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)
