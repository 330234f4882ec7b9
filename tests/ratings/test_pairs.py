from __future__ import annotations

import random
from collections import Counter

import numpy as np
import pytest
from django.core.cache import cache

from ratings.models import Comparison, Presentation, Study
from ratings.pairs import (
    Candidate,
    bradley_terry_fit,
    choose_candidate,
    choose_repeat,
    next_plan,
    obvious_winner,
    overlap_contenders,
    pair_candidates,
    rater_progress,
    wants_repeat,
)
from ratings.services.judging import deck_deal, gold_mark_obvious, judgments_record
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


def test_choose_candidate_adaptive_focuses_on_contenders_about_80_percent() -> None:
    pool = [_c(1, 1, 2), _c(2, 1, 3), _c(3, 3, 4), _c(4, 4, 5), _c(5, 2, 5)]
    rng = random.Random(3)
    focused = sum(
        choose_candidate(pool, rng=rng, gold_rate=0, contenders=frozenset({1, 2})).comparison_id
        == 1  # type: ignore[union-attr]
        for _ in range(5000)
    )
    # 80 % focused on the one contender pair, plus its 1-in-5 share of the uniform rest.
    assert focused / 5000 == pytest.approx(0.8 + 0.2 / 5, abs=0.02)


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


def test_bradley_terry_fit_recovers_order_and_is_centred() -> None:
    truth = {1: 1.0, 2: 0.4, 3: 0.0, 4: -1.2}
    rng = np.random.default_rng(5)
    wins: Counter[tuple[int, int]] = Counter()
    for i in truth:
        for j in truth:
            if i < j:
                p = 1 / (1 + np.exp(truth[j] - truth[i]))
                k = int(rng.binomial(400, p))
                wins[(i, j)] += k
                wins[(j, i)] += 400 - k
    theta, se = bradley_terry_fit(wins, list(truth))
    assert sorted(theta, key=theta.__getitem__, reverse=True) == [1, 2, 3, 4]
    assert sum(theta.values()) == pytest.approx(0, abs=1e-6)
    centred_truth = {k: v - np.mean(list(truth.values())) for k, v in truth.items()}
    for item in truth:
        assert theta[item] == pytest.approx(centred_truth[item], abs=4 * se[item])
        assert 0.03 < se[item] < 0.2


def test_overlap_contenders_keeps_close_rivals_and_drops_the_clearly_worse() -> None:
    wins = {(1, 2): 52, (2, 1): 48, (1, 3): 95, (3, 1): 5, (2, 3): 94, (3, 2): 6}
    assert overlap_contenders(wins, [1, 2, 3]) == frozenset({1, 2})
    # Without votes nobody can be ruled out.
    assert overlap_contenders({}, [1, 2, 3]) == frozenset({1, 2, 3})


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


@pytest.mark.django_db
def test_next_plan_adaptive_prefers_contenders() -> None:
    cache.clear()
    study = ready_study(n_configs=4, n_prompts=3, design=Study.Design.ADAPTIVE)
    configs = sorted(study.configs.values_list("pk", flat=True))
    strong = set(configs[:2])
    voter = rater()
    # Votes say the first two configurations beat the other two every time.
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
