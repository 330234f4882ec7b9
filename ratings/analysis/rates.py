"""Proportions and the per-setting win-rate table.

Wilson intervals, exact binomial (sign) tests on decisive votes, Holm's adjustment, the votes
a study still needs, and the table that counts each factor level's wins from its own side.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from ratings.analysis._common import FloatArray, _level_sort_key

#: The win rate a study should be able to detect; the table reports the votes still needed.
DETECTABLE_WIN_RATE = 0.6
#: The significance level of the win-rate table: a row whose Holm-adjusted p-value is below it
#: is marked, and the votes still needed are planned at it.
SIGNIFICANCE = 0.05
#: The power the votes still needed are planned for.
DETECTION_POWER = 0.8


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
    if p == 0.5:
        # Symmetric: the outcomes as unlikely as this one are the two tails beyond it, so
        # the p-value is twice the smaller tail (what binomtest returns, without its search).
        return min(1.0, 2 * float(stats.binom.cdf(min(successes, n - successes), n, 0.5)))
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
    win_rate: float = DETECTABLE_WIN_RATE,
    alpha: float = SIGNIFICANCE,
    power: float = DETECTION_POWER,
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
    #: The contrasts Holm's adjustment ran over (the same for every row of a table).
    family: int = 0

    @property
    def significant(self) -> bool:
        """The Holm-adjusted p-value is below SIGNIFICANCE."""
        return self.p_holm < SIGNIFICANCE

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
    from the side holding that level.

    Holm's adjustment runs over the table's contrasts, one hypothesis each: a factor with
    two levels in the table is one contrast (its two rows are the same votes seen from
    either side, with the same p-value); with more levels each level against the others is
    its own contrast.
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
    contrast_of = _contrasts(keys)
    family = max(contrast_of, default=-1) + 1
    contrast_p = [1.0] * family
    for c, p in zip(contrast_of, pvals, strict=True):
        contrast_p[c] = p
    contrast_adjusted = holm(contrast_p)
    adjusted = [float(contrast_adjusted[c]) for c in contrast_of]
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
                family=family,
            )
        )
    return rows


def _contrasts(keys: Sequence[tuple[str, str]]) -> list[int]:
    """The contrast each (factor, level) row tests: shared by the two rows of a factor with
    two levels, one per row otherwise."""
    per_factor: dict[str, int] = {}
    for factor, _ in keys:
        per_factor[factor] = per_factor.get(factor, 0) + 1
    out: list[int] = []
    seen: dict[str, int] = {}
    next_id = 0
    for factor, _ in keys:
        if per_factor[factor] == 2 and factor in seen:
            out.append(seen[factor])
            continue
        seen[factor] = next_id
        out.append(next_id)
        next_id += 1
    return out
