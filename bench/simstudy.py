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


# --------------------------------------------------------------------------- coverage


@dataclass(frozen=True)
class CoverageResult:
    coverage: float  # share of (study, config) intervals covering the estimand
    mean_width: float
    zero_width: float  # share of intervals of zero width
    estimand: str
    #: (p_best, truly best) for every config of every study: for calibration.
    p_best: FloatArray
    truly_best: NDArray[np.bool_]


def leaderboard_coverage(
    rng: np.random.Generator,
    *,
    studies: int,
    n_configs: int,
    n_raters: int,
    n_prompts: int,
    dev_sd: float,
    tie_rate: float = 0.0,
    seeds: int = 2,
    draws: int = 1000,
) -> CoverageResult:
    """Simulate `studies` studies and check the leaderboard's 95 % intervals and P(best)."""
    from ratings.analysis import bt_leaderboard

    covered, widths, zero, estimands, pb, best = [], [], [], set(), [], []
    for _ in range(studies):
        truth = make_truth(
            rng,
            n_configs=n_configs,
            n_raters=n_raters,
            n_prompts=n_prompts,
            rater_sd=dev_sd,
            prompt_sd=dev_sd,
            tie_rate=tie_rate,
        )
        board = bt_leaderboard(
            n_configs, simulate_study(rng, truth, seeds=seeds), n_boot=draws, rng=rng
        )
        target = estimand(truth, board.estimand)
        covered.append((board.ci_low <= target) & (target <= board.ci_high))
        widths.append(board.ci_high - board.ci_low)
        zero.append(board.ci_high - board.ci_low <= 1e-12)
        estimands.add(board.estimand)
        pb.append(board.p_best)
        best.append(np.arange(n_configs) == np.argmax(target))
    return CoverageResult(
        coverage=float(np.mean(covered)),
        mean_width=float(np.mean(widths)),
        zero_width=float(np.mean(zero)),
        estimand="/".join(sorted(estimands)),
        p_best=np.concatenate(pb),
        truly_best=np.concatenate(best),
    )


def old_bootstrap_coverage(
    rng: np.random.Generator,
    *,
    studies: int,
    n_configs: int,
    n_raters: int,
    n_prompts: int,
    dev_sd: float,
    n_boot: int = 200,
) -> float:
    """The former leaderboard's intervals (rater × prompt bootstrap, percentile) against the
    truth it claimed to cover (the configs' own strengths)."""
    from ratings.analysis import BT_RIDGE, cluster_bootstrap_strengths

    covered = []
    for _ in range(studies):
        truth = make_truth(
            rng,
            n_configs=n_configs,
            n_raters=n_raters,
            n_prompts=n_prompts,
            rater_sd=dev_sd,
            prompt_sd=dev_sd,
        )
        t = simulate_study(rng, truth)
        samples = cluster_bootstrap_strengths(
            n_configs,
            t.item_a,
            t.item_b,
            t.a_wins + t.ties / 2,
            t.b_wins + t.ties / 2,
            t.rater,
            t.prompt,
            n_boot=n_boot,
            rng=rng,
            ridge=BT_RIDGE,
        )
        lo, hi = np.quantile(samples, [0.025, 0.975], axis=0)
        covered.append((lo <= truth.strengths) & (truth.strengths <= hi))
    return float(np.mean(covered))


# --------------------------------------------------------------------------- pair selection


@dataclass
class SelectionRun:
    votes_to_decision: int | None  # votes until the true best's P(best) ≥ 0.9 (checked often)
    first_decision_right: bool | None  # the first config to reach P(best) ≥ 0.9 is truly best
    #: Per third of the study: votes on pairs among the current top three (by the latest fit),
    #: and what uniform pairing would have put there (their share of each rater's candidates).
    top3_votes: list[int]
    top3_uniform: list[float]
    thirds_votes: list[int]
    #: Picks that went to a comparison at or above the target while one of the rater's
    #: candidates of the same kind (its pair for a steered pick, any for an even one) was below.
    over_target: int
    comparisons_over_target: int
    votes: int
    #: (p_best of every config, truly best) at every check, for calibration.
    checks_p_best: list[FloatArray]
    true_best: int


def selection_study(
    rng: np.random.Generator,
    truth: Truth,
    *,
    adaptive: bool,
    max_votes: int,
    seeds: int = 2,
    target: int = 5,
    check_every: int = 10,
    stop_at_decision: bool = True,
    old_contenders: bool = False,
) -> SelectionRun:
    """One study driven vote by vote through ratings.pairs.choose_candidate (the app's own
    choice), with the leaderboard's fit refitted every `check_every` votes (the app caches the
    adaptive weights for a few seconds) and P(best) checked then. Raters arrive at random;
    a rater never sees the same comparison twice. Needs Django configured (ratings.pairs)."""
    import math
    import random

    from ratings.analysis import leaderboard_uncertainty
    from ratings.pairs import Candidate, choose_candidate, top_two_weights

    k = truth.n_configs
    n_raters, n_prompts = truth.rater_dev.shape[0], truth.prompt_dev.shape[0]
    ca, cb, cp, _ = all_comparisons(k, n_prompts, seeds)
    n_comp = ca.size
    a_list, b_list, p_list = ca.tolist(), cb.tolist(), cp.tolist()
    shown = [0] * n_comp
    # One Candidate per comparison, replaced when its count moves: building hundreds per
    # vote would cost more than the choice itself.
    cand = [Candidate(c, a_list[c], b_list[c], 0, False) for c in range(n_comp)]
    unseen = [list(range(n_comp)) for _ in range(n_raters)]
    py = random.Random(int(rng.integers(2**31)))
    # Each rater's and prompt's strengths, and a uniform draw per vote, made up front.
    strength = (
        truth.strengths[None, None, :] + truth.rater_dev[:, None, :] + truth.prompt_dev[None, :, :]
    ).tolist()
    uniforms = rng.random((max_votes, 2)).tolist()
    cols: dict[str, list[float]] = {key: [] for key in ("a", "b", "r", "p", "aw", "bw", "t")}
    weights: dict[tuple[int, int], float] | None = None
    contenders: frozenset[int] | None = None
    in_top = [a < 3 and b < 3 for a, b in zip(a_list, b_list, strict=True)]
    top_unseen = [sum(in_top[x] for x in row) for row in unseen]
    ids = list(range(k))
    true_best = int(np.argmax(estimand(truth, "population")))
    decided = None
    first_right = None
    top3_votes = [0, 0, 0]
    top3_uniform = [0.0, 0.0, 0.0]
    thirds = [0, 0, 0]
    over = 0
    checks: list[FloatArray] = []
    t = 0
    for t in range(max_votes):
        r = py.randrange(n_raters)
        open_ = unseen[r]
        if not open_:
            continue
        cands = [cand[c] for c in open_]
        if old_contenders:
            pick = _old_choose(cands, py, contenders)
        else:
            pick = choose_candidate(
                cands,
                rng=py,
                gold_rate=0.0,
                pair_weights=(weights or {}) if adaptive else None,
                target=target,
            )
        assert pick is not None
        c = pick.comparison_id
        if shown[c] >= target:
            key = {pick.config_a, pick.config_b}
            same = [x for x in cands if not adaptive or {x.config_a, x.config_b} == key]
            over += any(x.shown < target for x in same)
        third = min(3 * t // max_votes, 2)
        thirds[third] += 1
        top3_uniform[third] += top_unseen[r] / len(open_)
        top3_votes[third] += in_top[c]
        a, b, p = a_list[c], b_list[c], p_list[c]
        s = strength[r][p]
        u_tie, u_win = uniforms[t]
        tie = u_tie < truth.tie_rate
        a_won = not tie and u_win < 1.0 / (1.0 + math.exp(s[b] - s[a]))
        for key_, v in (("a", a), ("b", b), ("r", r), ("p", p)):
            cols[key_].append(v)
        cols["aw"].append(float(a_won))
        cols["bw"].append(float(not a_won and not tie))
        cols["t"].append(float(tie))
        top_unseen[r] -= in_top[c]
        shown[c] += 1
        cand[c] = pick._replace(shown=shown[c])
        open_.remove(c)
        if (t + 1) % check_every == 0:
            table = PairTable(
                item_a=np.array(cols["a"], dtype=np.int64),
                item_b=np.array(cols["b"], dtype=np.int64),
                rater=np.array(cols["r"], dtype=np.int64),
                prompt=np.array(cols["p"], dtype=np.int64),
                a_wins=np.array(cols["aw"]),
                b_wins=np.array(cols["bw"]),
                ties=np.array(cols["t"]),
            )
            fit = leaderboard_uncertainty(k, table)
            top3 = set(np.argsort(-fit.strengths)[:3].tolist())
            in_top = [a in top3 and b in top3 for a, b in zip(a_list, b_list, strict=True)]
            top_unseen = [sum(in_top[x] for x in row) for row in unseen]
            if adaptive and not old_contenders:
                weights = top_two_weights(fit, ids, rng=rng, draws=1000)
            if old_contenders:
                contenders = _old_contenders(table, k)
            sample = fit.draws(2000, rng)
            p_best = np.bincount(np.argmax(sample, axis=1), minlength=k) / sample.shape[0]
            checks.append(p_best)
            if first_right is None and p_best.max() >= 0.9:
                first_right = bool(np.argmax(p_best) == true_best)
            if decided is None and p_best[true_best] >= 0.9:
                decided = t + 1
                if stop_at_decision:
                    break
    return SelectionRun(
        votes_to_decision=decided,
        first_decision_right=first_right,
        top3_votes=top3_votes,
        top3_uniform=top3_uniform,
        thirds_votes=thirds,
        over_target=over,
        comparisons_over_target=sum(n > target for n in shown),
        votes=t + 1,
        checks_p_best=checks,
        true_best=true_best,
    )


# The former adaptive rule, kept here only as the baseline: its own Bradley–Terry fit (every
# vote, excluded or not) with Fisher-information intervals, "contenders" = configurations whose
# interval overlaps the leader's, 80 % of picks among contender pairs, fewest shown first.


def _old_contenders(table: PairTable, k: int) -> frozenset[int]:
    w = np.zeros((k, k))
    np.add.at(w, (table.item_a, table.item_b), table.a_wins + table.ties / 2)
    np.add.at(w, (table.item_b, table.item_a), table.b_wins + table.ties / 2)
    games = w + w.T
    w = w + 0.5 * (games > 0)
    games = w + w.T
    strength = np.ones(k)
    for _ in range(500):
        denom = (games / (strength[:, None] + strength[None, :])).sum(axis=1)
        new = np.where(denom > 0, w.sum(axis=1) / np.where(denom > 0, denom, 1.0), strength)
        new = new / np.exp(np.log(new).mean())
        done = np.allclose(new, strength, rtol=1e-9, atol=1e-12)
        strength = new
        if done:
            break
    theta = np.log(strength)
    p = 1.0 / (1.0 + np.exp(-(theta[:, None] - theta[None, :])))
    info = games * p * (1 - p)
    cov = np.linalg.pinv(np.diag(info.sum(axis=1)) - info)
    se = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    se = np.where(games.sum(axis=1) > 0, se, np.inf)
    leader = int(np.argmax(theta))
    floor = theta[leader] - 1.96 * se[leader]
    return frozenset(int(i) for i in range(k) if theta[i] + 1.96 * se[i] >= floor)


def _old_choose(cands: list, py: object, contenders: frozenset[int] | None) -> object:
    import random

    assert isinstance(py, random.Random)
    pool = cands
    if contenders is not None and py.random() < 0.8:
        focused = [c for c in pool if c.config_a in contenders and c.config_b in contenders]
        pool = focused or pool
    least = min(c.shown for c in pool)
    return py.choice([c for c in pool if c.shown == least])
