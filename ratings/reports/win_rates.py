"""The per-setting win-rate table: each factor level's wins counted from its own side."""

from __future__ import annotations

from dataclasses import dataclass

from ratings import analysis
from ratings.models import Criterion, Study
from ratings.reports.configs import FACTOR_LABELS, level_label, study_configs, varying_levels
from ratings.reports.judgments import StudyVotes, _cached


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
    #: How many contrasts Holm's adjustment ran over (a two-level factor is one).
    contrasts: int = 0


def study_win_rates(*, study: Study, criterion: Criterion | None = None) -> WinRateReport:
    return _cached("win", study, criterion, lambda votes: _win_rates(study, criterion, votes))


def _win_rates(study: Study, criterion: Criterion | None, votes: StudyVotes) -> WinRateReport:
    configs = study_configs(study=study)
    levels = varying_levels(configs)
    g = votes.grouped(votes.preference(criterion), by_prompt=False, by_rater=False, by_side=False)
    sums = g.counts.astype(float)
    tallies = [
        analysis.PairTally(a, b, *s)
        for a, b, s in zip(g.config_a.tolist(), g.config_b.tolist(), sums.tolist(), strict=True)
    ]
    table = analysis.win_rate_table(levels, tallies)
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
        for r in table
    ]
    order = list(FACTOR_LABELS)
    rows.sort(key=lambda r: order.index(r.factor) if r.factor in order else len(order))
    return WinRateReport(
        criterion=criterion.key if criterion else None,
        judgments=int(sums.sum()),
        detect_win_rate=analysis.DETECTABLE_WIN_RATE,
        rows=rows,
        contrasts=table[0].family if table else 0,
    )
