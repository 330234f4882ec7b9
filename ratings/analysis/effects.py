"""Factor effects: a logistic model of each factor level's pull on the odds of winning.

Unlike the win-rate table, the fit apportions differences between configurations that change
several factors at once, and estimates the left-side position bias alongside.

Votes by one rater are not independent: each rater has their own taste and their own pull to
one side, so the standard errors are cluster-robust by rater (a sandwich with the CR2
small-sample correction, t with G − 1 degrees of freedom) and the intervals are about the
population of raters. With fewer than `FACTOR_MIN_RATERS` raters nothing can be said
about raters in general: the intervals are then model-based and about these raters' votes.
The estimand names and both models' minimums (and why they differ): ratings.analysis.estimand.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from ratings.analysis._common import FloatArray, _level_sort_key
from ratings.analysis.estimand import FACTOR_MIN_RATERS, POPULATION, THESE_RATERS
from ratings.analysis.rates import holm

#: Ridge on the factor model's coefficients (prior sd ≈ 3 on the log-odds scale).
FACTOR_RIDGE = 0.1


@dataclass(frozen=True)
class FactorObservation:
    """Votes on one comparison shown with a fixed side: config a against config b."""

    config_a: int
    config_b: int
    a_left: bool
    a_wins: float
    b_wins: float
    ties: float  # ties and both-bad: half a win each way
    #: Who voted (the cluster); None when unknown, which makes the intervals model-based.
    rater: int | None = None


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
    #: Two-sided test of β = 0 (t with G − 1 df, or normal when model-based).
    p_value: float
    #: Holm-adjusted over the coefficients of the fit (one contrast each).
    p_holm: float
    #: The standard error if every vote were independent (what the page showed before).
    model_se: float


@dataclass(frozen=True)
class FactorEffects:
    position_bias: float  # γ: log-odds boost of being shown on the left
    position_se: float
    position_ci: tuple[float, float]
    coefficients: list[FactorCoefficient]
    reference: dict[str, str]
    votes: float
    converged: bool
    #: Raters (clusters) behind the votes; 0 when unknown.
    raters: int = 0
    #: POPULATION: cluster-robust, about the population of raters; THESE_RATERS: model-based,
    #: about these raters' votes (too few raters, or raters unknown).
    estimand: str = THESE_RATERS
    #: Degrees of freedom of the t quantile (None: normal).
    df: int | None = None
    position_model_se: float = 0.0


def factor_effects(
    levels: Mapping[int, Mapping[str, str]],
    observations: Sequence[FactorObservation],
    *,
    reference: Mapping[str, str] | None = None,
    ridge: float = FACTOR_RIDGE,
    level: float = 0.95,
    min_raters: int = FACTOR_MIN_RATERS,
) -> FactorEffects:
    """logit P(A beats B) = γ·[A shown left] − γ·[B shown left] + (x_A − x_B)ᵀβ.

    x is the dummy coding of each factor's levels against a reference level (the baseline
    config's level where given, else the most common level). Differences between configs
    that change several factors at once are apportioned by the fit, not by the table.
    A small ridge keeps levels that never lost or never won finite.

    Intervals: with `min_raters` or more raters, Wald intervals from the CR2 cluster-robust
    covariance (clusters = raters; Bell and McCaffrey's bias-reduced sandwich) with t
    quantiles on G − 1 degrees of freedom; otherwise from the penalised information matrix
    with normal quantiles (about these raters' votes). Both p-values and Holm's adjustment
    over the coefficients (position bias apart) come with each coefficient.
    """
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level}.")
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

    ids = list(levels)
    position = {cid: i for i, cid in enumerate(ids)}
    encoded = np.array([encode(cid) for cid in ids]).reshape(len(ids), len(columns) + 1)
    kept = [o for o in observations if o.a_wins + o.b_wins + o.ties > 0]
    at_a = np.array([position[o.config_a] for o in kept], dtype=np.int64)
    at_b = np.array([position[o.config_b] for o in kept], dtype=np.int64)
    a_wins = np.array([o.a_wins for o in kept], dtype=float)
    ties = np.array([o.ties for o in kept], dtype=float)
    weights = a_wins + np.array([o.b_wins for o in kept], dtype=float) + ties
    k = len(columns) + 1
    X = (encoded[at_a] - encoded[at_b]).reshape(-1, k)
    X[:, 0] = np.where(np.array([o.a_left for o in kept], dtype=bool), 1.0, -1.0)
    target = (a_wins + ties / 2) / np.where(weights > 0, weights, 1.0)
    cluster_of = [o.rater for o in kept]
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
    bread = np.linalg.inv(info)
    model_se = np.sqrt(np.clip(np.diag(bread), 0, None))
    known = [c for c in cluster_of if c is not None]
    n_raters = len(set(known))
    robust = len(known) == len(cluster_of) and n_raters >= max(min_raters, 2)
    if robust:
        _, cluster = np.unique(np.array(known, dtype=np.int64), return_inverse=True)
        cov = _cr2_covariance(X, weights, target, p, bread, cluster.reshape(-1), n_raters)
        se = np.sqrt(np.clip(np.diag(cov), 0, None))
        df: int | None = n_raters - 1
        q = float(stats.t.ppf(0.5 + level / 2, n_raters - 1))
    else:
        se = model_se
        df = None
        q = float(stats.norm.ppf(0.5 + level / 2))
    pvalues = [_two_sided_p(float(beta[i]), float(se[i]), df) for i in col_index.values()]
    adjusted = holm(pvalues)
    coefficients = []
    for ((f, lv), i), pv, p_adj in zip(col_index.items(), pvalues, adjusted, strict=True):
        b, s = float(beta[i]), float(se[i])
        coefficients.append(
            FactorCoefficient(
                factor=f,
                level=lv,
                reference=ref[f],
                beta=b,
                se=s,
                ci_low=b - q * s,
                ci_high=b + q * s,
                p_vs_baseline=_sigmoid(b),
                p_low=_sigmoid(b - q * s),
                p_high=_sigmoid(b + q * s),
                p_value=pv,
                p_holm=float(p_adj),
                model_se=float(model_se[i]),
            )
        )
    g, gs = float(beta[0]), float(se[0])
    return FactorEffects(
        position_bias=g,
        position_se=gs,
        position_ci=(g - q * gs, g + q * gs),
        coefficients=coefficients,
        reference=ref,
        votes=float(weights.sum()),
        converged=converged,
        raters=n_raters,
        estimand=POPULATION if robust else THESE_RATERS,
        df=df,
        position_model_se=float(model_se[0]),
    )


def _cr2_covariance(
    X: FloatArray,
    weights: FloatArray,
    target: FloatArray,
    p: FloatArray,
    bread: FloatArray,
    cluster: np.ndarray,
    n_clusters: int,
) -> FloatArray:
    """Bell–McCaffrey CR2 sandwich for a (penalised) binomial GLM, clustered.

    In the working-weight metric (X̃ = W^½X, ẽ = W^-½·n(y − p)) each cluster's residuals are
    scaled by (I − H_gg)^-½, H = X̃ A⁻¹ X̃ᵀ, which undoes the shrinkage of residuals towards the
    fit and keeps the variance nearly unbiased with few clusters (plain CR0 runs small).
    """
    v = weights * p * (1 - p)
    root = np.sqrt(np.maximum(v, 1e-12))
    xt = X * root[:, None]
    et = weights * (target - p) / root
    meat = np.zeros((X.shape[1], X.shape[1]))
    order = np.argsort(cluster, kind="stable")
    bounds = np.searchsorted(cluster[order], np.arange(n_clusters + 1))
    for g in range(n_clusters):
        idx = order[bounds[g] : bounds[g + 1]]
        xg = xt[idx]
        e = et[idx]
        # H_gg = X̃_g A⁻¹ X̃_gᵀ has rank ≤ k: with X̃_g = QR and RA⁻¹Rᵀ = VΛVᵀ, H_gg = WΛWᵀ
        # (W = QV, orthonormal), so (I − H_gg)^-½ e = e + W((1 − Λ)^-½ − 1)Wᵀe: O(n_g k²)
        # instead of an n_g × n_g eigendecomposition per rater.
        q, r = np.linalg.qr(xg)
        values, vectors = np.linalg.eigh(r @ bread @ r.T)
        w = q @ vectors
        rest = 1 - values
        # Leverage 1 (a cluster that alone pins a coefficient) has no residual to inflate.
        scale = np.where(rest > 1e-8, 1 / np.sqrt(np.maximum(rest, 1e-8)), 1.0) - 1
        adjusted = e + w @ (scale * (w.T @ e))
        score = xg.T @ adjusted
        meat += np.outer(score, score)
    return np.asarray(bread @ meat @ bread)


def _two_sided_p(beta: float, se: float, df: int | None) -> float:
    if se <= 0:
        return 1.0
    z = abs(beta) / se
    return float(2 * (stats.t.sf(z, df) if df is not None else stats.norm.sf(z)))


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))
