"""Agreement: raters with each other, with the panel and with themselves; metrics with raters.

Krippendorff's alpha and per-rater quality flags (side bias, flips on swapped repeats, gold
accuracy, panel agreement, speed); how often a metric picks the human winner, with intervals
from a bootstrap that resamples whole comparisons.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from ratings.analysis._common import FloatArray, IntArray
from ratings.analysis.rates import binomial_p

# --------------------------------------------------------------------------- rater quality


def krippendorff_alpha_nominal(unit_counts: ArrayLike) -> float | None:
    """Krippendorff's α for nominal data from a (units × categories) matrix of value counts.

    Units with fewer than two values are not pairable and are dropped. Returns None when
    fewer than two pairable values remain or all values fall in one category (α undefined).
    """
    counts = np.asarray(unit_counts, dtype=float)
    if counts.ndim != 2:
        raise ValueError("unit_counts must be a (units × categories) matrix.")
    m = counts.sum(axis=1)
    counts = counts[m >= 2]
    m = m[m >= 2]
    n = m.sum()
    if n < 2:
        return None
    # Observed disagreement: pairs of different values within a unit, per pairable value.
    within_same = (counts * (counts - 1)).sum(axis=1)
    observed = ((m * (m - 1) - within_same) / (m - 1)).sum() / n
    totals = counts.sum(axis=0)
    expected = (n * (n - 1) - (totals * (totals - 1)).sum()) / (n * (n - 1))
    if expected == 0:
        return None
    return float(1 - observed / expected)


@dataclass(frozen=True)
class RaterVotes:
    """One rater's first votes (and repeats), in plain arrays.

    `choice` codes the outcome relative to the comparison: 0 = image a, 1 = image b,
    2 = tie, 3 = both bad. `unit` identifies comparison × criterion.
    """

    rater: int
    unit: IntArray
    choice: IntArray
    chose_left: NDArray[np.bool_]  # decisive votes only are meaningful
    response_ms: FloatArray  # NaN where unknown
    fast: NDArray[np.bool_]
    gold_correct: NDArray[np.float64]  # 1 right, 0 wrong, NaN not a gold vote
    repeat_pairs: int  # swapped repeats with a first vote to compare against
    repeat_flips: int


@dataclass(frozen=True)
class RaterQuality:
    rater: int
    judgments: int
    median_ms: float | None
    fast_share: float
    decisive: int
    left_rate: float | None
    left_p: float
    repeats: int
    flip_rate: float | None
    gold: int
    gold_accuracy: float | None
    agreement_n: int
    agreement: float | None
    flags: tuple[str, ...]


@dataclass(frozen=True)
class QualityThresholds:
    """When a rater is flagged.

    Flip rate and panel agreement depend on how close the pairs are (on a coin-flip pair an
    honest rater flips half the time), so those two are judged against the panel's own
    rate with a one-sided exact binomial test. Gold pairs have a known answer: absolute.
    """

    p: float = 0.01
    min_decisive: int = 10
    min_repeats: int = 6
    gold_accuracy: float = 0.6
    min_gold: int = 3
    min_agreement: int = 10
    fast_share: float = 0.3


def panel_majority(
    unit: IntArray, choice: IntArray, n_categories: int = 4
) -> tuple[IntArray, FloatArray]:
    """Per-unit category counts: returns (unit ids, counts matrix)."""
    unit = np.asarray(unit, dtype=np.int64)
    choice = np.asarray(choice, dtype=np.int64)
    low = int(unit.min()) if unit.size else 0
    span = int(unit.max()) - low + 1 if unit.size else 0
    if span <= 4 * unit.size + 1024:
        # Ids close together (comparison × criterion): count into a table, no sort.
        table = np.bincount((unit - low) * n_categories + choice, minlength=span * n_categories)
        table = table.reshape(span, n_categories)
        present = np.flatnonzero(table.sum(axis=1))
        return present + low, table[present].astype(float)
    units, idx = np.unique(unit, return_inverse=True)
    flat = idx.reshape(-1) * n_categories + choice
    counts = np.bincount(flat, minlength=units.size * n_categories).astype(float)
    return units, counts.reshape(units.size, n_categories)


def rater_quality(
    raters: Sequence[RaterVotes],
    thresholds: QualityThresholds | None = None,
    *,
    panel: Sequence[RaterVotes] | None = None,
) -> list[RaterQuality]:
    """Per-rater quality figures and flags.

    Agreement: how often a rater's vote matches the strict plurality of the *other* panel
    raters' votes on the same comparison and criterion (units without one are skipped).
    Flags: see QualityThresholds.
    The panel defaults to all raters given; an excluded rater is judged against the panel
    without being part of it.
    """
    t = thresholds or QualityThresholds()
    panel = raters if panel is None else panel
    in_panel = {r.rater for r in panel}
    if panel:
        all_unit = np.concatenate([r.unit for r in panel])
        all_choice = np.concatenate([r.choice for r in panel])
    else:
        all_unit = np.zeros(0, dtype=np.int64)
        all_choice = np.zeros(0, dtype=np.int64)
    units, counts = panel_majority(all_unit, all_choice)
    out = []
    for r in raters:
        n = int(r.unit.size)
        decisive_mask = r.choice < 2
        decisive = int(decisive_mask.sum())
        lefts = int(r.chose_left[decisive_mask].sum())
        left_rate = lefts / decisive if decisive else None
        left_p = binomial_p(lefts, decisive)
        ms = r.response_ms[~np.isnan(r.response_ms)]
        gold = r.gold_correct[~np.isnan(r.gold_correct)]
        agree_n = 0
        agree = 0
        if n:
            others = np.zeros((n, counts.shape[1]))
            if units.size:
                pos = np.minimum(np.searchsorted(units, r.unit), units.size - 1)
                known = units[pos] == r.unit
                others[known] = counts[pos[known]]
            if r.rater in in_panel:
                others[np.arange(n), r.choice] -= 1
            top = others.max(axis=1)
            unique_top = (others == top[:, None]).sum(axis=1) == 1
            has = (others.sum(axis=1) > 0) & unique_top
            agree_n = int(has.sum())
            agree = int((np.argmax(others, axis=1) == r.choice)[has].sum())
        q = RaterQuality(
            rater=r.rater,
            judgments=n,
            median_ms=float(np.median(ms)) if ms.size else None,
            fast_share=float(r.fast.mean()) if n else 0.0,
            decisive=decisive,
            left_rate=left_rate,
            left_p=left_p,
            repeats=r.repeat_pairs,
            flip_rate=r.repeat_flips / r.repeat_pairs if r.repeat_pairs else None,
            gold=int(gold.size),
            gold_accuracy=float(gold.mean()) if gold.size else None,
            agreement_n=agree_n,
            agreement=agree / agree_n if agree_n else None,
            flags=(),
        )
        out.append(q)
    panel_ids = {r.rater for r in panel}
    in_panel_q = [q for q in out if q.rater in panel_ids]
    repeats = sum(q.repeats for q in in_panel_q)
    flips = sum(round((q.flip_rate or 0) * q.repeats) for q in in_panel_q)
    agree_n = sum(q.agreement_n for q in in_panel_q)
    agreed = sum(round((q.agreement or 0) * q.agreement_n) for q in in_panel_q)
    panel_flip = flips / repeats if repeats else None
    panel_agree = agreed / agree_n if agree_n else None
    return [_with_flags(q, t, panel_flip, panel_agree) for q in out]


def _with_flags(
    q: RaterQuality, t: QualityThresholds, panel_flip: float | None, panel_agree: float | None
) -> RaterQuality:
    flags = []
    if q.decisive >= t.min_decisive and q.left_p < t.p:
        flags.append("side bias")
    if (
        q.flip_rate is not None
        and panel_flip is not None
        and 0 < panel_flip < 1
        and q.repeats >= t.min_repeats
        and stats.binomtest(
            round(q.flip_rate * q.repeats), q.repeats, panel_flip, alternative="greater"
        ).pvalue
        < t.p
    ):
        flags.append("inconsistent")
    if q.gold_accuracy is not None and q.gold >= t.min_gold and q.gold_accuracy < t.gold_accuracy:
        flags.append("fails gold")
    if (
        q.agreement is not None
        and panel_agree is not None
        and 0 < panel_agree < 1
        and q.agreement_n >= t.min_agreement
        and stats.binomtest(
            round(q.agreement * q.agreement_n), q.agreement_n, panel_agree, alternative="less"
        ).pvalue
        < t.p
    ):
        flags.append("disagrees with panel")
    if q.judgments and q.fast_share > t.fast_share:
        flags.append("too fast")
    return RaterQuality(**{**q.__dict__, "flags": tuple(flags)})


# --------------------------------------------------------------------------- metrics vs people


def metric_credit(score_a: ArrayLike, score_b: ArrayLike, choice: ArrayLike) -> FloatArray:
    """Per-vote credit behind `metric_agreement`: 1, ½ or 0 (choice codes as there)."""
    a = np.asarray(score_a, dtype=float)
    b = np.asarray(score_b, dtype=float)
    c = np.asarray(choice, dtype=np.int64)
    metric = np.where(a > b, 0, np.where(b > a, 1, 2))
    return np.where(c == 2, 0.5, np.where(metric == 2, 0.5, (metric == c).astype(float)))


def metric_agreement(score_a: ArrayLike, score_b: ArrayLike, choice: ArrayLike) -> float | None:
    """How often a metric picks the human winner, tie-aware.

    choice: 0 = a won, 1 = b won, 2 = tie/both bad. A decisive vote scores 1 when the metric
    ranks the winner higher (½ when the metric has the two equal); a human tie scores ½.
    """
    credit = metric_credit(score_a, score_b, choice)
    if credit.size == 0:
        return None
    return float(credit.mean())


def cluster_mean_interval(
    credit: ArrayLike,
    votes: ArrayLike,
    *,
    n_boot: int = 200,
    rng: np.random.Generator | None = None,
    level: float = 0.95,
) -> tuple[float, float] | None:
    """Percentile bootstrap interval of Σcredit / Σvotes, resampling whole clusters.

    One entry per cluster (a comparison): votes on the same pair share its difficulty and are
    not independent, so resampling single votes would give too narrow an interval.
    None when there are no votes.
    """
    c = np.asarray(credit, dtype=float)
    n = np.asarray(votes, dtype=float)
    if c.shape != n.shape or c.ndim != 1:
        raise ValueError("credit and votes must be 1-D arrays of the same length.")
    if n.sum() <= 0:
        return None
    rng = rng or np.random.default_rng(0)
    k = c.size
    means = np.empty(n_boot)
    for i in range(n_boot):
        weight = np.bincount(rng.integers(0, k, k), minlength=k)
        total = weight @ n
        means[i] = (weight @ c) / total if total else np.nan
    means = means[~np.isnan(means)]
    tail = (1 - level) / 2
    return float(np.quantile(means, tail)), float(np.quantile(means, 1 - tail))
