"""Simulated studies with known truth, for checking the leaderboard and the pair choice.

A study has configurations with true (centred) strengths, R raters and P prompts with S seeds
each; every rater may add their own deviation to each configuration's strength, and so may
every prompt (sd 0.3–0.5 logits in the scenarios of bench/validity.py); a vote can be a tie
with a fixed probability. A vote of rater r on prompt p between configurations i and j goes to
i with probability σ(θ_i + u_ri + v_pi − θ_j − u_rj − v_pj).

What an analysis should recover (the estimand) is explicit, see `estimand`:
- "these_raters": the Bradley–Terry strengths that best describe the expected score (ties
  half) of these raters on these prompts, every pair weighted alike: the average vote of the
  people who voted;
- "population": the same for the population of raters (their deviations integrated out by
  Gauss–Hermite quadrature), on these prompts.
Without deviations and ties both are the true strengths themselves.

Pure numpy; bench/validity.py and tests/ratings/test_validity.py import it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ratings.analysis import PairTable, bradley_terry_batch

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


@dataclass(frozen=True)
class Truth:
    strengths: FloatArray  # (K,) centred
    rater_dev: FloatArray  # (R, K)
    prompt_dev: FloatArray  # (P, K)
    rater_sd: float
    tie_rate: float

    @property
    def n_configs(self) -> int:
        return int(self.strengths.size)


def make_truth(
    rng: np.random.Generator,
    *,
    n_configs: int,
    n_raters: int,
    n_prompts: int,
    spread: float = 0.5,
    rater_sd: float = 0.0,
    prompt_sd: float = 0.0,
    tie_rate: float = 0.0,
    strengths: FloatArray | None = None,
) -> Truth:
    """True strengths N(0, spread²) (centred) unless given, and the raters' and prompts'
    deviations N(0, sd²) per configuration."""
    theta = rng.normal(0.0, spread, n_configs) if strengths is None else np.array(strengths)
    theta = theta - theta.mean()
    return Truth(
        strengths=theta,
        rater_dev=rng.normal(0.0, rater_sd, (n_raters, n_configs)),
        prompt_dev=rng.normal(0.0, prompt_sd, (n_prompts, n_configs)),
        rater_sd=rater_sd,
        tie_rate=tie_rate,
    )


def win_probability(
    truth: Truth, a: IntArray, b: IntArray, rater: IntArray, prompt: IntArray
) -> FloatArray:
    """P(a beats b) for each vote, ties apart."""
    sa = truth.strengths[a] + truth.rater_dev[rater, a] + truth.prompt_dev[prompt, a]
    sb = truth.strengths[b] + truth.rater_dev[rater, b] + truth.prompt_dev[prompt, b]
    return np.asarray(1.0 / (1.0 + np.exp(sb - sa)), dtype=float)


def draw_votes(
    rng: np.random.Generator,
    truth: Truth,
    a: IntArray,
    b: IntArray,
    rater: IntArray,
    prompt: IntArray,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Outcomes of one vote per row: (a wins, b wins, ties) as 0/1 columns."""
    p = win_probability(truth, a, b, rater, prompt)
    tie = rng.random(a.size) < truth.tie_rate
    a_won = (rng.random(a.size) < p) & ~tie
    return a_won.astype(float), (~a_won & ~tie).astype(float), tie.astype(float)


def all_comparisons(n_configs: int, n_prompts: int, seeds: int) -> tuple[IntArray, ...]:
    """Every config pair × prompt × seed once: (config a, config b, prompt, seed)."""
    i, j = np.triu_indices(n_configs, 1)
    grid = np.array(
        [
            (a, b, p, s)
            for p in range(n_prompts)
            for s in range(seeds)
            for a, b in zip(i, j, strict=True)
        ],
        dtype=np.int64,
    ).reshape(-1, 4)
    return grid[:, 0], grid[:, 1], grid[:, 2], grid[:, 3]


def simulate_study(
    rng: np.random.Generator, truth: Truth, *, seeds: int = 2, share: float = 1.0
) -> PairTable:
    """Every rater judges every comparison (pair × prompt × seed) once, or a random `share`
    of them; one record per vote, image sides irrelevant here."""
    a, b, p, _ = all_comparisons(truth.n_configs, truth.prompt_dev.shape[0], seeds)
    n_raters = truth.rater_dev.shape[0]
    r = np.repeat(np.arange(n_raters), a.size)
    a, b, p = np.tile(a, n_raters), np.tile(b, n_raters), np.tile(p, n_raters)
    if share < 1.0:
        keep = rng.random(a.size) < share
        a, b, p, r = a[keep], b[keep], p[keep], r[keep]
    # Sides of the pair at random, as the app stores them (image a is not the better one).
    flip = rng.random(a.size) < 0.5
    a, b = np.where(flip, b, a), np.where(flip, a, b)
    a_wins, b_wins, ties = draw_votes(rng, truth, a, b, r, p)
    return PairTable(item_a=a, item_b=b, rater=r, prompt=p, a_wins=a_wins, b_wins=b_wins, ties=ties)


def _projection(expected: FloatArray) -> FloatArray:
    """Bradley–Terry strengths best describing expected scores (K, K), every pair alike."""
    k = expected.shape[0]
    wins = expected * (1 - np.eye(k))
    return np.asarray(bradley_terry_batch(wins[None], ridge=1e-10, tol=1e-12).strengths[0])


def expected_scores(truth: Truth, which: str) -> FloatArray:
    """E[score of i against j] (ties half) averaged over these prompts and the raters meant."""
    theta = truth.strengths
    prompts = truth.prompt_dev
    base = (theta[None, :] + prompts)[:, :, None] - (theta[None, :] + prompts)[:, None, :]
    if which == "these_raters":
        u = truth.rater_dev
        dev = u[:, :, None] - u[:, None, :]  # (R, K, K)
        logits = base[None] + dev[:, None]  # (R, P, K, K)
        p = (1.0 / (1.0 + np.exp(-logits))).mean(axis=(0, 1))
    elif which == "population":
        # u_ri − u_rj ~ N(0, 2 sd²) for i ≠ j: Gauss–Hermite over it.
        nodes, weights = np.polynomial.hermite_e.hermegauss(40)
        weights = weights / weights.sum()
        z = nodes * np.sqrt(2.0) * truth.rater_sd
        logits = base[None] + z[:, None, None, None]
        p = np.tensordot(weights, 1.0 / (1.0 + np.exp(-logits)), axes=1).mean(axis=0)
    else:
        raise ValueError(f"which must be 'these_raters' or 'population', got {which!r}.")
    return np.asarray(truth.tie_rate / 2 + (1 - truth.tie_rate) * p, dtype=float)


def estimand(truth: Truth, which: str) -> FloatArray:
    """The centred strengths an analysis of this study should cover (see the module doc)."""
    return _projection(expected_scores(truth, which))
