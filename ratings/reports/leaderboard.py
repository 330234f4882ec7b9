"""The Bradley–Terry leaderboard of configurations, with intervals and ranks from a bootstrap."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ratings import analysis
from ratings.models import Criterion, Study
from ratings.reports.configs import study_configs
from ratings.reports.judgments import DEFAULT_BOOT, StudyVotes, _cached


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
    #: Model-implied chance of beating the study's baseline (None for the baseline itself).
    p_vs_baseline: float | None


@dataclass(frozen=True)
class LeaderboardReport:
    criterion: str | None
    judgments: int
    raters: int
    prompts: int
    n_boot: int
    baseline_id: int | None
    rows: list[LeaderboardItem]


def study_leaderboard(
    *, study: Study, criterion: Criterion | None = None, n_boot: int = DEFAULT_BOOT, seed: int = 0
) -> LeaderboardReport:
    return _cached(
        f"bt{n_boot}.{seed}",
        study,
        criterion,
        lambda votes: _leaderboard(study, criterion, votes, n_boot, seed),
    )


def _leaderboard(
    study: Study, criterion: Criterion | None, votes: StudyVotes, n_boot: int, seed: int
) -> LeaderboardReport:
    configs = study_configs(study=study)
    ids = sorted(configs)
    index = {cid: i for i, cid in enumerate(ids)}
    g = votes.grouped(votes.preference(criterion), by_prompt=True, by_rater=True, by_side=False)
    c = g.counts.astype(float)
    # Config ids → indices into `ids` (sorted), for every group at once.
    records = analysis.PairTable(
        item_a=np.searchsorted(ids, g.config_a),
        item_b=np.searchsorted(ids, g.config_b),
        rater=g.rater,
        prompt=g.prompt,
        a_wins=c[:, 0],
        b_wins=c[:, 1],
        ties=c[:, 2] + c[:, 3],
    )
    total = int(c.sum())
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
    )
