"""The per-setting win-rate table: each factor level's wins counted from its own side."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from ratings import analysis
from ratings.models import Criterion, Study
from ratings.reports.configs import FACTOR_LABELS, level_label, study_configs, varying_levels
from ratings.reports.judgments import _cached, pair_counts


@dataclass(frozen=True)
class WinRateItem:
    factor: str
    factor_label: str
    level: str
    level_label: str
    wins: float
    losses: float
    ties: float
    both_bad: float
    votes: float
    win_rate: float | None
    ci_low: float
    ci_high: float
    p_value: float
    p_holm: float
    votes_needed: int
    confounded_share: float
    descriptive: bool


@dataclass(frozen=True)
class WinRateReport:
    criterion: str | None
    judgments: int
    detect_win_rate: float
    rows: list[WinRateItem]


def study_win_rates(*, study: Study, criterion: Criterion | None = None) -> WinRateReport:
    return _cached("win", study, criterion, lambda: _win_rates(study, criterion))


def _win_rates(study: Study, criterion: Criterion | None) -> WinRateReport:
    configs = study_configs(study=study)
    levels = varying_levels(configs)
    sums: dict[tuple[int, int], list[float]] = defaultdict(lambda: [0.0] * 4)
    for r in pair_counts(study=study, criterion=criterion):
        s = sums[(r.config_a, r.config_b)]
        s[0] += r.a_wins
        s[1] += r.b_wins
        s[2] += r.ties
        s[3] += r.both_bad
    tallies = [analysis.PairTally(a, b, *s) for (a, b), s in sums.items()]
    rows = [
        WinRateItem(
            factor=r.factor,
            factor_label=FACTOR_LABELS.get(r.factor, r.factor),
            level=r.level,
            level_label=level_label(r.factor, r.level),
            wins=r.wins,
            losses=r.losses,
            ties=r.ties,
            both_bad=r.both_bad,
            votes=r.votes,
            win_rate=r.win_rate,
            ci_low=r.ci_low,
            ci_high=r.ci_high,
            p_value=r.p_value,
            p_holm=r.p_holm,
            votes_needed=r.votes_needed,
            confounded_share=r.confounded_share,
            descriptive=r.descriptive,
        )
        for r in analysis.win_rate_table(levels, tallies)
    ]
    order = list(FACTOR_LABELS)
    rows.sort(key=lambda r: order.index(r.factor) if r.factor in order else len(order))
    return WinRateReport(
        criterion=criterion.key if criterion else None,
        judgments=int(sum(sum(s) for s in sums.values())),
        detect_win_rate=analysis.DETECTABLE_WIN_RATE,
        rows=rows,
    )
