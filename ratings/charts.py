"""Server-side SVG charts: readable without JavaScript, every text escaped.

Each chart carries a <title> and <desc> for screen readers and a text fallback in the page.
Colours come from the stylesheet (static/loupe/analysis.css) through the classes below, so the
charts follow the site's palette; the SVG names no colour.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from django.utils.safestring import SafeString, mark_safe

# Classes the stylesheet colours (analysis.css): stroke and fill for each role.
MUTED = "ch-muted"  # reference lines, axis text, "no difference"
LINE = "ch-grid"  # grid and the full [0, 1] track
ACCENT = "ch-accent"  # an interval that includes the reference
GOOD = "ch-good"  # an interval wholly above the reference
BAD = "ch-bad"  # an interval wholly below it
BAND = "ch-band"  # alternate row shading


def _num(x: float) -> str:
    return f"{x:.1f}"


def interval_bar(
    point: float | None,
    low: float,
    high: float,
    *,
    width: int = 160,
    height: int = 18,
    reference: float = 0.5,
    label: str = "",
) -> SafeString:
    """A proportion on [0, 1]: a line from low to high, a dot at the point, a tick at 50 %."""

    def x(v: float) -> float:
        return 4 + max(0.0, min(1.0, v)) * (width - 8)

    mid = height / 2
    colour = MUTED
    if point is not None and low > reference:
        colour = GOOD
    elif point is not None and high < reference:
        colour = BAD
    parts = [
        f'<svg class="ibar" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img">',
        f"<title>{escape(label)}</title>",
        f'<line class="{LINE}" x1="{_num(x(0))}" x2="{_num(x(1))}" y1="{mid}" y2="{mid}" stroke-width="1"/>',
        f'<line class="{MUTED}" x1="{_num(x(reference))}" x2="{_num(x(reference))}" y1="2" '
        f'y2="{height - 2}" stroke-dasharray="2 2" stroke-width="1"/>',
        f'<line class="{colour}" x1="{_num(x(low))}" x2="{_num(x(high))}" y1="{mid}" y2="{mid}" '
        f'stroke-width="4" stroke-linecap="round" opacity="0.45"/>',
    ]
    if point is not None:
        parts.append(f'<circle class="{colour}" cx="{_num(x(point))}" cy="{mid}" r="4"/>')
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every text above is escaped


@dataclass(frozen=True)
class ForestRow:
    label: str
    point: float
    low: float
    high: float
    note: str = ""
    emphasis: bool = False


def forest_plot(
    rows: Sequence[ForestRow],
    *,
    title: str,
    axis_label: str,
    reference: float,
    lo: float | None = None,
    hi: float | None = None,
    tick_format: str = "{:g}",
    ticks: Sequence[float] | None = None,
    width: int = 1000,
    label_width: int = 380,
    row_height: int = 26,
) -> SafeString:
    """Points with horizontal intervals, one row per item, a dashed line at `reference`."""
    top, bottom, right_pad = 12, 44, 70
    height = top + bottom + row_height * max(1, len(rows))
    lo = min([reference, *(r.low for r in rows)]) if lo is None else lo
    hi = max([reference, *(r.high for r in rows)]) if hi is None else hi
    if hi - lo < 1e-9:
        lo, hi = lo - 1, hi + 1
    pad = (hi - lo) * 0.04
    lo, hi = lo - pad, hi + pad
    plot_left, plot_right = label_width + 10, width - right_pad

    def x(v: float) -> float:
        return plot_left + (max(lo, min(hi, v)) - lo) / (hi - lo) * (plot_right - plot_left)

    if ticks is None:
        ticks = _nice_ticks(lo, hi)
    desc = "; ".join(
        f"{r.label}: {tick_format.format(r.point)} ({tick_format.format(r.low)} to "
        f"{tick_format.format(r.high)})"
        for r in rows
    )
    parts = [
        f'<svg class="forest" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="100%" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title><desc>{escape(desc)}</desc>",
        '<g class="ch-ink" font-family="system-ui, sans-serif" font-size="12">',
    ]
    axis_y = top + row_height * max(1, len(rows)) + 4
    for t in ticks:
        if lo <= t <= hi:
            parts.append(
                f'<line class="{LINE}" x1="{_num(x(t))}" x2="{_num(x(t))}" y1="{top}" y2="{axis_y}"/>'
                f'<text class="{MUTED}" x="{_num(x(t))}" y="{axis_y + 14}" text-anchor="middle">'
                f"{escape(tick_format.format(t))}</text>"
            )
    parts.append(
        f'<line class="{MUTED}" x1="{_num(x(reference))}" x2="{_num(x(reference))}" '
        f'y1="{top - 4}" y2="{axis_y}" stroke-dasharray="4 3"/>'
        f'<text class="{MUTED}" x="{_num((plot_left + plot_right) / 2)}" y="{axis_y + 32}" '
        f'text-anchor="middle">{escape(axis_label)}</text>'
    )
    for i, r in enumerate(rows):
        cy = top + row_height * i + row_height / 2
        if i % 2 == 0:
            parts.append(
                f'<rect class="{BAND}" x="0" y="{_num(cy - row_height / 2)}" width="{width}" '
                f'height="{row_height}" opacity="0.6"/>'
            )
        colour = GOOD if r.low > reference else BAD if r.high < reference else ACCENT
        label = r.label if len(r.label) <= 56 else r.label[:55] + "…"
        weight = ' font-weight="600"' if r.emphasis else ""
        parts.append(
            f'<text x="{label_width}" y="{_num(cy + 4)}" text-anchor="end"{weight}>'
            f"{escape(label)}</text>"
            f'<line class="{colour}" x1="{_num(x(r.low))}" x2="{_num(x(r.high))}" y1="{_num(cy)}" '
            f'y2="{_num(cy)}" stroke-width="2.5" stroke-linecap="round"/>'
            f'<circle class="{colour}" cx="{_num(x(r.point))}" cy="{_num(cy)}" r="5"/>'
        )
        if r.note:
            parts.append(
                f'<text class="{MUTED}" x="{plot_right + 8}" y="{_num(cy + 4)}">{escape(r.note)}</text>'
            )
    parts.append("</g></svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every text above is escaped


def _nice_ticks(lo: float, hi: float, target: int = 6) -> list[float]:
    span = hi - lo
    raw = span / target
    magnitude = 10 ** _floor_log10(raw)
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    start = (lo // step) * step
    ticks = []
    t = start
    while t <= hi + 1e-12:
        if t >= lo - 1e-12:
            ticks.append(round(t, 10))
        t += step
    return ticks


def _floor_log10(x: float) -> int:
    return math.floor(math.log10(x)) if x > 0 else 0
