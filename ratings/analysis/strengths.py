"""Bradley–Terry strengths' uncertainty and the leaderboard (the fits themselves are
ratings.analysis.bradley_terry).

Strengths are on the log-odds scale, centred (they sum to zero over the study's
configurations): P(i beats j) = 1 / (1 + exp(θ_j − θ_i)).

The one public entry point for the leaderboard's fit and its uncertainty (the leaderboard, the
adaptive pair choice in ratings.pairs and the stopping rules all use it, on the same counted
votes)::

    leaderboard_uncertainty(n_items, records, *, ridge=LEADERBOARD_RIDGE,
                            min_raters=POPULATION_MIN_RATERS) -> StrengthUncertainty

`StrengthUncertainty` holds the centred strengths, their covariance `cov` (on the sum-zero
scale), the t degrees of freedom `df` (None: normal), the estimand and the counts behind it;
`.draws(n, rng)` gives (n, n_items) draws from the matching normal or multivariate t, and
`.interval(level)` the marginal intervals. What the uncertainty is about (the estimand):

- with at least `min_raters` raters (10; why: ratings.analysis.estimand), the population of raters, on these prompts: the
  strengths that describe how raters like these vote on average (a marginal, population-
  averaged Bradley–Terry model). The covariance is the cluster-robust sandwich by rater
  (CR1, G/(G−1)), never below half the model's own (Fisher information), and intervals use t
  with G − 1 degrees of freedom;
- with fewer raters, these raters' votes on these prompts: the strengths that describe the
  average vote of the raters who voted. The covariance is the inverse Fisher information,
  normal quantiles. A rater sample this small cannot say how other raters would vote, and the
  page says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from scipy import sparse, stats

from ratings.analysis._common import FloatArray, IntArray
from ratings.analysis.bradley_terry import BT_RIDGE, bradley_terry_batch
from ratings.analysis.estimand import POPULATION, POPULATION_MIN_RATERS, THESE_RATERS

#: The leaderboard's ridge: a N(0, 2²) prior on each centred strength (a configuration beating
#: the average one 98 % of the time is already extreme). With few votes it keeps a clean sweep
#: (5–0) from an unbounded estimate and interval; a few votes in, it no longer matters.
#: bench/validity.py measures coverage with it from one rater up.
LEADERBOARD_RIDGE = 0.25


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


@dataclass(frozen=True)
class PairTable:
    """PairRecords as columns (one array per field): what the leaderboard computes on."""

    item_a: IntArray
    item_b: IntArray
    rater: IntArray
    prompt: IntArray
    a_wins: FloatArray
    b_wins: FloatArray
    ties: FloatArray

    def __post_init__(self) -> None:
        sizes = {np.asarray(getattr(self, name)).shape for name in self.__dataclass_fields__}
        if len(sizes) != 1 or len(next(iter(sizes))) != 1:
            raise ValueError("Every column of a PairTable must be one-dimensional, same length.")

    @classmethod
    def from_records(cls, records: Sequence[PairRecord]) -> PairTable:
        def ints(name: str) -> IntArray:
            return np.array([getattr(r, name) for r in records], dtype=np.int64)

        def floats(name: str) -> FloatArray:
            return np.array([getattr(r, name) for r in records], dtype=float)

        return cls(
            item_a=ints("item_a"),
            item_b=ints("item_b"),
            rater=ints("rater"),
            prompt=ints("prompt"),
            a_wins=floats("a_wins"),
            b_wins=floats("b_wins"),
            ties=floats("ties"),
        )

    def __len__(self) -> int:
        return int(np.asarray(self.item_a).size)


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


def _cell_wins(
    n_items: int,
    item_a: IntArray,
    item_b: IntArray,
    a_score: FloatArray,
    b_score: FloatArray,
    cell_idx: IntArray,
    n_cells: int,
) -> sparse.csr_array:
    """Sparse (cells, n_items²): each cell's wins matrix, flattened."""
    rows = np.concatenate([cell_idx, cell_idx])
    cols = np.concatenate([item_a * n_items + item_b, item_b * n_items + item_a])
    data = np.concatenate([a_score, b_score])
    return sparse.csr_array(
        sparse.coo_array((data, (rows, cols)), shape=(n_cells, n_items * n_items))
    )


#: The population-level covariance never falls below this share of the model-based one.
MODEL_FLOOR = 0.5


@dataclass(frozen=True)
class StrengthUncertainty:
    """The leaderboard's Bradley–Terry fit and what is known about it (see the module doc)."""

    strengths: FloatArray  # centred point estimates
    cov: FloatArray  # (n, n) covariance of the centred strengths
    df: float | None  # t degrees of freedom for intervals and draws; None: normal
    estimand: str  # POPULATION or THESE_RATERS
    raters: int
    prompts: int
    votes: FloatArray  # votes (ties included) per item

    @property
    def se(self) -> FloatArray:
        return np.sqrt(np.clip(np.diag(self.cov), 0.0, None))

    def quantile(self, level: float) -> float:
        """The two-sided critical value for a `level` interval (normal or t)."""
        if not 0.0 < level < 1.0:
            raise ValueError(f"level must lie strictly between 0 and 1, got {level!r}.")
        upper = 0.5 + level / 2
        if self.df is None:
            return float(stats.norm.ppf(upper))
        return float(stats.t.ppf(upper, self.df))

    def interval(self, level: float = 0.95) -> tuple[FloatArray, FloatArray]:
        half = self.quantile(level) * self.se
        return self.strengths - half, self.strengths + half

    def draws(self, n: int, rng: np.random.Generator) -> FloatArray:
        """(n, n_items) draws of the strengths: normal, or multivariate t with `df`."""
        if n < 1:
            raise ValueError("The number of draws must be at least 1.")
        values, vectors = np.linalg.eigh((self.cov + self.cov.T) / 2)
        scale = np.sqrt(np.clip(values, 0.0, None))
        z = rng.standard_normal((n, values.size)) * scale
        if self.df is not None:
            z /= np.sqrt(rng.chisquare(self.df, n) / self.df)[:, None]
        return np.asarray(self.strengths[None, :] + z @ vectors.T, dtype=float)


def _scores(table: PairTable) -> tuple[IntArray, IntArray, FloatArray, FloatArray]:
    item_a, item_b = np.asarray(table.item_a, np.int64), np.asarray(table.item_b, np.int64)
    ties = np.asarray(table.ties, float)
    a_score = np.asarray(table.a_wins, float) + ties / 2
    b_score = np.asarray(table.b_wins, float) + ties / 2
    return item_a, item_b, a_score, b_score


def _table(records: Sequence[PairRecord] | PairTable) -> PairTable:
    return records if isinstance(records, PairTable) else PairTable.from_records(records)


def leaderboard_uncertainty(
    n_items: int,
    records: Sequence[PairRecord] | PairTable,
    *,
    ridge: float = LEADERBOARD_RIDGE,
    min_raters: int = POPULATION_MIN_RATERS,
) -> StrengthUncertainty:
    """The leaderboard's Bradley–Terry fit on counted votes, with its covariance and estimand.

    `records` are the votes that count (the reports pass first votes of raters not excluded,
    gold pairs left out), one row per rater × prompt × pair with its outcome counts. With at
    least `min_raters` raters the covariance is cluster-robust by rater (population of raters),
    otherwise model-based (these raters' votes); see the module docstring.
    """
    if min_raters < 2:
        raise ValueError("min_raters must be at least 2 (a cluster-robust variance needs two).")
    table = _table(records)
    item_a, item_b, a_score, b_score = _scores(table)
    ones = np.ones((1, item_a.size))
    theta = bradley_terry_batch(
        _weighted_wins(n_items, item_a, item_b, a_score, b_score, ones), ridge=ridge
    ).strengths[0]
    n = a_score + b_score
    votes = np.asarray(
        np.bincount(item_a, weights=n, minlength=n_items)
        + np.bincount(item_b, weights=n, minlength=n_items),
        dtype=float,
    )
    p = 1.0 / (1.0 + np.exp(theta[item_b] - theta[item_a]))
    # Fisher information: a graph Laplacian weighted by n·p·(1 − p) on each compared pair.
    w = np.bincount(
        item_a * n_items + item_b, weights=n * p * (1 - p), minlength=n_items * n_items
    ).reshape(n_items, n_items)
    w = w + w.T
    info = np.diag(w.sum(axis=1)) - w + ridge * np.eye(n_items)
    centre = np.eye(n_items) - 1.0 / n_items
    bread = centre @ np.linalg.inv(info) @ centre
    model_cov = bread
    raters, rater_idx = np.unique(np.asarray(table.rater, np.int64), return_inverse=True)
    prompts = int(np.unique(np.asarray(table.prompt, np.int64)).size)
    g = int(raters.size)
    these_raters = StrengthUncertainty(
        strengths=theta,
        cov=model_cov,
        df=None,
        estimand=THESE_RATERS,
        raters=g,
        prompts=prompts,
        votes=votes,
    )
    if g < min_raters:
        return these_raters
    # Each rater's score (gradient of their votes' log-likelihood), summed sparsely per rater.
    resid = a_score - n * p
    rater_idx = rater_idx.reshape(-1)
    per_rater = np.bincount(
        rater_idx * n_items + item_a, weights=resid, minlength=g * n_items
    ) - np.bincount(rater_idx * n_items + item_b, weights=resid, minlength=g * n_items)
    s = per_rater.reshape(g, n_items)
    meat = s.T @ s * (g / (g - 1))
    robust = bread @ meat @ bread
    # A direction that few raters inform can get a robust variance near zero: keep at least
    # MODEL_FLOOR of the model's (the positive eigen-part of the difference is added, so the
    # result dominates both). The model part is scaled by (z / t)², as it needs no t quantile.
    df = float(g - 1)
    floor = model_cov * MODEL_FLOOR * (stats.norm.ppf(0.975) / stats.t.ppf(0.975, df)) ** 2
    diff = (robust - floor + (robust - floor).T) / 2
    values, vectors = np.linalg.eigh(diff)
    cov = floor + (vectors * np.clip(values, 0.0, None)) @ vectors.T
    return replace(these_raters, cov=cov, df=df, estimand=POPULATION)


@dataclass(frozen=True)
class Leaderboard:
    strengths: FloatArray
    ci_low: FloatArray
    ci_high: FloatArray
    se: FloatArray
    rank: IntArray  # 1 = best
    rank_low: IntArray
    rank_high: IntArray
    p_best: FloatArray
    votes: FloatArray
    #: Draws of the strengths behind the ranks and P(best) (the field keeps its old name).
    n_boot: int
    estimand: str
    raters: int
    df: float | None
    samples: FloatArray = field(repr=False)


def bt_leaderboard(
    n_items: int,
    records: Sequence[PairRecord] | PairTable,
    *,
    n_boot: int = 4000,
    rng: np.random.Generator,
    ridge: float = LEADERBOARD_RIDGE,
    level: float = 0.95,
    min_raters: int = POPULATION_MIN_RATERS,
) -> Leaderboard:
    """Strengths with `level` intervals, rank intervals and P(best), all from one uncertainty.

    The intervals are leaderboard_uncertainty's; ranks and P(best) come from `n_boot` draws of
    the same normal or t distribution, so they agree with the intervals.
    """
    fit = leaderboard_uncertainty(n_items, records, ridge=ridge, min_raters=min_raters)
    lo, hi = fit.interval(level)
    samples = fit.draws(n_boot, rng)
    tail = (1 - level) / 2
    ranks = _ranks(samples)
    rank_lo, rank_hi = np.quantile(ranks, [tail, 1 - tail], axis=0, method="inverted_cdf")
    best = np.bincount(np.argmax(samples, axis=1), minlength=n_items) / n_boot
    return Leaderboard(
        strengths=fit.strengths,
        ci_low=lo,
        ci_high=hi,
        se=fit.se,
        rank=_ranks(fit.strengths[None])[0],
        rank_low=rank_lo.astype(np.int64),
        rank_high=rank_hi.astype(np.int64),
        p_best=best,
        votes=fit.votes,
        n_boot=n_boot,
        estimand=fit.estimand,
        raters=fit.raters,
        df=fit.df,
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
    """(n_boot, n_items) strengths refitted on rater × prompt cluster resamples.

    The leaderboard's former intervals (Owen's two-way bootstrap): kept as the baseline that
    bench/validity.py measures the calibrated intervals against.
    """
    if n_boot < 1:
        raise ValueError("n_boot must be at least 1.")
    raters, rater_idx = np.unique(rater, return_inverse=True)
    prompts, prompt_idx = np.unique(prompt, return_inverse=True)
    # A record's weight depends only on its rater × prompt cell, so add the records up per
    # cell once; each resample is then a (cells → wins) matrix product instead of a pass
    # over every record.
    cells, cell_idx = np.unique(rater_idx * prompts.size + prompt_idx, return_inverse=True)
    cell_rater, cell_prompt = np.divmod(cells, prompts.size)
    per_cell = _cell_wins(n_items, item_a, item_b, a_score, b_score, cell_idx, cells.size)
    out = np.empty((n_boot, n_items))
    for start in range(0, n_boot, chunk):
        b = min(chunk, n_boot - start)
        rater_draws = rng.multinomial(raters.size, np.full(raters.size, 1 / raters.size), size=b)
        prompt_draws = rng.multinomial(
            prompts.size, np.full(prompts.size, 1 / prompts.size), size=b
        )
        weights = (rater_draws[:, cell_rater] * prompt_draws[:, cell_prompt]).astype(float)
        wins = np.asarray(per_cell.T @ weights.T).T.reshape(b, n_items, n_items)
        out[start : start + b] = bradley_terry_batch(wins, ridge=ridge).strengths
    return out


def _ranks(strengths: FloatArray) -> IntArray:
    """Rank 1 for the strongest in each row."""
    order = np.argsort(-strengths, axis=1, kind="stable")
    ranks = np.empty_like(order)
    rows = np.arange(strengths.shape[0])[:, None]
    ranks[rows, order] = np.arange(1, strengths.shape[1] + 1)[None, :]
    return ranks.astype(np.int64)
