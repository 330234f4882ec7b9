"""Known answers for the statistics in ratings.analysis (pure: no database)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import spearmanr

from ratings.analysis import (
    FLAG_TESTS,
    FactorObservation,
    PairRecord,
    PairTally,
    RaterVotes,
    binomial_p,
    bradley_terry,
    bradley_terry_batch,
    bt_leaderboard,
    bt_win_probability,
    factor_effects,
    holm,
    krippendorff_alpha_nominal,
    leaderboard_uncertainty,
    leave_one_out_p_values,
    metric_agreement,
    rater_quality,
    votes_needed,
    wilson_interval,
    win_rate_table,
    wins_matrix,
)


@pytest.mark.parametrize(
    ("wins", "n", "low", "high"),
    [
        (5, 8, 0.3057, 0.8632),  # the report's "62.5 %" Euler Ancestral
        (2, 3, 0.2077, 0.9385),  # "66.7 %" 20 steps
        (3, 4, 0.3006, 0.9544),  # "75 %" CFG 9
        (3, 5, 0.2307, 0.8824),  # "60 %" medium compel
        (0, 10, 0.0, 0.2775),
        (10, 10, 0.7225, 1.0),
    ],
)
def test_wilson_interval_known_values(wins: int, n: int, low: float, high: float) -> None:
    got = wilson_interval(wins, n)
    assert got == pytest.approx((low, high), abs=5e-5)


def test_wilson_interval_no_votes_and_bad_input() -> None:
    assert wilson_interval(0, 0) == (0.0, 1.0)
    with pytest.raises(ValueError, match="0 <= wins <= n"):
        wilson_interval(9, 8)


def test_binomial_p_exact_two_sided() -> None:
    assert binomial_p(5, 8) == pytest.approx(0.7265625)  # 186/256
    assert binomial_p(7, 8) == pytest.approx(0.0703125)  # 18/256
    assert binomial_p(8, 8) == pytest.approx(2 / 256)
    assert binomial_p(0, 0) == 1.0


def test_holm_adjusts_and_stays_monotone() -> None:
    got = holm([0.01, 0.04, 0.03, 0.005])
    # sorted: .005×4=.02, .01×3=.03, .03×2=.06, .04×1=.04→max-accumulated .06
    assert got == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.9, 0.8]) == pytest.approx([1.0, 1.0])
    assert holm([]).size == 0


def test_votes_needed_for_sixty_percent() -> None:
    # ((1.95996·0.5 + 0.84162·√0.24) / 0.1)² = 193.8 → 194 decisive votes.
    assert votes_needed(0.6) == 194
    assert votes_needed(0.75) < votes_needed(0.6)
    with pytest.raises(ValueError):
        votes_needed(0.5)


def test_win_rate_table_counts_ties_half_and_labels_confounded_rows() -> None:
    levels = {
        1: {"sampler": "euler_a", "cfg": "7"},
        2: {"sampler": "ddim", "cfg": "7"},
        3: {"sampler": "ddim", "cfg": "9"},
    }
    tallies = [
        PairTally(1, 2, a_wins=5, b_wins=2, ties=1, both_bad=0),  # sampler only
        PairTally(2, 3, a_wins=1, b_wins=3, ties=0, both_bad=1),  # cfg only
        PairTally(1, 3, a_wins=4, b_wins=4, ties=0, both_bad=0),  # both differ
    ]
    rows = {(r.factor, r.level): r for r in win_rate_table(levels, tallies)}
    euler = rows[("sampler", "euler_a")]
    assert (euler.wins, euler.losses, euler.ties, euler.both_bad) == (9, 6, 1, 0)
    assert euler.votes == 16
    assert euler.win_rate == pytest.approx(9.5 / 16)
    assert (euler.ci_low, euler.ci_high) == pytest.approx(wilson_interval(9.5, 16))
    assert euler.p_value == pytest.approx(binomial_p(9, 15))
    assert euler.confounded_share == pytest.approx(8 / 16) and euler.descriptive
    cfg9 = rows[("cfg", "9")]
    assert (cfg9.wins, cfg9.losses, cfg9.both_bad) == (7, 5, 1)
    assert cfg9.win_rate == pytest.approx(7.5 / 13)
    assert cfg9.votes_needed == 194 - 12
    # The two sides of a factor mirror each other.
    cfg7 = rows[("cfg", "7")]
    assert cfg7.wins == cfg9.losses and cfg7.losses == cfg9.wins
    # Two factors of two levels: two contrasts, each row of a factor sharing its p-value.
    assert {r.family for r in rows.values()} == {2}
    assert rows[("sampler", "ddim")].p_value == pytest.approx(euler.p_value)
    adjusted = holm([euler.p_value, cfg9.p_value])
    assert (euler.p_holm, cfg9.p_holm) == pytest.approx(tuple(adjusted))
    assert rows[("sampler", "ddim")].p_holm == euler.p_holm and cfg7.p_holm == cfg9.p_holm


def test_win_rate_table_holm_counts_each_level_of_a_wider_factor() -> None:
    # Sampler has three levels (three contrasts, each level against the rest), CFG two (one).
    levels = {
        1: {"sampler": "euler_a", "cfg": "7"},
        2: {"sampler": "ddim", "cfg": "7"},
        3: {"sampler": "dpmpp_2m", "cfg": "7"},
        4: {"sampler": "euler_a", "cfg": "9"},
    }
    tallies = [
        PairTally(1, 2, a_wins=14, b_wins=2),
        PairTally(1, 3, a_wins=9, b_wins=7),
        PairTally(2, 3, a_wins=3, b_wins=12),
        PairTally(1, 4, a_wins=8, b_wins=9),
    ]
    rows = {(r.factor, r.level): r for r in win_rate_table(levels, tallies)}
    assert {r.family for r in rows.values()} == {4}
    samplers = [rows[("sampler", s)] for s in ("euler_a", "ddim", "dpmpp_2m")]
    raw = [r.p_value for r in samplers] + [rows[("cfg", "7")].p_value]
    expected = holm(raw)
    assert [r.p_holm for r in samplers] == pytest.approx(list(expected[:3]))
    assert rows[("cfg", "7")].p_holm == rows[("cfg", "9")].p_holm == pytest.approx(expected[3])


def test_wins_matrix_and_validation() -> None:
    w = wins_matrix(3, [0, 0, 1, 2], [1, 1, 2, 0], [1, 2, 0.5, 1])
    assert w.tolist() == [[0, 3, 0], [0, 0, 0.5], [1, 0, 0]]
    with pytest.raises(ValueError, match="beat itself"):
        wins_matrix(2, [0], [0])
    with pytest.raises(ValueError, match="lie in"):
        wins_matrix(2, [0], [2])


def test_bradley_terry_two_items_matches_closed_form() -> None:
    # 30 wins to 10: the MLE log-odds is log 3, split ±(log 3)/2 around zero.
    fit = bradley_terry(2, [0, 1], [1, 0], [30, 10], ridge=1e-9)
    assert fit.converged
    assert fit.strengths == pytest.approx([math.log(3) / 2, -math.log(3) / 2], abs=1e-6)
    assert bt_win_probability(fit.strengths)[0, 1] == pytest.approx(0.75, abs=1e-6)


def test_bradley_terry_keeps_winless_items_finite() -> None:
    fit = bradley_terry(3, [0, 0, 1], [1, 2, 2], [5, 5, 5])
    assert fit.converged and np.all(np.isfinite(fit.strengths))
    assert fit.strengths[0] > fit.strengths[1] > fit.strengths[2]
    assert fit.strengths.sum() == pytest.approx(0, abs=1e-9)


def test_bradley_terry_recovers_simulated_strengths() -> None:
    rng = np.random.default_rng(20240601)
    n, votes = 12, 20_000
    true = rng.normal(0, 1, n)
    true -= true.mean()
    i = rng.integers(0, n, votes)
    j = (i + rng.integers(1, n, votes)) % n
    i_wins = rng.random(votes) < 1 / (1 + np.exp(true[j] - true[i]))
    fit = bradley_terry(n, np.where(i_wins, i, j), np.where(i_wins, j, i))
    assert fit.converged
    assert spearmanr(fit.strengths, true).statistic >= 0.95
    assert np.max(np.abs(fit.strengths - true)) < 0.15


def test_bradley_terry_batch_matches_single_fits() -> None:
    a = wins_matrix(3, [0, 1, 2, 0], [1, 2, 0, 2], [4, 3, 1, 2])
    b = wins_matrix(3, [2, 2, 1], [0, 1, 0], [6, 2, 2])
    batch = bradley_terry_batch(np.stack([a, b]))
    assert batch.strengths[0] == pytest.approx(bradley_terry_batch(a[None]).strengths[0])
    assert batch.strengths[1] == pytest.approx(bradley_terry_batch(b[None]).strengths[0])


def _simulated_records(
    rng: np.random.Generator,
    *,
    n: int = 6,
    raters: int = 20,
    prompts: int = 6,
    votes: int = 800,
    spread: float = 0.4,
) -> tuple[np.ndarray, list[PairRecord]]:
    """Votes where raters and prompts each shift the configs' strengths a little."""
    true = rng.normal(0, 0.7, n)
    true -= true.mean()
    by_prompt = rng.normal(0, spread, (prompts, n))
    by_rater = rng.normal(0, spread, (raters, n))
    i = rng.integers(0, n, votes)
    j = (i + rng.integers(1, n, votes)) % n
    r = rng.integers(0, raters, votes)
    p = rng.integers(0, prompts, votes)
    si = true[i] + by_prompt[p, i] + by_rater[r, i]
    sj = true[j] + by_prompt[p, j] + by_rater[r, j]
    i_wins = rng.random(votes) < 1 / (1 + np.exp(sj - si))
    records = [
        PairRecord(int(a), int(b), int(rr), int(pp), float(w), float(not w), 0.0)
        for a, b, rr, pp, w in zip(i, j, r, p, i_wins, strict=True)
    ]
    return true, records


def test_bt_leaderboard_reports_intervals_ranks_and_p_best() -> None:
    rng = np.random.default_rng(7)
    true, records = _simulated_records(rng, votes=1500)
    board = bt_leaderboard(6, records, n_boot=60, rng=np.random.default_rng(1))
    assert np.all(board.ci_low <= board.strengths) and np.all(board.strengths <= board.ci_high)
    assert np.all(board.rank_low <= board.rank) and np.all(board.rank <= board.rank_high)
    assert board.p_best.sum() == pytest.approx(1.0)
    assert int(np.argmax(board.p_best)) == int(np.argmax(true))
    assert board.rank[int(np.argmax(true))] == 1
    assert board.votes.sum() == pytest.approx(2 * 1500)
    again = bt_leaderboard(6, records, n_boot=60, rng=np.random.default_rng(1))
    assert np.array_equal(again.ci_low, board.ci_low)  # a fixed rng gives fixed intervals


def test_bt_leaderboard_one_rater_five_three_split_is_uncertain() -> None:
    # One rater, 5 wins to 3: a sensible nonzero interval, ranks 1–2, P(best) far from 1.
    board = bt_leaderboard(2, [PairRecord(0, 1, 0, 0, 5, 3, 0)], rng=np.random.default_rng(0))
    assert board.estimand == "these_raters" and board.df is None
    assert board.ci_low[0] < 0 < board.strengths[0] < board.ci_high[0]
    assert 0.5 < board.ci_high[0] - board.ci_low[0] < 3.0
    assert (board.rank_low[0], board.rank_high[0]) == (1, 2)
    assert 0.6 < board.p_best[0] < 0.9


def test_leaderboard_uncertainty_population_estimand_from_ten_raters() -> None:
    rng = np.random.default_rng(3)
    few = [PairRecord(0, 1, r, 0, 3, 2, 0) for r in range(9)]
    assert leaderboard_uncertainty(2, few).estimand == "these_raters"
    many = [PairRecord(0, 1, r, 0, 3, 2, 0) for r in range(10)]
    fit = leaderboard_uncertainty(2, many)
    assert fit.estimand == "population" and fit.df == 9 and fit.raters == 10
    assert fit.strengths.sum() == pytest.approx(0, abs=1e-12)
    draws = fit.draws(20_000, rng)
    assert draws.sum(axis=1) == pytest.approx(0, abs=1e-9)  # centred draws
    assert np.std(draws[:, 0]) == pytest.approx(fit.se[0] * np.sqrt(9 / 7), rel=0.05)  # t₉


def _confounded_study(rng: np.random.Generator) -> tuple[dict, list[FactorObservation]]:
    """Euler a is better than DDIM; CFG does nothing, but CFG 9 mostly met DDIM at CFG 7."""
    levels = {
        1: {"sampler": "euler_a", "cfg": "7"},
        2: {"sampler": "euler_a", "cfg": "9"},
        3: {"sampler": "ddim", "cfg": "7"},
        4: {"sampler": "ddim", "cfg": "9"},
    }
    strength = {1: 0.8, 2: 0.8, 3: 0.0, 4: 0.0}
    gamma = 0.3
    plan = {(2, 3): 400, (1, 4): 20, (1, 3): 150, (2, 4): 150, (1, 2): 40, (3, 4): 40}
    observations = []
    for (a, b), votes in plan.items():
        a_left = rng.random(votes) < 0.5
        logit = strength[a] - strength[b] + np.where(a_left, gamma, -gamma)
        a_wins = rng.random(votes) < 1 / (1 + np.exp(-logit))
        for left in (True, False):
            mask = a_left == left
            observations.append(
                FactorObservation(
                    a, b, left, float((a_wins & mask).sum()), float((~a_wins & mask).sum()), 0.0
                )
            )
    return levels, observations


def test_factor_effects_see_through_a_confounded_design() -> None:
    levels, observations = _confounded_study(np.random.default_rng(11))
    tallies = {}
    for o in observations:
        t = tallies.setdefault((o.config_a, o.config_b), [0.0, 0.0])
        t[0] += o.a_wins
        t[1] += o.b_wins
    table = win_rate_table(
        levels, [PairTally(a, b, won, lost) for (a, b), (won, lost) in tallies.items()]
    )
    naive = next(r for r in table if (r.factor, r.level) == ("cfg", "9"))
    assert naive.p_holm < 0.05 and naive.win_rate is not None and naive.win_rate > 0.55
    assert naive.descriptive

    model = factor_effects(levels, observations, reference={"sampler": "euler_a", "cfg": "7"})
    assert model.converged
    by_level = {(c.factor, c.level): c for c in model.coefficients}
    cfg9 = by_level[("cfg", "9")]
    assert cfg9.ci_low < 0 < cfg9.ci_high
    ddim = by_level[("sampler", "ddim")]
    assert ddim.ci_high < 0 and ddim.ci_low < -0.8 < ddim.ci_high
    assert ddim.p_vs_baseline == pytest.approx(1 / (1 + math.exp(-ddim.beta)))
    assert model.position_ci[0] < 0.3 < model.position_ci[1] and model.position_ci[0] > 0
    assert model.reference == {"sampler": "euler_a", "cfg": "7"}
    assert model.votes == 800


def test_factor_effects_reference_defaults_to_most_common_level() -> None:
    levels = {1: {"steps": "20"}, 2: {"steps": "20"}, 3: {"steps": "30"}}
    obs = [FactorObservation(1, 3, True, 3, 1, 0), FactorObservation(2, 3, False, 2, 2, 2)]
    model = factor_effects(levels, obs)
    assert model.reference == {"steps": "20"}
    assert [(c.factor, c.level) for c in model.coefficients] == [("steps", "30")]


def test_krippendorff_alpha_nominal_textbook_example() -> None:
    # Krippendorff (2011), "Computing Krippendorff's alpha-reliability": 4 coders, 12 units,
    # values 1–5 with missing data; nominal α = 0.743.
    nan = np.nan
    coders = np.array(
        [
            [1, 2, 3, 3, 2, 1, 4, 1, 2, nan, nan, nan],
            [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, nan, 3],
            [nan, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, nan],
            [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, nan],
        ]
    )
    counts = np.array([[np.sum(coders[:, u] == v) for v in range(1, 6)] for u in range(12)])
    assert krippendorff_alpha_nominal(counts) == pytest.approx(0.7434, abs=1e-4)


def test_krippendorff_alpha_hand_computed_small_case() -> None:
    # Units: (a, a), (a, b), (b, b). n = 6 pairable values; Do = 2/6 (one disagreeing unit
    # contributes 2·1·1/1 = 2); De = (6·5 − 3·2 − 3·2)/(6·5) = 18/30. α = 1 − (1/3)/(3/5) = 4/9.
    assert krippendorff_alpha_nominal([[2, 0], [1, 1], [0, 2]]) == pytest.approx(4 / 9)
    assert krippendorff_alpha_nominal([[2, 0], [0, 2]]) == pytest.approx(1.0)
    assert krippendorff_alpha_nominal([[2, 0], [3, 0]]) is None  # one category: undefined
    assert krippendorff_alpha_nominal([[1, 0]]) is None  # nothing pairable


def _votes(rater: int, unit: list[int], choice: list[int], **kw: object) -> RaterVotes:
    n = len(unit)
    return RaterVotes(
        rater=rater,
        unit=np.array(unit),
        choice=np.array(choice),
        chose_left=np.asarray(kw.get("left", [True] * n)),
        response_ms=np.asarray(kw.get("ms", [1500.0] * n), dtype=float),
        fast=np.asarray(kw.get("fast", [False] * n)),
        gold_correct=np.asarray(kw.get("gold", [np.nan] * n), dtype=float),
        repeat_pairs=int(kw.get("repeats", 0)),  # type: ignore[call-overload]
        repeat_flips=int(kw.get("flips", 0)),  # type: ignore[call-overload]
    )


def test_rater_quality_figures_and_flags() -> None:
    units = list(range(24))
    # Eight raters who mostly agree (each departs from the consensus on a couple of units),
    # sides balanced, few flips, gold mostly right, none fast.
    panel = [
        _votes(
            r,
            units,
            [1 if (u + r) % 11 == 0 else 0 for u in units],
            left=[(u + r) % 2 == 0 for u in units],
            gold=[1, 1, 1, float(r % 3 != 0)] + [np.nan] * 20,
            repeats=8,
            flips=r % 3,
        )
        for r in range(1, 9)
    ]
    lefty = _votes(
        99,
        units,
        [1] * 24,
        left=[True] * 24,
        ms=[300.0] * 12 + [500.0] * 12,
        fast=[True] * 24,
        gold=[0, 0, 0, 1] + [np.nan] * 20,
        repeats=8,
        flips=7,
    )
    quality = {q.rater: q for q in rater_quality([*panel, lefty])}
    good = quality[1]
    assert good.left_rate == 0.5 and good.median_ms == 1500.0
    assert good.agreement_n == 24 and good.agreement == pytest.approx(22 / 24)
    bad = quality[99]
    assert bad.left_rate == 1.0 and bad.median_ms == 400.0 and bad.fast_share == 1.0
    assert bad.flip_rate == 0.875 and bad.gold_accuracy == 0.25 and bad.gold == 4
    assert bad.agreement is not None and bad.agreement < 0.2
    assert set(bad.flags) == set(FLAG_TESTS)
    for p in (bad.left_p, bad.flip_p, bad.gold_p, bad.agreement_p, bad.fast_p):
        assert p is not None and p < 0.01
    assert all(quality[r].flags == () for r in range(1, 9))


def test_rater_quality_tests_need_a_reference_panel() -> None:
    # With fewer than min_reference other raters nothing is judged: no p-value, no flag.
    raters = [_votes(r, [1, 2], [0, 0], repeats=4, flips=0) for r in (1, 2)]
    raters.append(_votes(3, [1, 2], [1, 1], left=[True, True], repeats=4, flips=4))
    for q in rater_quality(raters):
        assert q.flags == () and q.left_p is None and q.flip_p is None


def test_leave_one_out_p_values_match_binomial_without_spread() -> None:
    # Three reference raters at exactly 5 of 10 each: no spread, so the binomial at the
    # pooled rate (15.5 / 31 = 0.5): P(X ≥ 10 | 10, ½) = 1/1024 for the fourth rater.
    got = leave_one_out_p_values(
        [5, 5, 5, 10], [10, 10, 10, 10], [True, True, True, False], tail="upper"
    )
    assert got[3] == pytest.approx(1 / 1024)
    assert np.isnan(got[0])  # only two others left: below min_reference
    with pytest.raises(ValueError, match="tail"):
        leave_one_out_p_values([1], [2], [True], tail="sideways")


def test_leave_one_out_p_values_widen_with_honest_spread() -> None:
    # The same 14 of 20 is unusual among raters who all sit at 10 of 20, ordinary among
    # raters who spread from 4 to 16: the spread goes into the reference.
    tight = leave_one_out_p_values([10] * 8 + [16], [20] * 9, [True] * 9, tail="upper")[-1]
    loose = leave_one_out_p_values(
        [4, 16, 6, 14, 8, 12, 5, 15, 16], [20] * 9, [True] * 9, tail="upper"
    )[-1]
    assert tight < 0.01 < loose


def test_rater_quality_judges_flips_against_the_panel() -> None:
    # On close pairs everyone flips often: a rater flipping as often as the panel is fine.
    units = list(range(12))
    raters = [_votes(r, units, [r % 2] * 12, repeats=10, flips=5) for r in range(4)]
    assert all("inconsistent" not in q.flags for q in rater_quality(raters))
    raters.append(_votes(9, units, [0] * 12, repeats=10, flips=10))
    flagged = {q.rater: q.flags for q in rater_quality(raters)}
    assert "inconsistent" in flagged[9] and "inconsistent" not in flagged[0]


def test_rater_quality_excluded_rater_is_judged_against_the_panel() -> None:
    panel = [_votes(r, [1, 2], [0, 0]) for r in (1, 2)]
    outsider = _votes(3, [1, 2], [1, 0])
    quality = {q.rater: q for q in rater_quality([*panel, outsider], panel=panel)}
    assert (quality[3].agreement_n, quality[3].agreement) == (2, 0.5)
    assert quality[1].agreement == 1.0  # the outsider's votes do not count for the panel


def test_rater_quality_skips_units_without_a_clear_majority() -> None:
    a = _votes(1, [1, 2], [0, 0])
    b = _votes(2, [1, 2], [1, 0])
    c = _votes(3, [1], [2])
    quality = {q.rater: q for q in rater_quality([a, b, c])}
    # Unit 1: others of rater 1 are {b, tie} — no plurality; unit 2: other says a → agree.
    assert (quality[1].agreement_n, quality[1].agreement) == (1, 1.0)
    assert quality[3].agreement_n == 0 and quality[3].agreement is None


def test_metric_agreement_is_tie_aware() -> None:
    # a>b & human a → 1; a>b & human b → 0; equal scores → ½; human tie → ½.
    assert metric_agreement([2, 2, 1, 5], [1, 1, 1, 0], [0, 1, 0, 2]) == pytest.approx(0.5)
    assert metric_agreement([], [], []) is None
