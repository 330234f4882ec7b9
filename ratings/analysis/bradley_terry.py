"""Bradley–Terry fits: one study's wins matrix, or many at once (bootstrap draws).

Strengths are on the log-odds scale, centred (they sum to zero over the study's
configurations): P(i beats j) = 1 / (1 + exp(θ_j − θ_i)).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from ratings.analysis._common import FloatArray

#: Ridge on log-strengths: a Gaussian prior with sd 10, enough to keep a configuration that
#: never won (or never lost) finite without moving well-measured strengths.
BT_RIDGE = 0.01


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
