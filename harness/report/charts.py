"""Figures for reports, drawn with matplotlib as SVG: vector figures a paper can take as they are,
readable in a browser without scripts and on a phone, since the page scales them to its width.

Every class of service keeps one colour, marker and line style in every figure and report, so
classes that overlap stay apart in print and for readers who do not tell colours apart. Figures
are built on :class:`matplotlib.figure.Figure` directly (no pyplot state), with text kept as
text so the page's own font renders it and it stays selectable.
"""
from __future__ import annotations

import functools
import io
import math
import re
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any, Sequence

if TYPE_CHECKING:
    from matplotlib.figure import Figure

Series = Sequence[tuple[float, float]]


@dataclass(frozen=True)
class Style:
    colour: str
    marker: str
    line: str


# Colour-blind-safe colours (Okabe and Ito), and a marker and line style of each class's own.
CLASS_STYLES = {
    "fast-confirmation": Style("#D55E00", "o", "-"),
    "computation-intensive": Style("#CC79A7", "s", "-."),
    "storage-intensive": Style("#8C564B", "D", ":"),
    "low-cost": Style("#009E73", "^", "--"),
    "management-control": Style("#56B4E9", "v", "-"),
    "private": Style("#E69F00", "P", "-."),
    "best-effort": Style("#0072B2", "X", "--"),
    "scavenger": Style("#7F7F7F", "*", ":"),
    "all": Style("#000000", ".", "-"),
}
_OTHER_STYLES = (Style("#332288", "h", "-"), Style("#117733", "p", "--"), Style("#882255", "<", "-."),
                 Style("#44AA99", ">", ":"))
WIDTH_IN, HEIGHT_IN = 6.4, 3.6
# About this many markers along a line, however many points it has.
MARKERS_PER_LINE = 8


@functools.cache
def _matplotlib() -> ModuleType:
    """matplotlib, configured, imported when a figure is first drawn: a CLI command that draws
    none (most of them) does not pay its import (0.4 s here)."""
    import matplotlib
    import matplotlib.figure
    import matplotlib.ticker

    matplotlib.rcParams.update({
        "svg.fonttype": "none", "svg.hashsalt": "vdlt-harness", "font.family": "sans-serif", "font.size": 11,
        "axes.spines.top": False, "axes.spines.right": False, "axes.grid": True, "grid.color": "#e5e5e5",
        "legend.frameon": False, "legend.fontsize": 10,
    })
    return matplotlib


def style_of(name: str, index: int = 0) -> Style:
    return CLASS_STYLES.get(name) or _OTHER_STYLES[index % len(_OTHER_STYLES)]


def _figure(title: str) -> tuple[Any, Any]:
    """A figure of the reports' size with one titled axes."""
    figure = _matplotlib().figure.Figure(figsize=(WIDTH_IN, HEIGHT_IN))
    # Fixed margins: matplotlib's constrained layout draws every figure twice, most of a report's time.
    # The right margin holds half of the last x tick label (a rate of four digits).
    figure.subplots_adjust(left=0.12, right=0.96, top=0.90, bottom=0.15)
    axes = figure.add_subplot()
    axes.set_title(title, loc="left", fontsize=11, fontweight="bold")
    return figure, axes


@dataclass(frozen=True)
class Line:
    label: str
    points: Series
    style: Style
    dashed: bool = False
    """Drawn thin and dashed whatever its style (a second figure of the same class)."""


def line_chart(title: str, lines: Sequence[Line], x_label: str, y_label: str, log_x: bool = False,
               y_max: float | None = None, spans: Sequence[tuple[float, float, str]] = (),
               marks: Sequence[tuple[float, float, str]] = ()) -> str:
    """An SVG line chart. ``spans`` are shaded x ranges with a label (x0, x1, label), ``marks``
    points drawn as red crosses (x, y, label) with one legend entry."""
    drawn = [line for line in lines if line.points]
    if not drawn:
        return f'<p class="empty">{title}: no data</p>'
    mpl: Any = _matplotlib()
    figure, axes = _figure(title)
    for x0, x1, label in spans:
        axes.axvspan(x0, x1, color="#f2f2f2", zorder=0)
        axes.annotate(label, (x0, 1.0), xycoords=("data", "axes fraction"), fontsize=8, color="#666",
                      xytext=(2, -10), textcoords="offset points")
    for line in drawn:
        xs, ys = [p[0] for p in line.points], [p[1] for p in line.points]
        every = max(1, len(xs) // MARKERS_PER_LINE)
        axes.plot(xs, ys, label=line.label, color=line.style.colour, marker=line.style.marker, markevery=every,
                  markersize=4 if line.dashed else 5, linestyle="--" if line.dashed else line.style.line,
                  linewidth=1.0 if line.dashed else 1.6, alpha=0.8 if line.dashed else 1.0)
    if marks:
        axes.plot([m[0] for m in marks], [m[1] for m in marks], linestyle="none", marker="x", color="#c62828",
                  markersize=8, markeredgewidth=2, label=marks[0][2])
    if log_x:
        axes.set_xscale("log")
        low = min(p[0] for line in drawn for p in line.points if p[0] > 0)
        high = max(p[0] for line in drawn for p in line.points)
        axes.xaxis.set_major_locator(mpl.ticker.LogLocator(base=10, subs=_log_subs(low, high)))
        axes.xaxis.set_major_formatter(mpl.ticker.FuncFormatter(lambda value, _: f"{value:g}"))
        axes.xaxis.set_minor_formatter(mpl.ticker.FuncFormatter(lambda value, _: ""))
    if y_max is not None:
        axes.set_ylim(0, y_max)
    else:
        axes.set_ylim(bottom=0)
    axes.set_xlabel(x_label)
    axes.set_ylabel(y_label)
    axes.legend(loc="best", ncols=2 if len(drawn) > 4 else 1)
    return _svg(figure, title)


Bar = tuple[str, str, float, float | None, float | None]
"""(group, series, value, interval low, interval high): bars grouped on the x axis, one colour per series."""


def bar_chart(title: str, bars: Sequence[Bar], y_label: str) -> str:
    """An SVG bar chart of groups (e.g. testbeds) × series (e.g. classes), with each bar's
    confidence interval as an error bar where it has one."""
    if not bars:
        return f'<p class="empty">{title}: no data</p>'
    figure, axes = _figure(title)
    groups = list(dict.fromkeys(bar[0] for bar in bars))
    series = list(dict.fromkeys(bar[1] for bar in bars))
    width = 0.8 / len(series)
    for index, name in enumerate(series):
        style = style_of(name, index)
        mine = [bar for bar in bars if bar[1] == name]
        xs = [groups.index(bar[0]) - 0.4 + width * (index + 0.5) for bar in mine]
        values = [bar[2] for bar in mine]
        errors = [[max(0.0, bar[2] - bar[3]) if bar[3] is not None else 0.0 for bar in mine],
                  [max(0.0, bar[4] - bar[2]) if bar[4] is not None else 0.0 for bar in mine]]
        axes.bar(xs, values, width=width * 0.95, color=style.colour, label=name, yerr=errors, capsize=3,
                 error_kw={"elinewidth": 1.2, "ecolor": "#222"})
    # A long name ("testbed/benchmark") breaks at its slashes rather than run into its neighbour's.
    crowded = max(len(group) for group in groups) * len(groups) > 60
    axes.set_xticks(range(len(groups)), [group.replace("/", "/\n") if crowded else group for group in groups])
    if crowded:
        figure.subplots_adjust(bottom=0.22)
    axes.set_ylim(bottom=0)
    axes.set_ylabel(y_label)
    axes.grid(axis="x", visible=False)
    axes.legend(loc="best")
    return _svg(figure, title)


def _log_subs(low: float, high: float) -> tuple[float, ...]:
    """Tick positions within each decade: enough that a range under two decades still shows
    several labelled ticks."""
    for subs in ((1.0,), (1.0, 2.0, 5.0), (1.0, 2.0, 3.0, 5.0), tuple(float(s) for s in range(1, 10))):
        ticks = [s * 10 ** e for e in range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1)
                 for s in subs]
        if sum(1 for t in ticks if low <= t <= high) >= 4:
            return subs
    return tuple(float(s) for s in range(1, 10))


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body {{ font-family: sans-serif; margin: 16px 24px; color: #222; }}
table {{ border-collapse: collapse; margin: 8px 0 16px; font-size: 13px; }}
th, td {{ border: 1px solid #ddd; padding: 3px 8px; text-align: right; white-space: nowrap; }}
th:first-child, td:first-child, .text {{ text-align: left; }}
td.text {{ white-space: normal; min-width: 16em; }}
.scroll {{ overflow-x: auto; }}
.met {{ color: #1a7f37; }} .missed {{ color: #c62828; font-weight: bold; }}
.charts {{ display: grid; grid-template-columns: repeat(auto-fit, minmax(min(100%, 560px), 1fr)); gap: 8px 24px; }}
.figure {{ width: 100%; height: auto; display: block; }}
h2 {{ border-top: 1px solid #ccc; padding-top: 12px; }}
@media (max-width: 600px) {{ body {{ margin: 8px; }} }}
</style></head><body>
{body}
</body></html>
"""
"""The page every report is (``PAGE.format(title=..., body=...)``): one style for runs and campaigns."""


def _svg(figure: "Figure", title: str) -> str:
    out = io.StringIO()
    figure.savefig(out, format="svg", metadata={"Date": None, "Title": title})
    text = out.getvalue()
    text = text[text.index("<svg"):]  # the XML declaration and doctype have no place inside HTML
    # The page decides the size: the figure fills its box and keeps its aspect ratio.
    text = re.sub(r'<svg([^>]*?) width="[^"]+" height="[^"]+"', r'<svg\1 class="figure" role="img"', text, count=1)
    return text
