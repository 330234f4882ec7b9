"""Anytime-valid stopping, checked by simulation with known truth.

    .venv/bin/python bench/validity_stopping.py [--quick]

Simulated studies: K = 4 configurations, 4 prompts × 2 seeds (8 comparisons per pair, 48 in
all), every rater judging a random subset of the comparisons at their own pace (log-normal
speeds), votes merged in time order; a vote of rater r on prompt p goes to i with probability
σ(θ_i + u_ri + v_pi − θ_j − u_rj − v_pj), 10 % ties. Scenarios: few raters (10, each judging
all 48) or many (40, each judging 24), with or without rater deviations u (sd 0.5 logits;
prompt deviations v sd 0.3 whenever raters deviate); and a crowd (200 raters, 12 votes each)
with deviations.

Figures, for the rule "best configuration at 95 %", the state checked after every vote:
- stop_null_error_*: share of null studies (all θ equal: any decision is wrong) that ever
  declare a winner. Bound: 5 %. Baseline: the naive rule a researcher would apply, a
  fixed-sample one-sided 95 % z test of the leader against each other configuration on the
  pooled votes (ties dropped), no multiplicity correction, looked at after every vote. ratio = baseline
  error / ours (above 1: ours errs less).
- stop_power_*: share of studies with a real effect (θ = 1, 0, 0, 0 logits) decided, and
  stop_votes_*: median votes to the decision among those decided (baseline: the naive rule's,
  which is not valid); stop_wrong_*: decisions naming a configuration other than the best.
- stop_projection_halfway: for studies decided in the crowd scenario (400 raters, 12 votes
  each, deviations), the projected "about N more votes" read at half the votes the decision
  took, divided by the votes it really took from there: median (IQR in the note). Above 1:
  the projection overstates. Baseline: the same ratio for a fixed-design projection that
  ignores the data (the remaining votes of the study), ratio = |log baseline| / |log ours|.
Population validity has a price: each rater counts once per pair and unit size (see
ratings.analysis.stopping), so ten raters cannot carry a population decision for K = 4.

`run(quick)` returns the lines; bench/validity.py prints them with the other figures.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ratings.analysis.stopping import DecisionRule, stopping_state  # noqa: E402

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

K, PROMPTS, SEEDS, TIE = 4, 4, 2, 0.10
ALPHA = 0.05


@dataclass(frozen=True)
class Scenario:
    name: str
    raters: int
    per_rater: int
    rater_sd: float
    prompt_sd: float


SCENARIOS = (
    Scenario("few_raters", 10, 48, 0.0, 0.0),
    Scenario("few_raters_rater_effects", 10, 48, 0.5, 0.3),
    Scenario("many_raters", 40, 24, 0.0, 0.0),
    Scenario("many_raters_rater_effects", 40, 24, 0.5, 0.3),
    Scenario("crowd_rater_effects", 200, 12, 0.5, 0.3),
)


@dataclass(frozen=True)
class SimVotes:
    item_a: IntArray
    item_b: IntArray
    score: FloatArray  # 1 a won, 0 b won, ½ tie
    rater: IntArray


def simulate(rng: np.random.Generator, scenario: Scenario, theta: FloatArray) -> SimVotes:
    """One study's votes in the order cast."""
    pairs = [(i, j) for i in range(K) for j in range(i + 1, K)]
    comp_a = np.repeat([p[0] for p in pairs], PROMPTS * SEEDS)
    comp_b = np.repeat([p[1] for p in pairs], PROMPTS * SEEDS)
    comp_prompt = np.tile(np.repeat(np.arange(PROMPTS), SEEDS), len(pairs))
    n_comp = comp_a.size
    r_dev = rng.normal(0, scenario.rater_sd, (scenario.raters, K))
    p_dev = rng.normal(0, scenario.prompt_sd, (PROMPTS, K))
    speed = rng.lognormal(0, 0.5, scenario.raters)
    picks = np.argsort(rng.random((scenario.raters, n_comp)), axis=1)[:, : scenario.per_rater]
    times = np.cumsum(rng.exponential(1, picks.shape) / speed[:, None], axis=1)
    order = np.argsort(times, axis=None, kind="stable")
    rater = np.repeat(np.arange(scenario.raters), scenario.per_rater)[order]
    comp = picks.reshape(-1)[order]
    a, b, p = comp_a[comp], comp_b[comp], comp_prompt[comp]
    d = theta[a] + r_dev[rater, a] + p_dev[p, a] - theta[b] - r_dev[rater, b] - p_dev[p, b]
    a_wins = rng.random(a.size) < 1 / (1 + np.exp(-d))
    score = np.where(rng.random(a.size) < TIE, 0.5, a_wins.astype(float))
    swap = rng.random(a.size) < 0.5  # which config is listed first carries no meaning
    return SimVotes(
        item_a=np.where(swap, b, a).astype(np.int64),
        item_b=np.where(swap, a, b).astype(np.int64),
        score=np.where(swap, 1 - score, score),
        rater=rater.astype(np.int64),
    )


def naive_decision(votes: SimVotes, alpha: float = ALPHA) -> tuple[int | None, int | None]:
    """The naive rule checked after every vote: (winner, votes at the decision) or (None, None).

    After each vote, for each configuration, a one-sided 95 % z test on the pooled decisive
    votes against every other configuration; decided when one passes all of them.
    """
    from statistics import NormalDist

    z_crit = NormalDist().inv_cdf(1 - alpha)
    n = votes.score.size
    wins = np.zeros((n, K, K))
    decisive = votes.score != 0.5
    t = np.arange(n)
    won_a = decisive & (votes.score == 1)
    won_b = decisive & (votes.score == 0)
    wins[t[won_a], votes.item_a[won_a], votes.item_b[won_a]] = 1
    wins[t[won_b], votes.item_b[won_b], votes.item_a[won_b]] = 1
    wins = np.cumsum(wins, axis=0)
    games = wins + wins.transpose(0, 2, 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (wins - games / 2) / np.sqrt(games / 4)
    z = np.nan_to_num(z, nan=-np.inf)
    passes = z >= z_crit
    passes[:, np.arange(K), np.arange(K)] = True
    row_ok = passes.all(axis=2)  # (n, K)
    hit = np.flatnonzero(row_ok.any(axis=1))
    if not hit.size:
        return None, None
    return int(np.argmax(row_ok[hit[0]])), int(hit[0]) + 1


def ours(votes: SimVotes) -> tuple[int | None, int | None]:
    state = stopping_state(
        K,
        votes.item_a,
        votes.item_b,
        votes.score,
        votes.rater,
        rule=DecisionRule("best", 1 - ALPHA),
        max_votes_per_pair=PROMPTS * SEEDS,
    )
    return (state.leader, state.decided_at) if state.decided else (None, None)


def _line(name: str, value: float, unit: str, baseline: float, ratio: float) -> str:
    return f"{name}: {value:.3g} {unit}  baseline {baseline:.3g}  ratio {ratio:.2f}"


def _ratio(baseline: float, value: float) -> float:
    if value == 0:
        return float("inf") if baseline > 0 else 1.0
    return baseline / value


def run(quick: bool) -> list[str]:
    n_null = 150 if quick else 1000
    n_power = 40 if quick else 300
    lines: list[str] = []
    for k, scenario in enumerate(SCENARIOS):
        rng = np.random.default_rng(1000 + k)
        null = np.zeros(K)
        ours_err = naive_err = 0
        for _ in range(n_null):
            votes = simulate(rng, scenario, null)
            ours_err += ours(votes)[0] is not None
            naive_err += naive_decision(votes)[0] is not None
        e, b = ours_err / n_null, naive_err / n_null
        lines.append(
            _line(f"stop_null_error_{scenario.name}", 100 * e, "%", 100 * b, _ratio(b, e))
            + f"  (n {n_null}, bound 5 %, {scenario.raters * scenario.per_rater} votes)"
        )
        effect = np.array([1.0, 0.0, 0.0, 0.0])
        decided: list[int] = []
        naive_decided: list[int] = []
        wrong = 0
        for _ in range(n_power):
            votes = simulate(rng, scenario, effect)
            winner, at = ours(votes)
            if winner is not None and at is not None:
                decided.append(at)
                wrong += winner != 0
            winner, at = naive_decision(votes)
            if winner is not None and at is not None:
                naive_decided.append(at)
        p, pb = len(decided) / n_power, len(naive_decided) / n_power
        lines.append(
            _line(f"stop_power_{scenario.name}", 100 * p, "%", 100 * pb, p / pb if pb else 1.0)
            + f"  (n {n_power}, effect 1 logit; baseline invalid)"
        )
        med = float(np.median(decided)) if decided else float("nan")
        med_b = float(np.median(naive_decided)) if naive_decided else float("nan")
        lines.append(
            _line(f"stop_votes_{scenario.name}", med, "votes", med_b, med_b / med)
            + "  (median among decided)"
        )
        lines.append(
            _line(f"stop_wrong_{scenario.name}", 100 * wrong / n_power, "%", 0.0, 1.0)
            + "  (decided for a configuration that is not the best)"
        )
    lines.append(_projection_line(quick))
    return lines


def _projection_line(quick: bool) -> str:
    rng = np.random.default_rng(77)
    crowd = Scenario("crowd", 400, 12, 0.5, 0.3)
    ratios: list[float] = []
    naive: list[float] = []
    rule = DecisionRule("best", 1 - ALPHA)
    for _ in range(15 if quick else 60):
        v = simulate(rng, crowd, np.array([1.0, 0.0, 0.0, 0.0]))
        full = stopping_state(
            K, v.item_a, v.item_b, v.score, v.rater, rule=rule, max_votes_per_pair=PROMPTS * SEEDS
        )
        if full.decided_at is None or full.decided_at < 4:
            continue
        n = full.decided_at // 2
        half = stopping_state(
            K,
            v.item_a[:n],
            v.item_b[:n],
            v.score[:n],
            v.rater[:n],
            rule=rule,
            max_votes_per_pair=PROMPTS * SEEDS,
        )
        if half.more_votes is not None:
            ratios.append(half.more_votes / (full.decided_at - n))
            naive.append((v.score.size - n) / (full.decided_at - n))
    med, med_b = float(np.median(ratios)), float(np.median(naive))
    q1, q3 = np.percentile(ratios, [25, 75])
    return (
        _line(
            "stop_projection_halfway",
            med,
            "x actual",
            med_b,
            abs(np.log(med_b)) / max(abs(np.log(med)), 1e-9),
        )
        + f"  (IQR {q1:.2f}–{q3:.2f}, {len(ratios)} studies)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer simulated studies")
    args = parser.parse_args()
    start = time.perf_counter()
    for line in run(args.quick):
        print(line, flush=True)
    print(f"# {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
