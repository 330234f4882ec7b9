"""Server-side SVG charts take their colours from the stylesheet, not from the markup."""

from __future__ import annotations

import re
from pathlib import Path

from ratings import charts

CSS = Path(__file__).resolve().parents[2] / "static" / "loupe" / "analysis.css"


def _charts() -> list[str]:
    rows = [
        charts.ForestRow("above", 0.7, 0.6, 0.8),
        charts.ForestRow("below", 0.3, 0.2, 0.4, note="n = 12"),
        charts.ForestRow("across", 0.5, 0.4, 0.6, emphasis=True),
    ]
    return [
        charts.forest_plot(rows, title="Win rates", axis_label="win rate", reference=0.5),
        charts.interval_bar(0.7, 0.6, 0.8, label="above"),
        charts.interval_bar(0.3, 0.2, 0.4, label="below"),
        charts.interval_bar(None, 0.2, 0.8, label="no votes"),
    ]


def test_charts_name_no_colour_and_style_every_class_they_use() -> None:
    svg = "".join(_charts())
    assert not re.search(r'(fill|stroke)="(?!none)', svg), "a colour is written into the SVG"
    assert "#" not in re.sub(r"<(title|desc)>.*?</\1>", "", svg)
    used = set(re.findall(r'class="(ch-[a-z]+)"', svg))
    assert {charts.GOOD, charts.BAD, charts.ACCENT, charts.MUTED, charts.LINE} <= used
    styled = set(re.findall(r"\.(ch-[a-z]+)\s*\{", CSS.read_text()))
    assert used <= styled, f"no rule in analysis.css for {sorted(used - styled)}"


def test_interval_bar_colours_by_where_the_interval_lies() -> None:
    above, below, unknown = (charts.interval_bar(*a, label="x") for a in (
        (0.7, 0.6, 0.8), (0.3, 0.2, 0.4), (0.5, 0.4, 0.6)))  # fmt: skip
    assert f'<circle class="{charts.GOOD}"' in above
    assert f'<circle class="{charts.BAD}"' in below
    assert f'<circle class="{charts.MUTED}"' in unknown
