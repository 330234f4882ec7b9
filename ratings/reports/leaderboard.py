"""The Bradley–Terry leaderboard of configurations, with intervals and ranks from a bootstrap."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from ratings import analysis
from ratings.models import Criterion, Study
from ratings.reports.configs import study_configs
from ratings.reports.judgments import DEFAULT_BOOT, _cached, pair_counts


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
        f"bt{n_boot}.{seed}", study, criterion, lambda: _leaderboard(study, criterion, n_boot, seed)
    )


def _leaderboard(
    study: Study, criterion: Criterion | None, n_boot: int, seed: int
) -> LeaderboardReport:
    configs = study_configs(study=study)
    counts = pair_counts(study=study, criterion=criterion)
    ids = sorted(configs)
    index = {cid: i for i, cid in enumerate(ids)}
    merged: dict[tuple[int, int, int, int], list[float]] = defaultdict(lambda: [0.0] * 3)
    for r in counts:
        m = merged[(r.config_a, r.config_b, r.rater, r.prompt)]
        m[0] += r.a_wins
        m[1] += r.b_wins
        m[2] += r.ties + r.both_bad
    records = [
        analysis.PairRecord(index[a], index[b], rater, prompt, *m)
        for (a, b, rater, prompt), m in merged.items()
    ]
    total = int(sum(sum(m) for m in merged.values()))
    if not records or len(ids) < 2:
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
        raters=len({r.rater for r in records}),
        prompts=len({r.prompt for r in records}),
        n_boot=n_boot,
        baseline_id=study.baseline_id,
        rows=rows,
    )
