"""Anytime-valid stopping: decide "best configuration" or "A beats B" while votes arrive.

The researcher may look after every vote and stop the first time the page says *decided*; the
chance that any decision it ever shows is wrong stays at most 1 − confidence. Each claim "i beats
j" carries an e-process (a test supermartingale: a bettor's wealth that, under the null, has no
expected gain) and is accepted once the wealth reaches a threshold; Ville's inequality bounds the
chance that it *ever* does under the null by 1 / threshold.

**Unit of evidence: the rater, not the vote.** Votes from one rater are not independent (a rater
who likes a look likes it on every prompt), and the estimand is the population of raters: the
null for "i beats j" is that a random rater, shown a random comparison of i and j, prefers i at
most half the time (ties and "both bad" half). Within one rater, no bet on a later vote can be
fair for every kind of rater heterogeneity, so each rater contributes one bounded number per
pair: the mean score y ∈ [−1, 1] (win +1, tie 0, loss −1, from i's side) of their *first m
votes* on the pair, counted from the vote at which that rater reaches m votes on it. Different
raters are independent draws, so these units, taken in the order they complete, have mean ≤ 0
under the null whatever the raters' own leanings, and their product of bets is a supermartingale.
Assumptions, stated: raters are independent draws from the population; when a rater reaches an
m-th vote on a pair does not depend on how that rater votes (true of the fewest-judged-first
and random pair choice; adaptive choice that reacts to a rater's own votes bends it slightly).

Several unit sizes m (1, 4 and 16, up to the most comparisons one rater can judge on a pair) are
run side by side, each with its share of the error (a union bound): m = 1 uses every rater who
saw the pair once (many raters, few votes each); large m gathers the evidence of few raters who
judge a lot. The wealth for one m is a mixture over bet sizes λ (a fixed geometric grid, equal
weights) of ∏ (1 + λ y): no tuning to the data, and the same value whatever the order of raters.

**Rules.** "pair" (A against B, either direction): two claims, threshold 2·L / α with L unit
sizes. "best": the winner must beat every other configuration; with K configurations the
threshold is K·L / α. Why K and not K − 1: if the true best is unique, a wrong winner must have
beaten it (K − 1 nulls); if several tie for best, declaring one of them needs it to beat its
twin, one null more. A claim, once its threshold is reached, stands (that moment is a valid
stopping time); the decision is the first moment some configuration holds all its claims.

**Projection ("about N more votes").** If the votes to come look like those so far, the log
wealth of each bet size grows in proportion to the number of units; the projection finds the
smallest factor c ≥ 1 for which c × (the current log wealth) reaches the threshold (for the
claim and unit size that gets there first, and for the hardest claim the leader still needs),
and says (c − 1) × the votes so far. It needs new raters too: each rater counts once per pair
and unit size. No projection when no claim has a lead yet.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from ratings.analysis._common import FloatArray, IntArray

#: Bet sizes λ of the mixture: a geometric grid from 0.1 to 0.9, equal weights (a coarse grid
#: costs less of the threshold than it loses in fit; checked by bench/validity_stopping.py).
LAMBDAS: FloatArray = np.geomspace(0.1, 0.9, 6)
LOG_WEIGHTS: FloatArray = np.full(LAMBDAS.size, -np.log(LAMBDAS.size))
#: Unit sizes are powers of four up to this.
MAX_UNIT = 16
#: The projection looks at most this many times the votes so far ahead.
MAX_SCALE = 200.0

RuleKind = Literal["best", "pair"]


@dataclass(frozen=True)
class DecisionRule:
    """What the researcher wants decided, with what confidence."""

    kind: RuleKind
    confidence: float = 0.95
    #: For "pair": the two items (indices) compared.
    a: int | None = None
    b: int | None = None


def rule_check(rule: DecisionRule, n_items: int) -> None:
    """Raise ValueError naming the rule's field and what it must be."""
    if rule.kind not in ("best", "pair"):
        raise ValueError(f"kind must be 'best' or 'pair', not {rule.kind!r}.")
    if not 0.5 <= rule.confidence < 1:
        raise ValueError(f"confidence must be at least 0.5 and below 1, not {rule.confidence}.")
    if n_items < 2:
        raise ValueError("A decision needs at least two configurations.")
    if rule.kind == "pair":
        if rule.a is None or rule.b is None:
            raise ValueError("A 'pair' rule needs both configurations a and b.")
        if rule.a == rule.b:
            raise ValueError("A 'pair' rule compares two different configurations.")
        if not (0 <= rule.a < n_items and 0 <= rule.b < n_items):
            raise ValueError("A 'pair' rule's configurations must be among the study's.")


def unit_sizes(max_votes_per_pair: int) -> tuple[int, ...]:
    """1, 4, 16 up to the most votes one rater can give a pair: each size costs a share of α,
    so few sizes, spread out (many raters with a vote or two each; few who judge a lot)."""
    top = max(1, min(max_votes_per_pair, MAX_UNIT))
    return tuple(m for m in (1, 4, 16) if m <= top)


def threshold(rule: DecisionRule, n_items: int, n_sizes: int) -> float:
    """The wealth a claim needs: 1/α shared among the nulls and unit sizes (see the module)."""
    claims = n_items if rule.kind == "best" else 2
    return claims * n_sizes / (1 - rule.confidence)


@dataclass(frozen=True)
class Units:
    """Completed rater units: (size m, pair lo < hi, mean score y from lo's side, vote index
    at which the unit completed), sorted by that index."""

    size: IntArray
    lo: IntArray
    hi: IntArray
    y: FloatArray
    at: IntArray


def rater_units(
    item_a: IntArray, item_b: IntArray, score: FloatArray, rater: IntArray, sizes: tuple[int, ...]
) -> Units:
    """The units of votes given in the order cast: score is 1 when a won, 0 when b won, ½ tie."""
    item_a, item_b = np.asarray(item_a, np.int64), np.asarray(item_b, np.int64)
    score, rater = np.asarray(score, float), np.asarray(rater, np.int64)
    if not (item_a.shape == item_b.shape == score.shape == rater.shape):
        raise ValueError("item_a, item_b, score and rater must have one entry per vote.")
    if np.any(item_a == item_b):
        raise ValueError("A vote compares two different items.")
    if np.any((score < 0) | (score > 1)):
        raise ValueError("score must be between 0 (b won) and 1 (a won).")
    lo, hi = np.minimum(item_a, item_b), np.maximum(item_a, item_b)
    s = np.where(item_a == lo, 2 * score - 1, 1 - 2 * score)
    n = s.size
    if n == 0:
        empty = np.zeros(0, np.int64)
        return Units(empty, empty, empty, np.zeros(0), empty)
    _, rater_index = np.unique(rater, return_inverse=True)
    top = int(hi.max()) + 1
    group = (rater_index.reshape(-1) * top + lo) * top + hi
    order = np.argsort(group, kind="stable")  # by rater and pair, then vote order
    g_sorted = group[order]
    starts = np.r_[0, np.flatnonzero(np.diff(g_sorted)) + 1]
    run_start = np.repeat(starts, np.diff(np.r_[starts, n]))
    rank = np.arange(n) - run_start  # 0 for a rater's first vote on the pair
    csum = np.cumsum(s[order])
    before = np.where(run_start > 0, csum[run_start - 1], 0.0)
    within = csum - before  # sum of the rater's votes on the pair so far
    parts = []
    for m in sizes:
        hit = rank == m - 1
        idx = order[hit]
        parts.append((np.full(idx.size, m), lo[idx], hi[idx], within[hit] / m, idx))
    size, ulo, uhi, y, at = (np.concatenate(col) for col in zip(*parts, strict=True))
    by_time = np.argsort(at, kind="stable")
    return Units(
        size=size[by_time].astype(np.int64),
        lo=ulo[by_time].astype(np.int64),
        hi=uhi[by_time].astype(np.int64),
        y=y[by_time].astype(float),
        at=at[by_time].astype(np.int64),
    )


def _log_mix(log_wealth: FloatArray) -> FloatArray:
    """log Σ_k w_k exp(log_wealth[..., k])."""
    z = log_wealth + LOG_WEIGHTS
    top = z.max(axis=-1, keepdims=True)
    return (top + np.log(np.exp(z - top).sum(axis=-1, keepdims=True)))[..., 0]


@dataclass(frozen=True)
class Evidence:
    """Per ordered pair (i, j), the claim "i beats j": current log e-value (best unit size),
    the vote index at which it first reached the threshold (-1: not yet), and per unit size
    the log wealth of each bet size (for the projection)."""

    log_e: FloatArray  # (K, K)
    crossed_at: IntArray  # (K, K)
    log_wealth: FloatArray  # (sizes, K, K, bets)
    units: IntArray  # (sizes, K, K): units counted (symmetric)


def evidence(n_items: int, units: Units, sizes: tuple[int, ...], log_threshold: float) -> Evidence:
    k = n_items
    log_e = np.full((k, k), -np.inf)
    crossed = np.full((k, k), -1, np.int64)
    wealth = np.zeros((len(sizes), k, k, LAMBDAS.size))
    counts = np.zeros((len(sizes), k, k), np.int64)
    size_index = np.searchsorted(sizes, units.size)
    if not units.y.size:
        return Evidence(log_e=np.zeros((k, k)), crossed_at=crossed, log_wealth=wealth, units=counts)
    for sign, first, second in ((1.0, units.lo, units.hi), (-1.0, units.hi, units.lo)):
        # Every claim's path at once: units grouped by (size, claim), in completion order;
        # the running log wealth per bet size is a cumulative sum restarted at each group.
        key = (size_index * k + first) * k + second
        order = np.argsort(key, kind="stable")
        key_sorted = key[order]
        steps = np.log1p(sign * np.outer(units.y[order], LAMBDAS))
        total = np.cumsum(steps, axis=0)
        starts = np.r_[0, np.flatnonzero(np.diff(key_sorted)) + 1]
        lengths = np.diff(np.r_[starts, key_sorted.size])
        offset = np.where(starts[:, None] > 0, total[np.maximum(starts - 1, 0)], 0.0)
        path = total - np.repeat(offset, lengths, axis=0)
        mixed = _log_mix(path)
        ends = starts + lengths - 1
        g_size, g_first, g_second = (
            size_index[order][starts],
            first[order][starts],
            second[order][starts],
        )
        wealth[g_size, g_first, g_second] = path[ends]
        counts[g_size, g_first, g_second] = lengths
        np.maximum.at(log_e, (g_first, g_second), mixed[ends])
        # The first unit of each group at which the mixture reached the threshold.
        over = mixed >= log_threshold
        group_of = np.repeat(np.arange(starts.size), lengths)
        hit_rows = np.flatnonzero(over)
        if hit_rows.size:
            first_hit = np.full(starts.size, -1, np.int64)
            groups_hit, first_row = np.unique(group_of[hit_rows], return_index=True)
            first_hit[groups_hit] = units.at[order][hit_rows[first_row]]
            for g in groups_hit:
                i, j, t = int(g_first[g]), int(g_second[g]), int(first_hit[g])
                crossed[i, j] = t if crossed[i, j] < 0 else min(crossed[i, j], t)
    log_e[np.isneginf(log_e)] = 0.0  # no units yet: wealth 1
    return Evidence(log_e=log_e, crossed_at=crossed, log_wealth=wealth, units=counts)


def _scale_needed(log_wealth: FloatArray, log_threshold: float) -> FloatArray:
    """Smallest c ≥ 1 with log Σ w exp(c · log_wealth) ≥ log_threshold (inf if none ≤ MAX_SCALE).

    log_wealth: (..., bets). The left side is convex and, once any bet has gained, increasing
    in c, so a bisection finds c.
    """
    lw = np.asarray(log_wealth, float)
    shape = lw.shape[:-1]
    reach = _log_mix(lw * MAX_SCALE) >= log_threshold
    low, high = np.ones(shape), np.full(shape, MAX_SCALE)
    for _ in range(40):
        mid = (low + high) / 2
        ok = _log_mix(lw * mid[..., None]) >= log_threshold
        high = np.where(ok, mid, high)
        low = np.where(ok, low, mid)
    done = _log_mix(lw) >= log_threshold
    return np.where(done, 1.0, np.where(reach, high, np.inf))


@dataclass(frozen=True)
class Claim:
    winner: int
    loser: int
    e_value: float
    units: int
    decided_at: int | None  # votes counted when the threshold was first reached


@dataclass(frozen=True)
class StoppingState:
    """Where a decision stands after the votes given."""

    rule: DecisionRule
    votes: int
    threshold: float
    unit_sizes: tuple[int, ...]
    decided: bool
    #: The configuration decided best (or the pair's winner) once decided; until then the
    #: leader, nearest to a decision (None before any vote).
    leader: int | None
    #: For "pair": the other configuration.
    loser: int | None
    #: Votes counted when the decision was reached.
    decided_at: int | None
    #: Projected further votes, while undecided (None: no lead to project from).
    more_votes: int | None
    #: The leader's (or the pair's) claims, weakest first.
    claims: list[Claim] = field(default_factory=list)


def stopping_state(
    n_items: int,
    item_a: IntArray,
    item_b: IntArray,
    score: FloatArray,
    rater: IntArray,
    *,
    rule: DecisionRule,
    max_votes_per_pair: int,
) -> StoppingState:
    """The rule's state after these votes (in the order cast; see rater_units)."""
    rule_check(rule, n_items)
    sizes = unit_sizes(max_votes_per_pair)
    limit = threshold(rule, n_items, len(sizes))
    units = rater_units(item_a, item_b, score, rater, sizes)
    ev = evidence(n_items, units, sizes, float(np.log(limit)))
    votes = int(np.asarray(score).size)
    crossed = np.where(ev.crossed_at >= 0, ev.crossed_at, np.iinfo(np.int64).max)
    # c per ordered pair: the best unit size's scale (1 for a claim already made).
    scale = np.min(_scale_needed(ev.log_wealth, float(np.log(limit))), axis=0)
    scale = np.where(ev.crossed_at >= 0, 1.0, scale)
    if rule.kind == "pair":
        assert rule.a is not None and rule.b is not None
        candidates = [(rule.a, [rule.b]), (rule.b, [rule.a])]
    else:
        candidates = [(i, [j for j in range(n_items) if j != i]) for i in range(n_items)]
    # Decided: the candidate whose last claim came first. Else the leader: the one nearest to
    # deciding by the projection, then by its weakest claim's evidence.
    decided_at = {i: int(crossed[i, js].max()) for i, js in candidates}
    done = [i for i, _ in candidates if decided_at[i] < np.iinfo(np.int64).max]
    if done:
        winner = min(done, key=lambda i: decided_at[i])
    else:
        winner = min(
            (i for i, _ in candidates),
            key=lambda i: (
                float(scale[i, _others(i, candidates)].max()),
                -_weakest(ev, i, candidates),
            ),
        )
    others = _others(winner, candidates)
    claims = sorted(
        (
            Claim(
                winner=winner,
                loser=j,
                e_value=float(np.exp(min(ev.log_e[winner, j], 700.0))),
                units=int(ev.units[:, winner, j].sum()),
                decided_at=(
                    int(ev.crossed_at[winner, j]) + 1 if ev.crossed_at[winner, j] >= 0 else None
                ),
            )
            for j in others
        ),
        key=lambda c: c.e_value,
    )
    more: int | None = None
    if not done:
        c = float(scale[winner, others].max())
        if np.isfinite(c) and votes > 0:
            more = max(1, int(np.ceil((c - 1) * votes)))
    return StoppingState(
        rule=rule,
        votes=votes,
        threshold=limit,
        unit_sizes=sizes,
        decided=bool(done),
        leader=winner if votes else None,
        loser=others[0] if rule.kind == "pair" and votes else None,
        decided_at=decided_at[winner] + 1 if done else None,
        more_votes=more,
        claims=claims,
    )


def _others(i: int, candidates: list[tuple[int, list[int]]]) -> list[int]:
    return next(js for c, js in candidates if c == i)


def _weakest(ev: Evidence, i: int, candidates: list[tuple[int, list[int]]]) -> float:
    return float(ev.log_e[i, _others(i, candidates)].min())
