from __future__ import annotations

import random
from collections import Counter

import numpy as np
import pytest
from django.contrib.auth.models import User
from django.core.cache import cache

from ratings.analysis import PairRecord, leaderboard_uncertainty
from ratings.models import Comparison, Presentation, Study
from ratings.pairs import (
    Candidate,
    choose_candidate,
    choose_repeat,
    next_plan,
    obvious_winner,
    pair_candidates,
    study_pair_weights,
    top_two_weights,
    wants_repeat,
)
from ratings.progress import rater_progress
from ratings.services.gold import gold_mark_obvious
from ratings.services.judging import deck_deal, judgments_record
from tests.factories import make_config, rater, ready_study


def _c(cid: int, a: int, b: int, shown: int = 0, gold: bool = False) -> Candidate:
    return Candidate(comparison_id=cid, config_a=a, config_b=b, shown=shown, is_gold=gold)


def test_choose_candidate_fewest_shown_first() -> None:
    pool = [_c(1, 1, 2, shown=3), _c(2, 1, 3, shown=1), _c(3, 2, 3, shown=1), _c(4, 3, 4, shown=2)]
    picks = Counter(
        choose_candidate(pool, rng=random.Random(seed), gold_rate=0).comparison_id  # type: ignore[union-attr]
        for seed in range(200)
    )
    assert set(picks) == {2, 3}
    assert min(picks.values()) > 60  # ties are broken at random, not by id


def test_choose_candidate_mixes_gold_at_the_study_rate() -> None:
    pool = [_c(i, 1, 2) for i in range(1, 20)] + [_c(100, 1, 3, gold=True)]
    rng = random.Random(7)
    golds = sum(choose_candidate(pool, rng=rng, gold_rate=0.2).is_gold for _ in range(4000))  # type: ignore[union-attr]
    assert golds / 4000 == pytest.approx(0.2, abs=0.02)


def test_choose_candidate_gold_when_nothing_else_is_left() -> None:
    only_gold = [_c(5, 1, 2, gold=True)]
    assert choose_candidate(only_gold, rng=random.Random(1), gold_rate=0).comparison_id == 5  # type: ignore[union-attr]
    assert choose_candidate([], rng=random.Random(1), gold_rate=0.1) is None


def test_choose_candidate_adaptive_follows_the_pair_weights() -> None:
    pool = [_c(1, 1, 2), _c(2, 2, 1, shown=1), _c(3, 1, 3), _c(4, 4, 5), _c(5, 2, 5)]
    weights = {(1, 2): 0.75, (1, 3): 0.25}
    rng = random.Random(3)
    picks = Counter(
        choose_candidate(
            pool, rng=rng, gold_rate=0, pair_weights=weights, adaptive_share=1.0
        ).comparison_id  # type: ignore[union-attr]
        for _ in range(4000)
    )
    # Pair (1, 2) three times as often as (1, 3); within it the less-shown comparison.
    assert set(picks) == {1, 3}
    assert picks[1] / 4000 == pytest.approx(0.75, abs=0.03)


def test_choose_candidate_adaptive_keeps_an_even_share() -> None:
    pool = [_c(1, 1, 2), _c(2, 1, 3), _c(3, 3, 4), _c(4, 4, 5), _c(5, 2, 5)]
    rng = random.Random(4)
    steered = sum(
        choose_candidate(pool, rng=rng, gold_rate=0, pair_weights={(1, 2): 1.0}).comparison_id == 1  # type: ignore[union-attr]
        for _ in range(5000)
    )
    # 90 % steered to the one weighted pair, plus its 1-in-5 share of the even rest.
    assert steered / 5000 == pytest.approx(0.9 + 0.1 / 5, abs=0.02)


def test_choose_candidate_adaptive_falls_back_when_weighted_pairs_are_used_up() -> None:
    # The rater has judged every comparison of the weighted pair: the choice stays useful
    # (next weighted pair) or, with none left, fills evenly.
    pool = [_c(3, 1, 3, shown=4), _c(4, 4, 5, shown=2), _c(5, 2, 5, shown=9)]
    weights = {(1, 2): 0.9, (1, 3): 0.1}
    got = choose_candidate(
        pool, rng=random.Random(1), gold_rate=0, pair_weights=weights, adaptive_share=1.0
    )
    assert got is not None and got.comparison_id == 3
    got = choose_candidate(
        pool[1:], rng=random.Random(1), gold_rate=0, pair_weights=weights, adaptive_share=1.0
    )
    assert got is not None and got.comparison_id == 4  # fewest shown


def test_top_two_weights_put_the_votes_on_the_close_leaders() -> None:
    # Items 0 and 1 are close and far above 2 and 3.
    records = [PairRecord(0, 1, r, 0, 6, 5, 0) for r in range(3)]
    records += [PairRecord(a, b, r, 0, 10, 1, 0) for a in (0, 1) for b in (2, 3) for r in range(3)]
    records += [PairRecord(2, 3, r, 0, 5, 5, 0) for r in range(3)]
    fit = leaderboard_uncertainty(4, records)
    weights = top_two_weights(fit, [10, 11, 12, 13], rng=np.random.default_rng(0))
    assert weights[(10, 11)] > 0.95
    assert sum(weights.values()) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="ids must name the fit's 4 items"):
        top_two_weights(fit, [1, 2], rng=np.random.default_rng(0))


def test_choose_candidate_rejects_bad_rates() -> None:
    with pytest.raises(ValueError, match="gold_rate must be between 0 and 1"):
        choose_candidate([_c(1, 1, 2)], rng=random.Random(), gold_rate=1.5)


def test_choose_repeat_rate_and_gap() -> None:
    rng = random.Random(11)
    assert choose_repeat([1, 2, 3], rng=rng) is None  # all within the gap
    coins = sum(wants_repeat(rng=rng) for _ in range(10000))
    assert coins / 10000 == pytest.approx(0.05, abs=0.01)
    chosen = {choose_repeat(list(range(1, 11)), rng=rng) for _ in range(500)}
    assert chosen == set(range(1, 8))  # the last three answered never come straight back
    with pytest.raises(ValueError, match="Repeat rate must be between 0 and 1"):
        wants_repeat(rng=rng, rate=2)


@pytest.mark.django_db
def test_pair_candidates_only_ready_and_unseen() -> None:
    study = ready_study(n_configs=3)
    person = rater()
    first = Comparison.objects.filter(study=study).first()
    assert first is not None
    first.image_b.status = "rendering"
    first.image_b.save()
    ids = {c.comparison_id for c in pair_candidates(study=study, rater=person)}
    assert first.pk not in ids and len(ids) == 1  # the two comparisons not using that image
    shown = next(iter(ids))
    Presentation.objects.create(comparison_id=shown, rater=person, left_id=first.image_a_id)
    assert pair_candidates(study=study, rater=person) == []
    others = pair_candidates(study=study, rater=rater())
    assert [c.shown for c in others] == [1]


def _vote_strong_first(study: Study, voter: User, strong: set[int]) -> None:
    """The voter prefers the `strong` configurations to the others, ties within each side."""
    for comparison in Comparison.objects.filter(study=study).select_related("image_a", "image_b"):
        shown = Presentation.objects.create(
            comparison=comparison, rater=voter, left=comparison.image_a
        )
        a, b = comparison.image_a, comparison.image_b
        side = (
            "tie"
            if (a.config_id in strong) == (b.config_id in strong)
            else ("left" if a.config_id in strong else "right")
        )
        judgments_record(
            rater=voter,
            presentation_id=shown.pk,
            votes={c.key: side for c in study.criteria.all()},
        )


@pytest.mark.django_db
def test_next_plan_adaptive_prefers_the_leaders() -> None:
    cache.clear()
    study = ready_study(n_configs=4, n_prompts=3, design=Study.Design.ADAPTIVE)
    configs = sorted(study.configs.values_list("pk", flat=True))
    strong = set(configs[:2])
    _vote_strong_first(study, rater(), strong)
    newcomer = rater()
    rng = random.Random(2)
    focused = 0
    for _ in range(300):
        plan = next_plan(study=study, rater=newcomer, rng=rng)
        assert plan is not None and not plan.is_repeat
        pair = Comparison.objects.get(pk=plan.comparison_id)
        focused += {pair.image_a.config_id, pair.image_b.config_id} == strong
    # 3 of 18 pairs are strong-vs-strong: uniform picks would land there about 17 % of the time.
    assert focused / 300 > 0.7


@pytest.mark.django_db
def test_study_pair_weights_ignore_excluded_raters_and_gold() -> None:
    cache.clear()
    study = ready_study(n_configs=4, n_prompts=3, design=Study.Design.ADAPTIVE)
    configs = sorted(study.configs.values_list("pk", flat=True))
    outsider = rater()
    _vote_strong_first(study, outsider, set(configs[:2]))
    weights = study_pair_weights(study=study)
    assert weights is not None and max(weights, key=weights.__getitem__) == tuple(configs[:2])
    # Excluded, the outsider's votes no longer steer the choice: nothing counts.
    study.excluded_raters.add(outsider)
    cache.clear()
    assert study_pair_weights(study=study) is None
    # Gold pairs count for rater quality only, never for the model.
    Comparison.objects.filter(study=study).update(is_gold=True)
    study.excluded_raters.clear()
    cache.clear()
    assert study_pair_weights(study=study) is None


@pytest.mark.django_db
def test_rater_progress_counts_answered_and_skipped() -> None:
    study = ready_study(n_configs=3)
    person = rater()
    assert rater_progress(study=study, rater=person).ready == 3
    deck = deck_deal(rater=person, study=study)
    assert deck.current is not None
    judgments_record(
        rater=person,
        presentation_id=deck.current.pk,
        votes={c.key: "tie" for c in study.criteria.all()},
    )
    progress = rater_progress(study=study, rater=person)
    assert (progress.judged, progress.remaining, progress.percent) == (1, 2, 33)


def test_obvious_winner_only_for_far_apart_steps_with_all_else_equal() -> None:
    base = {"sampler": "euler_a", "cfg": 7.0, "steps": 5}
    assert obvious_winner(base, {**base, "steps": 50}) == "b"
    assert obvious_winner({**base, "steps": 40}, base) == "a"
    assert obvious_winner(base, {**base, "steps": 20}) is None  # not far enough apart
    assert obvious_winner({**base, "steps": 20}, {**base, "steps": 150}) is None  # both fine
    assert obvious_winner(base, {**base, "steps": 50, "cfg": 9.0}) is None  # confounded


@pytest.mark.django_db
def test_gold_mark_obvious_marks_once_with_the_high_step_winner() -> None:
    configs = [make_config(steps=5, name="few"), make_config(steps=50, name="many"),
               make_config(steps=50, sampler="ddim", name="other")]  # fmt: skip
    study = ready_study(configs=configs)
    assert gold_mark_obvious(study=study) == 1
    assert gold_mark_obvious(study=study) == 0
    gold = Comparison.objects.get(study=study, is_gold=True)
    assert gold.gold_winner is not None and gold.gold_winner.config.name == "many"


def test_choose_candidate_adaptive_even_share_fills_to_the_target_then_picks_at_random() -> None:
    below = [_c(1, 1, 2, shown=5), _c(2, 3, 4, shown=4), _c(3, 5, 6, shown=2)]
    rng = random.Random(5)
    got = {
        choose_candidate(below, rng=rng, gold_rate=0, pair_weights={}, target=5).comparison_id  # type: ignore[union-attr]
        for _ in range(200)
    }
    assert got == {3}  # the fewest below the target first
    full = [_c(1, 1, 2, shown=9), _c(2, 3, 4, shown=5), _c(3, 5, 6, shown=6)]
    picks = Counter(
        choose_candidate(full, rng=rng, gold_rate=0, pair_weights={}, target=5).comparison_id  # type: ignore[union-attr]
        for _ in range(3000)
    )
    # Everything at the target: at random, so the most-judged (the leaders') pairs still come.
    assert min(picks.values()) > 850
