"""bench/validity.py in small: the leaderboard and the pair choice against simulated truth.

Fixed seeds and fewer studies than the bench, so the bands are wider than the bench's 90–98 %;
each scenario is one where the former bootstrap fails the same band.
"""

from __future__ import annotations

import numpy as np
import pytest

from bench import simstudy


@pytest.mark.parametrize(
    ("raters", "prompts", "dev_sd"),
    [
        (1, 1, 0.0),  # one rater: the old intervals had zero width
        (2, 1, 0.0),
        (3, 1, 0.4),  # few raters with their own tastes: "these raters' votes"
        (40, 1, 0.4),  # many raters with their own tastes: the rater population
    ],
)
def test_leaderboard_coverage_in_band_where_the_old_bootstrap_fails(
    raters: int, prompts: int, dev_sd: float
) -> None:
    shape = {"n_configs": 6, "n_raters": raters, "n_prompts": prompts, "dev_sd": dev_sd}
    new = simstudy.leaderboard_coverage(
        np.random.default_rng(100 + raters), studies=80, draws=400, **shape
    )
    old = simstudy.old_bootstrap_coverage(
        np.random.default_rng(200 + raters), studies=25, n_boot=100, **shape
    )
    assert 0.88 <= new.coverage <= 0.99, new.coverage
    assert new.zero_width == 0.0
    assert new.estimand == ("population" if raters >= 10 else "these_raters")
    assert old < 0.85, old


def test_leaderboard_p_best_is_calibrated_and_never_certain_from_one_rater() -> None:
    rng = np.random.default_rng(7)
    p_best, truly = [], []
    for raters, prompts, sd in ((5, 4, 0.0), (40, 1, 0.4), (10, 4, 0.4)):
        res = simstudy.leaderboard_coverage(
            rng, studies=70, n_configs=6, n_raters=raters, n_prompts=prompts, dev_sd=sd, draws=400
        )
        p_best.append(res.p_best)
        truly.append(res.truly_best)
    pb, tb = np.concatenate(p_best), np.concatenate(truly)
    sure = pb >= 0.9
    assert sure.sum() >= 30
    assert tb[sure].mean() >= 0.85
    one = simstudy.leaderboard_coverage(
        rng, studies=60, n_configs=6, n_raters=1, n_prompts=1, dev_sd=0.0, draws=400
    )
    assert one.p_best.max() < 1.0  # 30 votes of one rater never make a certainty


def test_estimand_integrates_rater_tastes_out() -> None:
    rng = np.random.default_rng(1)
    shared = simstudy.make_truth(rng, n_configs=5, n_raters=3, n_prompts=2)
    assert simstudy.estimand(shared, "population") == pytest.approx(shared.strengths, abs=1e-6)
    assert simstudy.estimand(shared, "these_raters") == pytest.approx(shared.strengths, abs=1e-6)
    varied = simstudy.make_truth(rng, n_configs=5, n_raters=3, n_prompts=1, rater_sd=0.5)
    pop = simstudy.estimand(varied, "population")
    on_prompt = varied.strengths + varied.prompt_dev[0]
    on_prompt -= on_prompt.mean()
    # Taste differences between raters flatten the average vote: smaller, same order.
    assert np.linalg.norm(pop) < np.linalg.norm(on_prompt)
    assert np.argsort(pop).tolist() == np.argsort(on_prompt).tolist()


def test_adaptive_choice_decides_sooner_and_stays_on_the_leaders() -> None:
    def run(adaptive: bool, stop: bool, seed: int) -> simstudy.SelectionRun:
        rng = np.random.default_rng(seed)
        truth = simstudy.make_truth(rng, n_configs=8, n_raters=20, n_prompts=2, spread=0.6)
        return simstudy.selection_study(
            rng, truth, adaptive=adaptive, max_votes=1500, stop_at_decision=stop
        )

    adaptive = [run(True, True, s).votes_to_decision or 1500 for s in range(6)]
    uniform = [run(False, True, s).votes_to_decision or 1500 for s in range(6)]
    assert np.median(adaptive) * 1.5 <= np.median(uniform), (adaptive, uniform)
    whole = run(True, False, 99)
    for third in range(3):
        assert whole.top3_votes[third] >= whole.top3_uniform[third], whole
    assert whole.over_target == 0
