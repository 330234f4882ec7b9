"""Agreement: raters with each other, with the panel and with themselves.

Krippendorff's alpha and per-rater quality flags (side bias, flips on swapped repeats, gold
accuracy, panel agreement, speed). Metrics against people: ratings.analysis.metrics.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from ratings.analysis._common import FloatArray, IntArray

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
    #: Each flag's test (see FLAG_TESTS): its p-value, None where it could not run.
    left_p: float | None
    repeats: int
    flip_rate: float | None
    gold: int
    gold_accuracy: float | None
    agreement_n: int
    agreement: float | None
    flags: tuple[str, ...]
    flip_p: float | None = None
    gold_p: float | None = None
    agreement_p: float | None = None
    fast_p: float | None = None


#: Every flag, the figure it tests and the direction that raises it. Each rater's count is
#: compared with the other panel raters' counts (leave-one-out): a beta-binomial fitted to them
#: by moments carries both their pooled rate and how much honest raters differ from each other.
FLAG_TESTS: dict[str, str] = {
    "side bias": "picks the left (or the right) image more often than the other raters do:"
    " left share of decisive votes, two-sided",
    "inconsistent": "changes their answer on swapped-sides repeats more often than the other"
    " raters do, one-sided",
    "fails gold": "picks the known winner of gold pairs less often than the other raters do,"
    " one-sided",
    "disagrees with panel": "agrees with the other raters' majority less than they agree with"
    " each other, pairs weighted by how clear their consensus is: the rater's score against"
    " the others' scores, one-sided t",
    "too fast": "has more votes flagged too fast than the other raters do, one-sided",
}


@dataclass(frozen=True)
class QualityThresholds:
    """When a rater is flagged: each flag is a test at level `alpha`.

    A rater's count (left choices, flips, gold right, agreements, fast votes) is tested
    against the same count among the study's other panel raters, not against a fixed cut:
    how close the pairs are, how many ties people use and how hard the gold pairs are all
    move the honest rate. The reference is a beta-binomial with the others' pooled rate and
    their rater-to-rater spread (moment estimates), so an honest rater is flagged by each
    test with probability about `alpha` whatever the study. A test runs only when at least
    `min_reference` other raters have data for it.
    """

    alpha: float = 0.01
    min_reference: int = 3


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
    Flags: see QualityThresholds and FLAG_TESTS.
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
    figures = []
    scores: list[float | None] = []
    for r in raters:
        n = int(r.unit.size)
        decisive_mask = r.choice < 2
        decisive = int(decisive_mask.sum())
        lefts = int(r.chose_left[decisive_mask].sum())
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
            hit = np.argmax(others, axis=1) == r.choice
            agree = int(hit[has].sum())
            score = _agreement_score(hit[has], top[has], others[has].sum(axis=1))
        else:
            score = None
        scores.append(score)
        figures.append(
            {
                "side bias": (lefts, decisive),
                "inconsistent": (r.repeat_flips, r.repeat_pairs),
                "fails gold": (int(gold.sum()), int(gold.size)),
                "disagrees with panel": (agree, agree_n),
                "too fast": (int(r.fast.sum()), n),
            }
        )
    panel_rows = np.array([i for i, r in enumerate(raters) if r.rater in in_panel], dtype=int)
    tails = {
        "side bias": "both",
        "inconsistent": "upper",
        "fails gold": "lower",
        "disagrees with panel": "lower",
        "too fast": "upper",
    }
    p_values: dict[str, list[float | None]] = {}
    member = np.zeros(len(raters), dtype=bool)
    member[panel_rows] = True
    for flag, tail in tails.items():
        xs = np.array([f[flag][0] for f in figures], dtype=float)
        ns = np.array([f[flag][1] for f in figures], dtype=float)
        got = leave_one_out_p_values(xs, ns, member, tail=tail, min_reference=t.min_reference)
        p_values[flag] = [None if np.isnan(v) else float(v) for v in got]
    # Agreement: the weighted score, judged against the other panel raters' scores.
    reference = np.array(
        [np.nan if scores[i] is None else scores[i] for i in panel_rows.tolist()], dtype=float
    )
    agreement_p: list[float | None] = []
    for i, score in enumerate(scores):
        others = reference[(panel_rows != i) & ~np.isnan(reference)]
        if score is None or others.size < max(t.min_reference, 2) or np.std(others) == 0:
            agreement_p.append(None)
            continue
        z = (score - float(np.mean(others))) / float(np.std(others, ddof=1))
        agreement_p.append(float(stats.t.cdf(z, others.size - 1)))
    p_values["disagrees with panel"] = agreement_p
    out = []
    for i, r in enumerate(raters):
        n = int(r.unit.size)
        lefts, decisive = figures[i]["side bias"]
        gold_right, gold_n = figures[i]["fails gold"]
        agree, agree_n = figures[i]["disagrees with panel"]
        ms = r.response_ms[~np.isnan(r.response_ms)]
        flags = tuple(
            flag for flag in FLAG_TESTS if (p := p_values[flag][i]) is not None and p < t.alpha
        )
        out.append(
            RaterQuality(
                rater=r.rater,
                judgments=n,
                median_ms=float(np.median(ms)) if ms.size else None,
                fast_share=float(r.fast.mean()) if n else 0.0,
                decisive=decisive,
                left_rate=lefts / decisive if decisive else None,
                left_p=p_values["side bias"][i],
                repeats=r.repeat_pairs,
                flip_rate=r.repeat_flips / r.repeat_pairs if r.repeat_pairs else None,
                gold=gold_n,
                gold_accuracy=gold_right / gold_n if gold_n else None,
                agreement_n=agree_n,
                agreement=agree / agree_n if agree_n else None,
                flags=flags,
                flip_p=p_values["inconsistent"][i],
                gold_p=p_values["fails gold"][i],
                agreement_p=p_values["disagrees with panel"][i],
                fast_p=p_values["too fast"][i],
            )
        )
    return out


def _agreement_score(hit: np.ndarray, top: FloatArray, total: FloatArray) -> float | None:
    """How far a rater's agreement with the others' plurality runs above or below what their
    consensus predicts, weighted towards the units where the others agree most.

    q = the share of the others choosing their plurality (half a vote added each way, so one
    other vote is not certainty); each unit adds logit(q)·(hit − q), the score a rater who
    agrees as the others do would expect to be zero: logit(q) is the log likelihood ratio
    of agreeing for someone voting like the others against someone voting at random, so a
    unit where the others split evenly says nothing. Scaled by its standard deviation.
    """
    if hit.size == 0:
        return None
    q = (top + 0.5) / (total + 1.0)
    w = np.maximum(np.log(q / (1 - q)), 0.0)
    variance = float((w**2 * q * (1 - q)).sum())
    if variance == 0:
        return None
    return float((w * (hit - q)).sum()) / math.sqrt(variance)


def leave_one_out_p_values(
    x: ArrayLike,
    n: ArrayLike,
    reference: ArrayLike,
    *,
    tail: str,
    min_reference: int = 3,
) -> FloatArray:
    """Each rater's count `x` of `n` tested against the other reference raters' counts.

    For rater i the reference is every rater j ≠ i with `reference[j]` and n_j > 0: a
    beta-binomial whose mean is their pooled rate (half a success and half a failure added,
    so a rate of 0 or 1 among them does not make a single miss impossible) and whose
    intra-rater correlation ρ is the moment estimate from their spread,
    E Σ nⱼ(p̂ⱼ − p̂)² = p(1 − p)[(J − 1) + ρ(N − Σnⱼ²/N − (J − 1))]; ρ = 0 (no spread beyond
    chance) is the binomial. tail: "lower", "upper" or "both" (twice the smaller tail).
    NaN where n_i = 0 or fewer than `min_reference` others have data.
    """
    if tail not in ("lower", "upper", "both"):
        raise ValueError(f"tail must be lower, upper or both, got {tail!r}.")
    xs = np.asarray(x, dtype=float)
    ns = np.asarray(n, dtype=float)
    ref = np.asarray(reference, dtype=bool) & (ns > 0)
    own = ref.astype(float)
    rate_j = np.divide(xs, ns, out=np.zeros_like(xs), where=ns > 0)
    # Sums over the reference, then each rater's own term taken out: leave-one-out.
    count = ref.sum() - own
    total = ns[ref].sum() - own * ns
    success = xs[ref].sum() - own * xs
    square = (ns**2)[ref].sum() - own * ns**2
    weighted = (ns * rate_j)[ref].sum() - own * ns * rate_j
    weighted2 = (ns * rate_j**2)[ref].sum() - own * ns * rate_j**2
    out = np.full(xs.shape, np.nan)
    ok = (count >= max(min_reference, 1)) & (ns > 0) & (total > 0)
    safe_total = np.where(total > 0, total, 1.0)
    pooled = success / safe_total
    spread = weighted2 - 2 * pooled * weighted + pooled**2 * total
    denominator = total - square / safe_total - (count - 1)
    variance = pooled * (1 - pooled)
    usable = ok & (variance > 0) & (denominator > 0)
    rho = np.zeros(xs.shape)
    rho[usable] = (spread[usable] / variance[usable] - (count[usable] - 1)) / denominator[usable]
    rho = np.clip(rho, 0.0, 0.99)
    rate = (success + 0.5) / (total + 1.0)
    k, size = np.round(xs), np.round(ns)
    spread_rows = ok & (rho > 0)
    flat_rows = ok & (rho == 0)
    lower = np.full(xs.shape, np.nan)
    upper = np.full(xs.shape, np.nan)
    if spread_rows.any():
        r, q = rho[spread_rows], rate[spread_rows]
        a, b = q * (1 - r) / r, (1 - q) * (1 - r) / r
        lower[spread_rows] = stats.betabinom.cdf(k[spread_rows], size[spread_rows], a, b)
        upper[spread_rows] = stats.betabinom.sf(k[spread_rows] - 1, size[spread_rows], a, b)
    if flat_rows.any():
        lower[flat_rows] = stats.binom.cdf(k[flat_rows], size[flat_rows], rate[flat_rows])
        upper[flat_rows] = stats.binom.sf(k[flat_rows] - 1, size[flat_rows], rate[flat_rows])
    if tail == "lower":
        out[ok] = lower[ok]
    elif tail == "upper":
        out[ok] = upper[ok]
    else:
        out[ok] = 2 * np.minimum(lower[ok], upper[ok])
    return np.minimum(out, 1.0)
