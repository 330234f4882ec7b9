"""Factor effects: a logistic model of each factor level's pull on the odds of winning.

Unlike the win-rate table, the fit apportions differences between configurations that change
several factors at once, and estimates the left-side position bias alongside.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ratings.analysis._common import FloatArray, _level_sort_key

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
