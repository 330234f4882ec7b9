"""The per-setting win-rate table: each factor level's wins counted from its own side."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ratings import analysis
from ratings.models import Criterion, Study
from ratings.reports.configs import FACTOR_LABELS, level_label, study_configs, varying_levels
from ratings.reports.judgments import StudyVotes, _cached


@dataclass(frozen=True, kw_only=True)
class WinRateItem(analysis.WinRateRow):
    """A row of ratings.analysis.win_rate_table with its factor and level as people read them."""

    factor_label: str
    level_label: str


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
            **asdict(r),
            factor_label=FACTOR_LABELS.get(r.factor, r.factor),
            level_label=level_label(r.factor, r.level),
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
