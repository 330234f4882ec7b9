"""Metrics against people: how often an automatic metric picks the human winner, with
intervals from a bootstrap that resamples whole comparisons."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from ratings.analysis._common import FloatArray


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
