"""Statistics for pairwise judgments. Pure: plain numbers and numpy arrays in, numbers out.

Conventions used throughout:
- A *tie* and a *both bad* vote each count half a win to either side in win rates and in the
  Bradley–Terry and factor models (neither image was preferred); they are still counted
  separately so a reader can tell "equally good" from "equally bad".
- Exact binomial tests use decisive votes only (wins against losses): a sign test.
- Strengths are on the log-odds scale: P(i beats j) = 1 / (1 + exp(θ_j − θ_i)).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

#: The win rate a study should be able to detect; the table reports the votes still needed.
DETECTABLE_WIN_RATE = 0.6
#: Ridge on log-strengths: a Gaussian prior with sd 10, enough to keep a configuration that
#: never won (or never lost) finite without moving well-measured strengths.
BT_RIDGE = 0.01
#: Ridge on the factor model's coefficients (prior sd ≈ 3 on the log-odds scale).
FACTOR_RIDGE = 0.1


# --------------------------------------------------------------------------- proportions


def wilson_interval(wins: float, n: float, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for a proportion; `wins` may be fractional (ties count half).

    Returns (0, 1) when there are no votes: nothing is known.
    """
    if n < 0 or wins < 0 or wins > n:
        raise ValueError(f"Need 0 <= wins <= n, got wins={wins}, n={n}.")
    if n == 0:
        return 0.0, 1.0
    p = wins / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def binomial_p(successes: int, n: int, p: float = 0.5) -> float:
    """Exact two-sided binomial test p-value (1.0 when there is nothing to test)."""
    if n < 0 or successes < 0 or successes > n:
        raise ValueError(f"Need 0 <= successes <= n, got {successes}, {n}.")
    if n == 0:
        return 1.0
    return float(stats.binomtest(int(successes), int(n), p).pvalue)


def holm(pvalues: ArrayLike) -> FloatArray:
    """Holm–Bonferroni adjusted p-values (same order as given), monotone and capped at 1."""
    p = np.asarray(pvalues, dtype=float)
    m = p.size
    if m == 0:
        return p.copy()
    order = np.argsort(p, kind="stable")
    scaled = (m - np.arange(m)) * p[order]
    adjusted_sorted = np.minimum(np.maximum.accumulate(scaled), 1.0)
    out = np.empty(m)
    out[order] = adjusted_sorted
    return out


def votes_needed(
    win_rate: float = DETECTABLE_WIN_RATE, alpha: float = 0.05, power: float = 0.8
) -> int:
    """Decisive votes a two-sided sign test needs to detect `win_rate` against 50 %.

    Normal approximation: n = ((z_{1-α/2}·0.5 + z_{power}·sqrt(p(1−p))) / (p − 0.5))².
    """
    if not 0 < win_rate < 1 or win_rate == 0.5:
        raise ValueError("The win rate to detect must lie in (0, 1) and differ from 0.5.")
    za = stats.norm.ppf(1 - alpha / 2)
    zb = stats.norm.ppf(power)
    n = ((za * 0.5 + zb * math.sqrt(win_rate * (1 - win_rate))) / (win_rate - 0.5)) ** 2
    return math.ceil(n)


# --------------------------------------------------------------------------- win-rate table


@dataclass(frozen=True)
class PairTally:
    """Votes between two configurations (a and b), summed over raters, prompts and sides."""

    config_a: int
    config_b: int
    a_wins: float
    b_wins: float
    ties: float = 0.0
    both_bad: float = 0.0


@dataclass(frozen=True)
class WinRateRow:
    factor: str
    level: str
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
    #: Share of this row's votes from comparisons that also differ in another factor.
    confounded_share: float

    @property
    def descriptive(self) -> bool:
        """The row mixes in comparisons that differ in more than this factor."""
        return self.confounded_share > 0


def win_rate_table(
    levels: Mapping[int, Mapping[str, str]],
    tallies: Sequence[PairTally],
    *,
    detect: float = DETECTABLE_WIN_RATE,
) -> list[WinRateRow]:
    """The classic per-setting table.

    `levels[config_id][factor]` is the config's level of each factor. For each factor and
    level, the votes of every comparison whose two configs differ in that factor are counted
    from the side holding that level. Holm's adjustment runs across the whole table.
    """
    factors = sorted({f for lv in levels.values() for f in lv})
    acc: dict[tuple[str, str], list[float]] = {}
    for t in tallies:
        la, lb = levels[t.config_a], levels[t.config_b]
        differing = [f for f in factors if la.get(f) != lb.get(f)]
        confounded = len(differing) > 1
        n = t.a_wins + t.b_wins + t.ties + t.both_bad
        for f in differing:
            for level, won, lost in (
                (la.get(f, ""), t.a_wins, t.b_wins),
                (lb.get(f, ""), t.b_wins, t.a_wins),
            ):
                row = acc.setdefault((f, level), [0.0, 0.0, 0.0, 0.0, 0.0])
                row[0] += won
                row[1] += lost
                row[2] += t.ties
                row[3] += t.both_bad
                row[4] += n if confounded else 0.0
    needed = votes_needed(detect)
    keys = sorted(acc, key=lambda k: (k[0], _level_sort_key(k[1])))
    pvals = []
    for key in keys:
        wins, losses = acc[key][0], acc[key][1]
        decisive = round(wins + losses)
        pvals.append(binomial_p(min(round(wins), decisive), decisive))
    adjusted = holm(pvals)
    rows = []
    for key, p, p_adj in zip(keys, pvals, adjusted, strict=True):
        wins, losses, ties, both_bad, confounded_votes = acc[key]
        n = wins + losses + ties + both_bad
        score = wins + (ties + both_bad) / 2
        low, high = wilson_interval(score, n)
        rows.append(
            WinRateRow(
                factor=key[0],
                level=key[1],
                wins=wins,
                losses=losses,
                ties=ties,
                both_bad=both_bad,
                votes=n,
                win_rate=score / n if n else None,
                ci_low=low,
                ci_high=high,
                p_value=p,
                p_holm=float(p_adj),
                votes_needed=max(0, needed - round(wins + losses)),
                confounded_share=confounded_votes / n if n else 0.0,
            )
        )
    return rows


def _level_sort_key(level: str) -> tuple[int, float, str]:
    try:
        return 0, float(level), level
    except ValueError:
        return 1, 0.0, level


# --------------------------------------------------------------------------- Bradley–Terry


@dataclass(frozen=True)
class BTFit:
    #: Log-strengths, centred on zero (the ridge centres them).
    strengths: FloatArray
    iterations: int
    converged: bool


def wins_matrix(
    n_items: int, winners: ArrayLike, losers: ArrayLike, counts: ArrayLike | None = None
) -> FloatArray:
    """W[i, j] = (possibly fractional) wins of i over j. A tie is half a win each way."""
    w = np.asarray(winners, dtype=np.int64)
    lo = np.asarray(losers, dtype=np.int64)
    c = np.ones(w.shape) if counts is None else np.asarray(counts, dtype=float)
    if w.shape != lo.shape or w.shape != c.shape:
        raise ValueError("winners, losers and counts must have the same length.")
    if w.size and (min(w.min(), lo.min()) < 0 or max(w.max(), lo.max()) >= n_items):
        raise ValueError(f"Item indices must lie in [0, {n_items}).")
    if np.any(w == lo):
        raise ValueError("An item cannot beat itself.")
    if np.any(c < 0):
        raise ValueError("Counts must be non-negative.")
    flat = np.bincount(w * n_items + lo, weights=c, minlength=n_items * n_items)
    return flat.reshape(n_items, n_items).astype(float)


def bradley_terry(
    n_items: int,
    winners: ArrayLike,
    losers: ArrayLike,
    counts: ArrayLike | None = None,
    *,
    ridge: float = BT_RIDGE,
) -> BTFit:
    """Maximum-likelihood Bradley–Terry strengths (with a small ridge) from win counts.

    Each row (winners[k], losers[k], counts[k]) says item `winners[k]` beat `losers[k]`
    `counts[k]` times (default 1). Pass a tie as half a count in each direction.
    """
    fit = bradley_terry_batch(wins_matrix(n_items, winners, losers, counts)[None], ridge=ridge)
    return BTFit(fit.strengths[0], fit.iterations, fit.converged)


def bradley_terry_batch(
    wins: ArrayLike, *, ridge: float = BT_RIDGE, tol: float = 1e-9, max_iter: int = 100
) -> BTFit:
    """Fit many Bradley–Terry models at once: `wins` has shape (batch, n, n).

    Newton's method on the ridge-penalised log-likelihood (strictly concave), with each
    coordinate's step capped so a far-off start cannot overshoot.
    """
    w = np.asarray(wins, dtype=float)
    if w.ndim != 3 or w.shape[1] != w.shape[2]:
        raise ValueError("wins must have shape (batch, n_items, n_items).")
    if ridge <= 0:
        raise ValueError("The ridge must be positive (it makes the strengths identifiable).")
    batch, n, _ = w.shape
    total = w + np.swapaxes(w, 1, 2)
    won = w.sum(axis=2)
    theta = np.zeros((batch, n))
    eye = np.eye(n)
    converged = False
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007
        diff = theta[:, :, None] - theta[:, None, :]
        p = 1.0 / (1.0 + np.exp(-diff))
        grad = won - (total * p).sum(axis=2) - ridge * theta
        info = total * p * (1 - p)
        # Negative Hessian: a graph Laplacian weighted by the Fisher information, plus the ridge.
        neg_hess = -info + eye * (info.sum(axis=2)[:, :, None] + ridge)
        step = np.linalg.solve(neg_hess, grad[:, :, None])[:, :, 0]
        step = np.clip(step, -3.0, 3.0)
        theta = theta + step
        if np.max(np.abs(step)) < tol:
            converged = True
            break
    theta = theta - theta.mean(axis=1, keepdims=True)
    return BTFit(theta, it, converged)


def bt_win_probability(strengths: ArrayLike) -> FloatArray:
    """P[i, j] = probability that i beats j under the fitted strengths."""
    s = np.asarray(strengths, dtype=float)
    return 1.0 / (1.0 + np.exp(s[None, :] - s[:, None]))


@dataclass(frozen=True)
class PairRecord:
    """Deduplicated votes of one rater on one prompt between two items (indices)."""

    item_a: int
    item_b: int
    rater: int
    prompt: int
    a_wins: float
    b_wins: float
    ties: float  # ties and both-bad together: half a win each way


def records_arrays(records: Sequence[PairRecord]) -> dict[str, NDArray[np.generic]]:
    return {
        "item_a": np.array([r.item_a for r in records], dtype=np.int64),
        "item_b": np.array([r.item_b for r in records], dtype=np.int64),
        "rater": np.array([r.rater for r in records], dtype=np.int64),
        "prompt": np.array([r.prompt for r in records], dtype=np.int64),
        "a_wins": np.array([r.a_wins for r in records], dtype=float),
        "b_wins": np.array([r.b_wins for r in records], dtype=float),
        "ties": np.array([r.ties for r in records], dtype=float),
    }


def _weighted_wins(
    n_items: int,
    item_a: IntArray,
    item_b: IntArray,
    a_score: FloatArray,
    b_score: FloatArray,
    weights: FloatArray,
) -> FloatArray:
    """Wins matrices for a batch of observation weights (batch, n_obs) → (batch, n, n)."""
    batch = weights.shape[0]
    flat_ab = item_a * n_items + item_b
    flat_ba = item_b * n_items + item_a
    out = np.zeros((batch, n_items * n_items))
    for k in range(batch):
        out[k] = np.bincount(flat_ab, weights=weights[k] * a_score, minlength=n_items * n_items)
        out[k] += np.bincount(flat_ba, weights=weights[k] * b_score, minlength=n_items * n_items)
    return out.reshape(batch, n_items, n_items)


@dataclass(frozen=True)
class Leaderboard:
    strengths: FloatArray
    ci_low: FloatArray
    ci_high: FloatArray
    rank: IntArray  # 1 = best
    rank_low: IntArray
    rank_high: IntArray
    p_best: FloatArray
    votes: FloatArray
    n_boot: int
    samples: FloatArray = field(repr=False)


def bt_leaderboard(
    n_items: int,
    records: Sequence[PairRecord],
    *,
    n_boot: int = 200,
    rng: np.random.Generator,
    ridge: float = BT_RIDGE,
    level: float = 0.95,
) -> Leaderboard:
    """Bradley–Terry strengths with intervals from a bootstrap clustered by rater and prompt.

    Each resample draws raters and prompts with replacement; a record's weight is the number
    of times its rater was drawn times the number of times its prompt was drawn (Owen's
    two-way "pigeonhole" bootstrap), so votes that share a rater or a prompt move together.
    """
    arr = records_arrays(records)
    item_a, item_b = arr["item_a"].astype(np.int64), arr["item_b"].astype(np.int64)
    a_score = arr["a_wins"].astype(float) + arr["ties"].astype(float) / 2
    b_score = arr["b_wins"].astype(float) + arr["ties"].astype(float) / 2
    ones = np.ones((1, item_a.size))
    point = bradley_terry_batch(
        _weighted_wins(n_items, item_a, item_b, a_score, b_score, ones), ridge=ridge
    ).strengths[0]
    votes = np.asarray(
        np.bincount(item_a, weights=a_score + b_score, minlength=n_items)
        + np.bincount(item_b, weights=a_score + b_score, minlength=n_items),
        dtype=float,
    )
    samples = cluster_bootstrap_strengths(
        n_items,
        item_a,
        item_b,
        a_score,
        b_score,
        arr["rater"].astype(np.int64),
        arr["prompt"].astype(np.int64),
        n_boot=n_boot,
        rng=rng,
        ridge=ridge,
    )
    tail = (1 - level) / 2
    lo, hi = np.quantile(samples, [tail, 1 - tail], axis=0)
    ranks = _ranks(samples)
    rank_lo, rank_hi = np.quantile(ranks, [tail, 1 - tail], axis=0, method="inverted_cdf")
    best = np.bincount(np.argmax(samples, axis=1), minlength=n_items) / n_boot
    return Leaderboard(
        strengths=point,
        ci_low=lo,
        ci_high=hi,
        rank=_ranks(point[None])[0],
        rank_low=rank_lo.astype(np.int64),
        rank_high=rank_hi.astype(np.int64),
        p_best=best,
        votes=votes,
        n_boot=n_boot,
        samples=samples,
    )


def cluster_bootstrap_strengths(
    n_items: int,
    item_a: IntArray,
    item_b: IntArray,
    a_score: FloatArray,
    b_score: FloatArray,
    rater: IntArray,
    prompt: IntArray,
    *,
    n_boot: int,
    rng: np.random.Generator,
    ridge: float = BT_RIDGE,
    chunk: int = 100,
) -> FloatArray:
    """(n_boot, n_items) strengths refitted on rater × prompt cluster resamples."""
    if n_boot < 1:
        raise ValueError("n_boot must be at least 1.")
    raters, rater_idx = np.unique(rater, return_inverse=True)
    prompts, prompt_idx = np.unique(prompt, return_inverse=True)
    out = np.empty((n_boot, n_items))
    for start in range(0, n_boot, chunk):
        b = min(chunk, n_boot - start)
        rater_draws = rng.multinomial(raters.size, np.full(raters.size, 1 / raters.size), size=b)
        prompt_draws = rng.multinomial(
            prompts.size, np.full(prompts.size, 1 / prompts.size), size=b
        )
        weights = rater_draws[:, rater_idx] * prompt_draws[:, prompt_idx]
        wins = _weighted_wins(n_items, item_a, item_b, a_score, b_score, weights.astype(float))
        out[start : start + b] = bradley_terry_batch(wins, ridge=ridge).strengths
    return out


def _ranks(strengths: FloatArray) -> IntArray:
    """Rank 1 for the strongest in each row."""
    order = np.argsort(-strengths, axis=1, kind="stable")
    ranks = np.empty_like(order)
    rows = np.arange(strengths.shape[0])[:, None]
    ranks[rows, order] = np.arange(1, strengths.shape[1] + 1)[None, :]
    return ranks.astype(np.int64)


# --------------------------------------------------------------------------- factor effects


@dataclass(frozen=True)
class FactorObservation:
    """Votes on one comparison shown with a fixed side: config a against config b."""

    config_a: int
    config_b: int
    a_left: bool
    a_wins: float
    b_wins: float
    ties: float  # ties and both-bad: half a win each way


@dataclass(frozen=True)
class FactorCoefficient:
    factor: str
    level: str
    reference: str
    beta: float
    se: float
    ci_low: float
    ci_high: float
    #: Model-implied P(the baseline config with this level beats the baseline), sides balanced.
    p_vs_baseline: float
    p_low: float
    p_high: float


@dataclass(frozen=True)
class FactorEffects:
    position_bias: float  # γ: log-odds boost of being shown on the left
    position_se: float
    position_ci: tuple[float, float]
    coefficients: list[FactorCoefficient]
    reference: dict[str, str]
    votes: float
    converged: bool


def factor_effects(
    levels: Mapping[int, Mapping[str, str]],
    observations: Sequence[FactorObservation],
    *,
    reference: Mapping[str, str] | None = None,
    ridge: float = FACTOR_RIDGE,
    z: float = 1.96,
) -> FactorEffects:
    """logit P(A beats B) = γ·[A shown left] − γ·[B shown left] + (x_A − x_B)ᵀβ.

    x is the dummy coding of each factor's levels against a reference level (the baseline
    config's level where given, else the most common level). Differences between configs
    that change several factors at once are apportioned by the fit, not by the table.
    A small ridge keeps levels that never lost or never won finite. Intervals are Wald
    intervals from the penalised information matrix.
    """
    factors = sorted({f for lv in levels.values() for f in lv})
    all_levels = {
        f: sorted({lv.get(f, "") for lv in levels.values()}, key=_level_sort_key) for f in factors
    }
    factors = [f for f in factors if len(all_levels[f]) > 1]
    ref: dict[str, str] = {}
    for f in factors:
        if reference is not None and reference.get(f) in all_levels[f]:
            ref[f] = str(reference[f])
        else:
            counts = [sum(1 for lv in levels.values() if lv.get(f, "") == x) for x in all_levels[f]]
            ref[f] = all_levels[f][int(np.argmax(counts))]
    columns = [(f, x) for f in factors for x in all_levels[f] if x != ref[f]]
    col_index = {c: i + 1 for i, c in enumerate(columns)}

    def encode(config: int) -> FloatArray:
        v = np.zeros(len(columns) + 1)
        for f in factors:
            key = (f, levels[config].get(f, ""))
            if key in col_index:
                v[col_index[key]] = 1.0
        return v

    encoded = {cid: encode(cid) for cid in levels}
    rows = []
    n_obs = []
    y = []
    for o in observations:
        n = o.a_wins + o.b_wins + o.ties
        if n <= 0:
            continue
        x = encoded[o.config_a] - encoded[o.config_b]
        x[0] = 1.0 if o.a_left else -1.0
        rows.append(x)
        n_obs.append(n)
        y.append((o.a_wins + o.ties / 2) / n)
    k = len(columns) + 1
    X = np.array(rows).reshape(-1, k)
    weights = np.array(n_obs, dtype=float)
    target = np.array(y, dtype=float)
    beta = np.zeros(k)
    penalty = np.full(k, ridge)
    converged = False
    for _ in range(100):
        eta = X @ beta
        p = 1.0 / (1.0 + np.exp(-eta))
        grad = X.T @ (weights * (target - p)) - penalty * beta
        info = (X * (weights * p * (1 - p))[:, None]).T @ X + np.diag(penalty)
        step = np.clip(np.linalg.solve(info, grad), -3.0, 3.0)
        beta = beta + step
        if np.max(np.abs(step)) < 1e-10:
            converged = True
            break
    eta = X @ beta
    p = 1.0 / (1.0 + np.exp(-eta))
    info = (X * (weights * p * (1 - p))[:, None]).T @ X + np.diag(penalty)
    cov = np.linalg.inv(info)
    se = np.sqrt(np.clip(np.diag(cov), 0, None))
    coefficients = []
    for (f, level), i in col_index.items():
        b, s = float(beta[i]), float(se[i])
        coefficients.append(
            FactorCoefficient(
                factor=f,
                level=level,
                reference=ref[f],
                beta=b,
                se=s,
                ci_low=b - z * s,
                ci_high=b + z * s,
                p_vs_baseline=_sigmoid(b),
                p_low=_sigmoid(b - z * s),
                p_high=_sigmoid(b + z * s),
            )
        )
    g, gs = float(beta[0]), float(se[0])
    return FactorEffects(
        position_bias=g,
        position_se=gs,
        position_ci=(g - z * gs, g + z * gs),
        coefficients=coefficients,
        reference=ref,
        votes=float(weights.sum()),
        converged=converged,
    )


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


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
    units, idx = np.unique(unit, return_inverse=True)
    counts = np.zeros((units.size, n_categories))
    np.add.at(counts, (idx, choice), 1)
    return units, counts


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
