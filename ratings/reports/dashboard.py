"""The study dashboard's data: every report, chart and link the analysis page shows."""

from __future__ import annotations

from typing import Any

from django.core.paginator import Paginator
from django.urls import reverse
from django.utils.safestring import SafeString

from generation.media import image_url
from ratings import charts
from ratings.models import Study
from ratings.reports.configs import study_configs
from ratings.reports.factor_effects import study_factor_effects
from ratings.reports.judgments import judgment_count
from ratings.reports.leaderboard import study_leaderboard
from ratings.reports.metrics import study_metric_agreement
from ratings.reports.pairs import study_pair_tallies
from ratings.reports.raters import study_raters
from ratings.reports.stopping import study_stopping
from ratings.reports.win_rates import study_win_rates
from ratings.reports.wording import percent

PAIRS_PER_PAGE = 12
OUTCOME_FILTERS = (
    ("", "Any outcome"),
    ("a", "Left-listed image won"),
    ("b", "Right-listed image won"),
    ("split", "Split votes"),
    ("tie", "Has a tie"),
    ("both_bad", "Has “both bad”"),
    ("all", "All pairs, judged or not"),
)


def _forest(rows: list[charts.ForestRow], **options: Any) -> SafeString | None:
    """The forest plot of these rows, or None when there are none (the page says so instead)."""
    return charts.forest_plot(rows, **options) if rows else None


def _agreement_bar(
    value: float | None, low: float | None, high: float | None, label: str
) -> SafeString | None:
    """A bar for an agreement rate with its interval (an unknown end drawn at 0 or 1), or None
    when there is no rate yet."""
    if value is None:
        return None
    return charts.interval_bar(
        value, low if low is not None else 0.0, high if high is not None else 1.0, label=label
    )


def study_dashboard(
    *,
    study: Study,
    criterion_key: str = "",
    config_id: int | None = None,
    outcome: str = "",
    page: str | int | None = None,
) -> dict[str, Any]:
    """Everything the dashboard shows for one criterion ("" for all) and one page of the pair
    browser (filtered by configuration and outcome): reports, charts and API links."""
    criteria = list(study.criteria.all())
    criterion = next((c for c in criteria if c.key == criterion_key), None)
    win = study_win_rates(study=study, criterion=criterion)
    board = study_leaderboard(study=study, criterion=criterion)
    effects = study_factor_effects(study=study, criterion=criterion)
    raters = study_raters(study=study)
    metrics = study_metric_agreement(study=study, criterion=criterion)
    configs = study_configs(study=study)

    win_rows = [
        (
            row,
            charts.interval_bar(
                row.win_rate,
                row.ci_low,
                row.ci_high,
                label=f"{row.factor_label} {row.level_label}: "
                f"{percent(row.win_rate or 0)} ({percent(row.ci_low)}–{percent(row.ci_high)})",
            ),
        )
        for row in win.rows
    ]
    forest = _forest(
        [
            charts.ForestRow(
                f"#{r.rank} {r.name or r.label}",
                r.strength,
                r.ci_low,
                r.ci_high,
                note=f"best {percent(r.p_best)}",
                emphasis=r.config_id == board.baseline_id,
            )
            for r in board.rows
        ],
        title="Bradley–Terry leaderboard with 95 % intervals",
        axis_label="strength (log-odds against the average configuration)",
        reference=0.0,
    )
    effects_chart = _forest(
        [
            charts.ForestRow(
                f"{r.factor_label}: {r.level_label} (vs {r.reference_label})",
                r.p_vs_baseline,
                r.p_low,
                r.p_high,
                note=f"β {r.beta:+.2f}",
            )
            for r in effects.rows
        ],
        title="Factor effects: model-implied win probability against the baseline",
        axis_label="P(beats the baseline), sides balanced",
        reference=0.5,
        lo=0.0,
        hi=1.0,
        ticks=[0, 0.25, 0.5, 0.75, 1.0],
        tick_format="{:.0%}",
    )

    metric_rows = [
        (
            row,
            _agreement_bar(
                row.agreement,
                row.ci_low,
                row.ci_high,
                f"{row.metric}: {percent(row.agreement or 0)} agreement with people",
            ),
            percent(row.agreement, digits=1),
        )
        for row in metrics.rows
    ]
    ceiling_bar = _agreement_bar(
        metrics.ceiling,
        metrics.ceiling_low,
        metrics.ceiling_high,
        f"people against themselves: {percent(metrics.ceiling or 0)}",
    )

    if outcome not in dict(OUTCOME_FILTERS):
        outcome = ""
    pairs = Paginator(
        study_pair_tallies(
            study=study, criterion=criterion, config_id=config_id, outcome=outcome or None
        ),
        PAIRS_PER_PAGE,
    ).get_page(page)
    pair_cards = [
        {
            "pair": p,
            "a_url": image_url(p.comparison.image_a),
            "b_url": image_url(p.comparison.image_b),
            "a_config": configs.get(p.config_a),
            "b_config": configs.get(p.config_b),
        }
        for p in pairs.object_list
    ]
    judgments = judgment_count(study=study)
    api = {
        name: reverse(f"api-study-{name}", args=[study.pk])
        for name in (
            "win-rates",
            "leaderboard",
            "factor-effects",
            "raters",
            "metrics",
            "csv",
            "jsonl",
        )
    }
    query = f"?criterion={criterion.key}" if criterion else ""
    return {
        "study": study,
        "criteria": criteria,
        "criterion": criterion,
        "win": win,
        "win_rows": win_rows,
        "detect_label": percent(win.detect_win_rate),
        "descriptive_rows": sum(1 for r in win.rows if r.descriptive),
        "board": board,
        "forest": forest,
        "effects": effects,
        "effects_chart": effects_chart,
        "raters": raters,
        "metrics": metrics,
        "metric_rows": metric_rows,
        "ceiling_bar": ceiling_bar,
        "ceiling_text": percent(metrics.ceiling, digits=1),
        "configs": sorted(configs.values(), key=lambda c: c.id),
        "pair_cards": pair_cards,
        "pair_total": pairs.paginator.count,
        "pair_page": pairs.number,
        "pair_pages": pairs.paginator.num_pages,
        "config_filter": config_id,
        "outcome": outcome,
        "outcome_filters": OUTCOME_FILTERS,
        "judgments_total": judgments,
        "api": api,
        "query": query,
        "stopping": study_stopping(study=study, criterion=criterion),
    }
