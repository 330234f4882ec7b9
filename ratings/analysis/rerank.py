"""Best-of-N reranking: how often a scorer's top pick beats a random candidate, and how often
it is the humans' favourite in a small tournament. Pure: plain numbers in, numbers out.

Credit: a vote for the pick is 1, a vote for the other candidate 0, a tie or a "both bad"
vote ½ (the project's convention, ratings/analysis/__init__.py); ties and both-bad votes are
still counted apart so a reader can tell them from wins.

The votes of one comparison are not independent: they share its two images (how much better
this prompt's pick is). Counting every vote as a coin flip gives an interval too narrow when
many raters judge few prompts, so the Wilson interval is taken on an *effective* number of
votes: the votes divided by the design effect, the ratio of the between-cluster variance of
the win rate (a cluster is a comparison: one per prompt for a scorer) to the binomial one
(Kish; the ratio estimator's variance over clusters), and the Wilson interval's z is Student's
t with (clusters - 1) degrees of freedom, since that variance is estimated from few prompts.
With one vote per comparison and many prompts this is about the plain Wilson interval.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from ratings.analysis.rates import wilson_interval


@dataclass(frozen=True)
class RerankWinRate:
    wins: float
    losses: float
    ties: float
    both_bad: float
    votes: float
    clusters: int
    win_rate: float | None
    ci_low: float
    ci_high: float
    #: Votes after the design effect: what the Wilson interval was computed on.
    effective_votes: float

    @property
    def verdict(self) -> str:
        """ "better", "worse" or "unclear" than a random candidate at 95 %."""
        if self.votes and self.ci_low > 0.5:
            return "better"
        if self.votes and self.ci_high < 0.5:
            return "worse"
        return "unclear"


def effective_votes(credit: ArrayLike, votes: ArrayLike) -> float:
    """Votes over the design effect for Σcredit/Σvotes, one entry per cluster.

    Fewer than two clusters, or a win rate of exactly 0 or 1 (no binomial variance to compare
    with), count one effective vote per cluster: nothing is known about how the win rate varies
    from prompt to prompt. Otherwise the result lies between 1 and the number of votes (a design
    effect below 1 is not claimed).
    """
    c = np.asarray(credit, dtype=float)
    n = np.asarray(votes, dtype=float)
    if c.shape != n.shape or c.ndim != 1:
        raise ValueError("credit and votes must be 1-D arrays of the same length.")
    if np.any(n < 0) or np.any(c < 0) or np.any(c > n):
        raise ValueError("Each cluster needs 0 <= credit <= votes.")
    keep = n > 0
    c, n = c[keep], n[keep]
    k = c.size
    total = float(n.sum())
    if k == 0:
        return 0.0
    p = float(c.sum()) / total
    binomial = p * (1 - p) / total
    if k < 2 or binomial <= 0:
        return float(min(k, total))
    between = k / (k - 1) * float(((c - p * n) ** 2).sum()) / total**2
    deff = max(1.0, between / binomial)
    return max(1.0, total / deff)


def rerank_win_rate(
    *,
    wins: ArrayLike,
    losses: ArrayLike,
    ties: ArrayLike,
    both_bad: ArrayLike,
    level: float = 0.95,
) -> RerankWinRate:
    """The pick's win rate over a random candidate, one entry per comparison (cluster), with
    its `level` interval."""
    w, lo, t, b = (np.asarray(x, dtype=float) for x in (wins, losses, ties, both_bad))
    if not (w.shape == lo.shape == t.shape == b.shape) or w.ndim != 1:
        raise ValueError("wins, losses, ties and both_bad need one entry per comparison.")
    votes = w + lo + t + b
    credit = w + (t + b) / 2
    total = float(votes.sum())
    clusters = int((votes > 0).sum())
    if total == 0:
        return RerankWinRate(0.0, 0.0, 0.0, 0.0, 0.0, 0, None, 0.0, 1.0, 0.0)
    rate = float(credit.sum()) / total
    n_eff = effective_votes(credit, votes)
    tail = (1 + level) / 2
    z = float(stats.t.ppf(tail, clusters - 1) if clusters >= 2 else stats.norm.ppf(tail))
    low, high = wilson_interval(rate * n_eff, n_eff, z)
    return RerankWinRate(
        wins=float(w.sum()),
        losses=float(lo.sum()),
        ties=float(t.sum()),
        both_bad=float(b.sum()),
        votes=total,
        clusters=clusters,
        win_rate=rate,
        ci_low=low,
        ci_high=high,
        effective_votes=n_eff,
    )


# --------------------------------------------------------------------------- tournaments


@dataclass(frozen=True)
class TournamentVotes:
    """Credits within one prompt's tournament: credit[(i, j)] is what i earned against j
    (wins + half the ties and both-bad votes), votes[(i, j)] the votes between them."""

    members: tuple[int, ...]
    credit: Mapping[tuple[int, int], float]
    votes: Mapping[tuple[int, int], float]

    def complete(self) -> bool:
        """Every pair of members has at least one vote."""
        return all(
            self.votes.get((a, b), 0) + self.votes.get((b, a), 0) > 0
            for i, a in enumerate(self.members)
            for b in self.members[i + 1 :]
        )


def tournament_favourites(tournament: TournamentVotes) -> set[int]:
    """The members with the highest mean win rate over their pairs (each pair weighs the same,
    whatever its number of votes); several when they are level."""
    if not tournament.complete():
        raise ValueError("Every pair of the tournament needs a vote before it has a favourite.")
    scores: dict[int, float] = {}
    for a in tournament.members:
        rates = []
        for b in tournament.members:
            if a == b:
                continue
            n = tournament.votes.get((a, b), 0) + tournament.votes.get((b, a), 0)
            earned = tournament.credit.get((a, b), 0.0)
            rates.append(earned / n)
        scores[a] = sum(rates) / len(rates)
    best = max(scores.values())
    return {m for m, s in scores.items() if math.isclose(s, best, abs_tol=1e-12)}


@dataclass(frozen=True)
class FavouriteShare:
    #: Prompts whose tournament is complete (every pair judged at least once).
    prompts: int
    #: Prompts where the pick was the favourite; a share when several members are level.
    hits: float
    rate: float | None
    ci_low: float
    ci_high: float
    #: What a pick drawn at random from the tournament would score on average.
    chance: float | None


def favourite_share(
    picks: Mapping[int, int], tournaments: Mapping[int, TournamentVotes], z: float = 1.96
) -> FavouriteShare:
    """How often the scorer's pick (picks[prompt] = image) is the humans' favourite of its
    prompt's tournament. A pick level with k others at the top scores 1/(k+1). Prompts whose
    tournament is incomplete or does not hold the pick are left out. Prompts are independent,
    so the Wilson interval is over prompts."""
    hits = 0.0
    counted = 0
    chance = 0.0
    for prompt, pick in picks.items():
        tournament = tournaments.get(prompt)
        if tournament is None or pick not in tournament.members or not tournament.complete():
            continue
        favourites = tournament_favourites(tournament)
        counted += 1
        hits += (1.0 / len(favourites)) if pick in favourites else 0.0
        chance += 1.0 / len(tournament.members)
    if counted == 0:
        return FavouriteShare(0, 0.0, None, 0.0, 1.0, None)
    low, high = wilson_interval(hits, counted, z)
    return FavouriteShare(counted, hits, hits / counted, low, high, chance / counted)
