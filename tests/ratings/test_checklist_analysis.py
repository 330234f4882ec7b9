"""Checklist statistics against simulations with known truth (ratings.analysis.checklist)."""

from __future__ import annotations

import numpy as np
import pytest

from ratings.analysis.checklist import (
    ALL_ITEMS,
    AnswerRow,
    adherence_table,
    item_alpha,
    item_ceiling,
    labeller_agreement,
    rank_relation,
)


def _panel(
    rng: np.random.Generator,
    *,
    truth: np.ndarray,
    accuracy: float,
    raters: int,
    item: str = "term:x",
    config: int = 1,
) -> list[AnswerRow]:
    """Each rater answers each image right with probability `accuracy`."""
    rows = []
    for r in range(raters):
        right = rng.random(len(truth)) < accuracy
        said = np.where(right, truth, ~truth)
        rows += [
            AnswerRow(r, image, config, item, "yes" if s else "no") for image, s in enumerate(said)
        ]
    return rows


@pytest.mark.parametrize(("n", "p"), [(8, 0.7), (40, 0.9), (200, 0.5)])
def test_wilson_interval_of_adherence_covers_the_true_rate_about_95_percent(
    n: int, p: float
) -> None:
    rng = np.random.default_rng(n)
    covered = 0
    reps = 600
    for _ in range(reps):
        yes = rng.random(n) < p
        rows = [AnswerRow(i, i, 1, "term:x", "yes" if y else "no") for i, y in enumerate(yes)]
        cell = next(c for c in adherence_table(rows) if c.item == "term:x")
        covered += cell.low <= p <= cell.high
    assert 0.91 <= covered / reps <= 0.99


def test_adherence_leaves_cant_tell_apart_and_pools_items_per_config() -> None:
    rows = [
        AnswerRow(1, 1, 7, "term:a", "yes"),
        AnswerRow(1, 1, 7, "term:b", "no"),
        AnswerRow(2, 1, 7, "term:a", "unsure"),
        AnswerRow(2, 1, 7, "term:b", "unsure"),
    ]
    cells = {(c.config, c.item): c for c in adherence_table(rows)}
    assert (cells[(7, "term:a")].rate, cells[(7, "term:a")].unsure) == (1.0, 1)
    pooled = cells[(7, ALL_ITEMS)]
    assert (pooled.yes, pooled.no, pooled.unsure, pooled.rate) == (1, 1, 2, 0.5)
    only_unsure = adherence_table([AnswerRow(1, 1, 7, "term:a", "unsure")])
    assert only_unsure[0].rate is None and (only_unsure[0].low, only_unsure[0].high) == (0, 1)


@pytest.mark.parametrize("raters", [3, 12])
def test_alpha_is_one_for_perfect_raters_near_zero_for_coin_flips_and_in_between(
    raters: int,
) -> None:
    rng = np.random.default_rng(raters)
    truth = rng.random(400) < 0.5
    perfect = item_alpha(_panel(rng, truth=truth, accuracy=1.0, raters=raters))["term:x"]
    assert perfect == pytest.approx(1.0)
    coin = item_alpha(_panel(rng, truth=truth, accuracy=0.5, raters=raters))["term:x"]
    assert coin is not None and abs(coin) < 0.06
    # Accuracy a on balanced truth: disagreement 2a(1-a) against 1/2 expected, α ≈ (2a-1)².
    good = item_alpha(_panel(rng, truth=truth, accuracy=0.9, raters=raters))["term:x"]
    assert good == pytest.approx(0.64, abs=0.06)


def test_ceiling_and_labeller_agreement_match_their_expected_values() -> None:
    rng = np.random.default_rng(5)
    truth = rng.random(1500) < 0.6
    rows = _panel(rng, truth=truth, accuracy=0.85, raters=4)
    ceiling = item_ceiling(rows)["term:x"]
    assert ceiling.pairs == 1500 * 6
    assert ceiling.rate == pytest.approx(0.85**2 + 0.15**2, abs=0.015)
    oracle = {(i, "term:x"): "yes" if t else "no" for i, t in enumerate(truth)}
    assert labeller_agreement(rows, oracle)["term:x"].rate == pytest.approx(0.85, abs=0.015)
    contrary = {key: "no" if said == "yes" else "yes" for key, said in oracle.items()}
    assert labeller_agreement(rows, contrary)["term:x"].rate == pytest.approx(0.15, abs=0.015)
    # A labeller answering at random agrees half the time, below the ceiling.
    noise = {(i, "term:x"): "yes" if rng.random() < 0.5 else "no" for i in range(1500)}
    assert labeller_agreement(rows, noise)["term:x"].rate == pytest.approx(0.5, abs=0.02)


def test_rank_relation_finds_the_order_and_needs_three_configs() -> None:
    adherence = {1: 0.9, 2: 0.7, 3: 0.5, 4: 0.2}
    same = rank_relation(adherence, {1: 2.0, 2: 1.0, 3: 0.1, 4: -1.0, 9: 5.0})
    assert same.configs == [1, 2, 3, 4] and same.rho == pytest.approx(1.0)
    reverse = rank_relation(adherence, {1: -2.0, 2: -1.0, 3: 0.0, 4: 1.0})
    assert reverse.rho == pytest.approx(-1.0)
    assert rank_relation({1: 0.5, 2: 0.6}, {1: 0.0, 2: 1.0}).rho is None
    assert rank_relation(adherence, {1: 0.0, 2: 0.0, 3: 0.0}).rho is None
