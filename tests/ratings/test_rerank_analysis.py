"""Best-of-N analysis: interval coverage by simulation with known truth, favourites, edges."""

from __future__ import annotations

import numpy as np
import pytest

from ratings.analysis.rates import wilson_interval
from ratings.analysis.rerank import (
    TournamentVotes,
    effective_votes,
    favourite_share,
    rerank_win_rate,
    tournament_favourites,
)

REPS = 800


def _simulate(
    *, truth: float, prompts: int, raters: int, spread: float, tie_rate: float, seed: int
) -> tuple[float, float]:
    """Coverage of the 95 % interval (clustered, then naive Wilson on raw votes).

    Each prompt's pick beats its random rival with probability p_i ~ Beta around `truth`
    (`spread` is the Beta's standard deviation: how much the gain differs between prompts);
    each of `raters` raters votes on the prompt's one comparison: a tie at `tie_rate`, else a
    win with probability p_i' chosen so the expected credit is p_i. The population win rate
    (the estimand) is `truth`.
    """
    rng = np.random.default_rng(seed)
    if spread > 0:
        k = truth * (1 - truth) / spread**2 - 1
        p = rng.beta(truth * k, (1 - truth) * k, size=(REPS, prompts))
    else:
        p = np.full((REPS, prompts), truth)
    # credit = (1 - tie) * q + tie / 2 = p  =>  q = (p - tie/2) / (1 - tie)
    q = np.clip((p - tie_rate / 2) / (1 - tie_rate), 0, 1)
    ties = rng.binomial(raters, tie_rate, size=(REPS, prompts))
    wins = rng.binomial(raters - ties, q)
    losses = raters - ties - wins
    covered = naive = 0
    for r in range(REPS):
        got = rerank_win_rate(
            wins=wins[r], losses=losses[r], ties=ties[r], both_bad=np.zeros(prompts)
        )
        covered += got.ci_low <= truth <= got.ci_high
        low, high = wilson_interval(got.win_rate * got.votes, got.votes)  # type: ignore[operator]
        naive += low <= truth <= high
    return covered / REPS, naive / REPS


@pytest.mark.parametrize(
    ("truth", "prompts", "raters", "spread"),
    [
        (0.70, 40, 1, 0.15),  # scorer truly better, one rater per pair
        (0.70, 30, 8, 0.15),  # scorer truly better, many raters on few pairs
        (0.50, 40, 1, 0.10),  # scorer no better, one rater per pair
        (0.50, 30, 8, 0.20),  # scorer no better, many raters, gains differ a lot by prompt
        (0.60, 60, 3, 0.0),  # every prompt alike: votes are independent
        (0.60, 8, 5, 0.15),  # few prompts: t's z carries the uncertainty of the variance
    ],
)
def test_rerank_win_rate_interval_covers_the_truth(
    truth: float, prompts: int, raters: int, spread: float
) -> None:
    coverage, _ = _simulate(
        truth=truth, prompts=prompts, raters=raters, spread=spread, tie_rate=0.1, seed=7
    )
    # 95 % nominal; 800 repeats give a standard error of about 0.8 points.
    assert 0.925 <= coverage <= 0.99, coverage


def test_naive_wilson_undercovers_when_many_raters_judge_few_pairs() -> None:
    coverage, naive = _simulate(truth=0.5, prompts=30, raters=8, spread=0.2, tie_rate=0.1, seed=11)
    assert naive < 0.85 < 0.925 <= coverage, (naive, coverage)


def test_rerank_win_rate_counts_ties_and_both_bad_as_half() -> None:
    got = rerank_win_rate(wins=[3, 0], losses=[1, 2], ties=[2, 0], both_bad=[0, 2])
    assert got.votes == 10
    assert got.win_rate == pytest.approx((3 + 0 + (2 + 2) / 2) / 10)
    assert (got.wins, got.losses, got.ties, got.both_bad, got.clusters) == (3, 3, 2, 2, 2)


def test_rerank_win_rate_with_one_vote_per_pair_is_wilson_with_the_small_sample_factor() -> None:
    # One vote per pair: the design effect is k/(k-1) (the cluster variance's correction), so
    # the interval is Wilson's on 19 of the 20 votes, with the same rate, and t's z (19 df).
    wins = [1] * 14 + [0] * 6
    got = rerank_win_rate(wins=wins, losses=[1 - w for w in wins], ties=[0] * 20, both_bad=[0] * 20)
    assert got.effective_votes == pytest.approx(19)
    low, high = wilson_interval(0.7 * 19, 19, 2.093024054408263)
    assert (got.ci_low, got.ci_high) == pytest.approx((low, high), abs=1e-9)
    assert got.verdict == "unclear"


def test_rerank_win_rate_without_votes_knows_nothing() -> None:
    got = rerank_win_rate(wins=[0], losses=[0], ties=[0], both_bad=[0])
    assert got.win_rate is None and (got.ci_low, got.ci_high) == (0.0, 1.0)
    assert got.verdict == "unclear"


def test_effective_votes_one_prompt_counts_once() -> None:
    # Ten votes on one pair say nothing about other prompts.
    assert effective_votes([9], [10]) == 1.0
    # Unanimous clusters: one effective vote per prompt.
    assert effective_votes([5, 5, 5], [5, 5, 5]) == 3.0


def test_effective_votes_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="credit <= votes"):
        effective_votes([3], [2])


def _tournament(members: tuple[int, ...], wins: dict[tuple[int, int], int]) -> TournamentVotes:
    credit: dict[tuple[int, int], float] = {}
    votes: dict[tuple[int, int], float] = {}
    for (a, b), n in wins.items():
        credit[(a, b)] = credit.get((a, b), 0) + n
        votes[(a, b)] = votes.get((a, b), 0) + n
    return TournamentVotes(members, credit, votes)


def test_tournament_favourite_is_the_member_with_the_best_mean_rate() -> None:
    t = _tournament((1, 2, 3), {(1, 2): 2, (2, 1): 1, (1, 3): 1, (3, 2): 1, (2, 3): 0})
    assert tournament_favourites(t) == {1}


def test_favourite_share_splits_level_favourites_and_skips_incomplete() -> None:
    level = _tournament((1, 2, 3), {(1, 2): 1, (2, 3): 1, (3, 1): 1})  # a cycle: all level
    clear = _tournament((4, 5, 6), {(4, 5): 1, (4, 6): 1, (5, 6): 1})
    incomplete = _tournament((7, 8, 9), {(7, 8): 1})
    got = favourite_share({10: 1, 20: 4, 30: 7}, {10: level, 20: clear, 30: incomplete})
    assert got.prompts == 2
    assert got.hits == pytest.approx(1 / 3 + 1)
    assert got.chance == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="needs a vote"):
        tournament_favourites(incomplete)


def test_favourite_share_of_a_perfect_scorer_beats_chance_by_simulation() -> None:
    """Known truth: candidate quality is latent; a perfect scorer picks the best, a random one
    any. Raters vote by Bradley–Terry on the latent quality. The perfect scorer's share must be
    well above chance, the random one's interval must hold chance."""
    rng = np.random.default_rng(3)
    size, prompts = 4, 60
    tournaments, perfect, random_pick = {}, {}, {}
    for prompt in range(prompts):
        quality = rng.normal(0, 1.5, size)
        members = tuple(range(prompt * 10, prompt * 10 + size))
        wins: dict[tuple[int, int], int] = {}
        for i in range(size):
            for j in range(i + 1, size):
                p = 1 / (1 + np.exp(quality[j] - quality[i]))
                won = int(rng.binomial(5, p))
                wins[(members[i], members[j])] = won
                wins[(members[j], members[i])] = 5 - won
        tournaments[prompt] = _tournament(members, wins)
        perfect[prompt] = members[int(np.argmax(quality))]
        random_pick[prompt] = members[int(rng.integers(size))]
    good = favourite_share(perfect, tournaments)
    chance = favourite_share(random_pick, tournaments)
    assert good.ci_low > 0.5 > 0.25 == pytest.approx(good.chance)
    assert chance.ci_low <= 0.25 <= chance.ci_high
