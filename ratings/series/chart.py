"""The series chart: strength (with its interval) against training step, and the training
loss on a second y-axis, on one SVG (server-side, as ratings.charts; colours from the
stylesheet's classes: analysis.css and series.css)."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from django.utils.safestring import SafeString, mark_safe

from ratings.charts import LINE, MUTED, _nice_ticks, _num
from ratings.series.result import SeriesPoint

STRENGTH = "ser-strength"  # points, intervals and the line through them
LOSS = "ser-loss"  # the loss curve
#: The loss polyline keeps at most this many points (a long log is thinned evenly).
LOSS_MAX_POINTS = 400


def _thin(loss: Sequence[tuple[int, float]]) -> list[tuple[int, float]]:
    if len(loss) <= LOSS_MAX_POINTS:
        return list(loss)
    every = -(-len(loss) // LOSS_MAX_POINTS)
    kept = list(loss[::every])
    return kept if kept[-1] == loss[-1] else [*kept, loss[-1]]


def _span(values: Sequence[float], *, include: float | None = None) -> tuple[float, float]:
    lo, hi = min(values), max(values)
    if include is not None:
        lo, hi = min(lo, include), max(hi, include)
    if hi - lo < 1e-9:
        lo, hi = lo - 1, hi + 1
    pad = (hi - lo) * 0.08
    return lo - pad, hi + pad


def series_chart(
    points: Sequence[SeriesPoint],
    loss: Sequence[tuple[int, float]],
    *,
    title: str,
    width: int = 1000,
    height: int = 380,
) -> SafeString:
    """Strength ± interval per checkpoint (left axis) and the loss curve (right axis) against
    training step. Either may be empty; with neither, an empty string."""
    if not points and not loss:
        return mark_safe("")
    left, right, top, bottom = 78, 78, 34, 52
    plot_w, plot_h = width - left - right, height - top - bottom
    steps = [p.step for p in points] + [s for s, _ in loss]
    x_lo, x_hi = min(0, *steps), max(steps)
    if x_hi <= x_lo:
        x_hi = x_lo + 1

    def x(step: float) -> float:
        return left + (step - x_lo) / (x_hi - x_lo) * plot_w

    s_lo, s_hi = _span([v for p in points for v in (p.ci_low, p.ci_high)] or [0.0], include=0.0)
    l_lo, l_hi = _span([v for _, v in loss] or [0.0])

    def ys(v: float) -> float:
        return top + (s_hi - v) / (s_hi - s_lo) * plot_h

    def yl(v: float) -> float:
        return top + (l_hi - v) / (l_hi - l_lo) * plot_h

    desc = "; ".join(
        f"step {p.step}: strength {p.strength:.2f} ({p.ci_low:.2f} to {p.ci_high:.2f})"
        + ("" if p.loss is None else f", loss {p.loss:.4g}")
        for p in points
    )
    parts = [
        f'<svg class="series-chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} '
        f'{height}" width="100%" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title><desc>{escape(desc or 'No votes yet.')}</desc>",
        '<g class="ch-ink" font-family="system-ui, sans-serif" font-size="12">',
    ]
    base = top + plot_h
    for t in _nice_ticks(x_lo, x_hi):
        parts.append(
            f'<line class="{LINE}" x1="{_num(x(t))}" x2="{_num(x(t))}" y1="{top}" y2="{base}"/>'
            f'<text class="{MUTED}" x="{_num(x(t))}" y="{base + 16}" text-anchor="middle">'
            f"{t:g}</text>"
        )
    parts.append(
        f'<text class="{MUTED}" x="{_num(left + plot_w / 2)}" y="{height - 10}" '
        'text-anchor="middle">training step</text>'
    )
    if points:
        for t in _nice_ticks(s_lo, s_hi):
            parts.append(
                f'<text class="{STRENGTH}-axis" x="{left - 8}" y="{_num(ys(t) + 4)}" '
                f'text-anchor="end">{t:g}</text>'
            )
        parts.append(
            f'<line class="{MUTED}" x1="{left}" x2="{left + plot_w}" y1="{_num(ys(0))}" '
            f'y2="{_num(ys(0))}" stroke-dasharray="4 3"/>'
            f'<text class="{STRENGTH}-axis" x="16" y="{_num(top + plot_h / 2)}" '
            f'text-anchor="middle" transform="rotate(-90 16 {_num(top + plot_h / 2)})">'
            "strength (log-odds; 0 = average checkpoint)</text>"
        )
    if loss:
        for t in _nice_ticks(l_lo, l_hi):
            parts.append(
                f'<text class="{LOSS}-axis" x="{left + plot_w + 8}" y="{_num(yl(t) + 4)}">'
                f"{t:g}</text>"
            )
        mid = _num(top + plot_h / 2)
        parts.append(
            f'<text class="{LOSS}-axis" x="{width - 14}" y="{mid}" text-anchor="middle" '
            f'transform="rotate(90 {width - 14} {mid})">training loss</text>'
        )
        line = " ".join(f"{_num(x(s))},{_num(yl(v))}" for s, v in _thin(loss))
        parts.append(f'<polyline class="{LOSS}" points="{line}" stroke-width="1.5"/>')
    if points:
        line = " ".join(f"{_num(x(p.step))},{_num(ys(p.strength))}" for p in points)
        parts.append(f'<polyline class="{STRENGTH}-line" points="{line}" stroke-width="2"/>')
        for p in points:
            cx = _num(x(p.step))
            parts.append(
                f'<line class="{STRENGTH}" x1="{cx}" x2="{cx}" y1="{_num(ys(p.ci_low))}" '
                f'y2="{_num(ys(p.ci_high))}" stroke-width="3" stroke-linecap="round" '
                f'opacity="0.55"/>'
                f'<circle class="{STRENGTH}" cx="{cx}" cy="{_num(ys(p.strength))}" r="5">'
                f"<title>step {p.step}: {p.strength:.2f} ({p.ci_low:.2f} to "
                f"{p.ci_high:.2f})</title></circle>"
            )
    legend_y = 16
    parts.append(
        f'<line class="{STRENGTH}" x1="{left}" x2="{left + 22}" y1="{legend_y - 4}" '
        f'y2="{legend_y - 4}" stroke-width="3"/>'
        f'<text x="{left + 28}" y="{legend_y}">strength with 95 % interval (left axis)</text>'
    )
    if loss:
        parts.append(
            f'<line class="{LOSS}" x1="{left + 330}" x2="{left + 352}" y1="{legend_y - 4}" '
            f'y2="{legend_y - 4}" stroke-width="2"/>'
            f'<text x="{left + 358}" y="{legend_y}">training loss (right axis)</text>'
        )
    parts.append("</g></svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every text above is escaped or a number
