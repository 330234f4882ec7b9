"""The Bradley–Terry leaderboard of configurations: intervals, ranks and P(best) from one fit.

The fit and its uncertainty are ratings.analysis.leaderboard_uncertainty's, on the votes that
count (first votes, no gold pairs, no excluded raters); the adaptive pair choice uses the same
(ratings.pairs.study_pair_weights).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ratings import analysis
from ratings.models import Criterion, Study
from ratings.reports.configs import study_configs
from ratings.reports.judgments import StudyVotes, _cached, _version, _votes
from ratings.reports.wording import LEADERBOARD, AboutRaters, IntervalModel


@dataclass(frozen=True)
class LeaderboardItem:
    config_id: int
    label: str
    name: str
    strength: float
    ci_low: float
    ci_high: float
    rank: int
    rank_low: int
    rank_high: int
    p_best: float
    judgments: float
    se: float
    #: Model-implied chance of beating the study's baseline (None for the baseline itself).
    p_vs_baseline: float | None


@dataclass(frozen=True)
class LeaderboardReport(AboutRaters):
    criterion: str | None
    judgments: int
    raters: int
    prompts: int
    #: Draws of the strengths behind ranks and P(best).
    n_boot: int
    baseline_id: int | None
    rows: list[LeaderboardItem]
    #: analysis.POPULATION or analysis.THESE_RATERS (see ratings.analysis.estimand); None
    #: without votes.
    estimand: str | None = None
    #: t degrees of freedom of the intervals (None: normal quantiles).
    df: float | None = None
    interval_model: ClassVar[IntervalModel] = LEADERBOARD


#: Draws behind ranks and P(best): cheap (no refits), enough for P(best) to ±1 %.
DEFAULT_DRAWS = 4000


def study_leaderboard(
    *, study: Study, criterion: Criterion | None = None, n_boot: int = DEFAULT_DRAWS, seed: int = 0
) -> LeaderboardReport:
    return _cached(
        f"btu{n_boot}.{seed}",
        study,
        criterion,
        lambda votes: _leaderboard(study, criterion, votes, n_boot, seed),
    )


def counted_pair_table(
    votes: StudyVotes, criterion: Criterion | None, ids: list[int]
) -> analysis.PairTable:
    """The votes that count, per config pair × rater × prompt, configs as indices into `ids`
    (sorted config ids): what the leaderboard and the adaptive pair choice fit."""
    g = votes.grouped(votes.preference(criterion), by_prompt=True, by_rater=True, by_side=False)
    c = g.counts.astype(float)
    keep = np.isin(g.config_a, ids) & np.isin(g.config_b, ids)
    return analysis.PairTable(
        item_a=np.searchsorted(ids, g.config_a[keep]),
        item_b=np.searchsorted(ids, g.config_b[keep]),
        rater=g.rater[keep],
        prompt=g.prompt[keep],
        a_wins=c[keep, 0],
        b_wins=c[keep, 1],
        ties=c[keep, 2] + c[keep, 3],
    )


def study_leaderboard_fit(
    *, study: Study, criterion: Criterion | None = None
) -> tuple[list[int], analysis.StrengthUncertainty] | None:
    """The leaderboard's Bradley–Terry fit and its uncertainty on the study's counted votes.

    Returns the sorted config ids (the fit's items, in order) and
    ratings.analysis.leaderboard_uncertainty's result, or None without votes between two
    configurations. The same fit as study_leaderboard's (same votes, same model); the adaptive
    pair choice and the stopping rules read it. Not cached here: callers cache what they derive.
    """
    ids = sorted(study_configs(study=study))
    votes = _votes(study, _version(study))
    records = counted_pair_table(votes, criterion, ids)
    if not len(records) or len(ids) < 2:
        return None
    return ids, analysis.leaderboard_uncertainty(len(ids), records)


def _leaderboard(
    study: Study, criterion: Criterion | None, votes: StudyVotes, n_boot: int, seed: int
) -> LeaderboardReport:
    configs = study_configs(study=study)
    ids = sorted(configs)
    index = {cid: i for i, cid in enumerate(ids)}
    records = counted_pair_table(votes, criterion, ids)
    total = int(records.a_wins.sum() + records.b_wins.sum() + records.ties.sum())
    if not len(records) or len(ids) < 2:
        return LeaderboardReport(
            criterion=criterion.key if criterion else None,
            judgments=total,
            raters=0,
            prompts=0,
            n_boot=0,
            baseline_id=study.baseline_id,
            rows=[],
        )
    board = analysis.bt_leaderboard(
        len(ids), records, n_boot=n_boot, rng=np.random.default_rng(seed)
    )
    base = index.get(study.baseline_id) if study.baseline_id else None
    probs = analysis.bt_win_probability(board.strengths)
    rows = [
        LeaderboardItem(
            config_id=cid,
            label=configs[cid].label,
            name=configs[cid].name,
            strength=float(board.strengths[i]),
            ci_low=float(board.ci_low[i]),
            ci_high=float(board.ci_high[i]),
            rank=int(board.rank[i]),
            rank_low=int(board.rank_low[i]),
            rank_high=int(board.rank_high[i]),
            p_best=float(board.p_best[i]),
            judgments=float(board.votes[i]),
            se=float(board.se[i]),
            p_vs_baseline=None if base is None or base == i else float(probs[i, base]),
        )
        for cid, i in index.items()
    ]
    rows.sort(key=lambda r: r.rank)
    return LeaderboardReport(
        criterion=criterion.key if criterion else None,
        judgments=total,
        raters=int(np.unique(records.rater).size),
        prompts=int(np.unique(records.prompt).size),
        n_boot=n_boot,
        baseline_id=study.baseline_id,
        rows=rows,
        estimand=board.estimand,
        df=board.df,
    )
