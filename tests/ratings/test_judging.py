from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from ratings.models import Comparison, Judgment, Presentation, Study
from ratings.pairs import Plan
from ratings.services import judging
from ratings.services.judging import (
    NotYours,
    deck_deal,
    judgments_record,
    presentation_issue,
    presentation_skip,
    presentation_undo,
)
from tests.factories import rater, ready_study

ROOT = Path(__file__).resolve().parents[2]


def _all(study: Study, side: str) -> dict[str, str]:
    return {c.key: side for c in study.criteria.all()}


def _answer(person: Any, study: Study, side: str = "left", **kwargs: Any) -> Presentation:
    deck = deck_deal(rater=person, study=study)
    assert deck.current is not None
    judgments_record(
        rater=person, presentation_id=deck.current.pk, votes=_all(study, side), **kwargs
    )
    return Presentation.objects.get(pk=deck.current.pk)


@pytest.mark.django_db
def test_deck_deal_shows_the_same_pair_again_until_it_is_answered() -> None:
    study = ready_study(n_configs=3)
    person = rater()
    first = deck_deal(rater=person, study=study)
    again = deck_deal(rater=person, study=study)
    assert first.current is not None and first.upcoming is not None
    assert (again.current, again.upcoming) == (first.current, first.upcoming)
    assert Presentation.objects.filter(rater=person).count() == 2
    assert again.current.shown_at >= first.current.shown_at


@pytest.mark.django_db
def test_judgments_record_maps_sides_to_images() -> None:
    study = ready_study(n_configs=2)
    person = rater()
    deck = deck_deal(rater=person, study=study)
    assert deck.current is not None
    shown = Presentation.objects.get(pk=deck.current.pk)
    keys = [c.key for c in study.criteria.all()]
    result = judgments_record(
        rater=person,
        presentation_id=shown.pk,
        votes={keys[0]: "right", keys[1]: "both_bad"},
        tags=["left:prongs", "right:chain", "left:prongs"],
        response_ms=2500,
    )
    assert len(result.recorded) == 2 and not result.already
    comparison = shown.comparison
    right = (
        comparison.image_b_id if shown.left_id == comparison.image_a_id else comparison.image_a_id
    )
    stored = {j.criterion.key: j for j in Judgment.objects.filter(presentation=shown)}
    assert stored[keys[0]].outcome == "win" and stored[keys[0]].winner_id == right
    assert stored[keys[1]].outcome == "both_bad" and stored[keys[1]].winner_id is None
    left_letter = "a" if shown.left_id == comparison.image_a_id else "b"
    right_letter = "b" if left_letter == "a" else "a"
    assert stored[keys[0]].tags == sorted([f"{left_letter}:prongs", f"{right_letter}:chain"])
    shown.refresh_from_db()
    assert shown.answered_at is not None


@pytest.mark.django_db
def test_judgments_record_twice_keeps_the_first_answer() -> None:
    study = ready_study(n_configs=2)
    person = rater()
    shown = _answer(person, study, "left")
    again = judgments_record(rater=person, presentation_id=shown.pk, votes=_all(study, "right"))
    assert again.already_recorded and not again.recorded
    assert set(Judgment.objects.values_list("winner_id", flat=True)) == {shown.left_id}
    assert Judgment.objects.count() == 2


@pytest.mark.django_db
def test_judgments_record_refuses_presentations_of_other_raters() -> None:
    study = ready_study(n_configs=2)
    owner, intruder = rater(), rater()
    deck = deck_deal(rater=owner, study=study)
    assert deck.current is not None
    with pytest.raises(NotYours):
        judgments_record(rater=intruder, presentation_id=deck.current.pk, votes=_all(study, "left"))
    with pytest.raises(NotYours):
        judgments_record(rater=owner, presentation_id=999999, votes=_all(study, "left"))
    assert not Judgment.objects.exists()


@pytest.mark.django_db
def test_judgments_record_validates_answers() -> None:
    study = ready_study(n_configs=2)
    person = rater()
    deck = deck_deal(rater=person, study=study)
    assert deck.current is not None
    with pytest.raises(ValidationError) as info:
        judgments_record(rater=person, presentation_id=deck.current.pk,
                         votes={"prompt_adherence": "up", "nope": "left"})  # fmt: skip
    assert info.value.message_dict == {
        "prompt_adherence": ["Answer with one of left, right, tie, both_bad (got 'up')."],
        "nope": ["Unknown criterion 'nope' for this study."],
    }
    with pytest.raises(ValidationError, match="Unknown tag 'left:sparkle'"):
        judgments_record(rater=person, presentation_id=deck.current.pk,
                         votes=_all(study, "tie"), tags=["left:sparkle"])  # fmt: skip
    assert not Judgment.objects.exists()


@pytest.mark.django_db
def test_judgments_record_refuses_excluded_raters_even_after_close() -> None:
    study = ready_study(n_configs=3)
    person = rater()
    deck = deck_deal(rater=person, study=study)
    assert deck.current is not None and deck.upcoming is not None
    study.excluded_raters.add(person)
    with pytest.raises(NotYours):
        judgments_record(rater=person, presentation_id=deck.current.pk, votes=_all(study, "tie"))
    Study.objects.filter(pk=study.pk).update(status=Study.Status.CLOSED)
    with pytest.raises(NotYours):
        judgments_record(rater=person, presentation_id=deck.current.pk, votes=_all(study, "tie"))
    assert not Judgment.objects.exists()


@pytest.mark.django_db
def test_judgments_record_flags_fast_votes_but_keeps_them() -> None:
    study = ready_study(n_configs=3, min_response_ms=60_000)
    person = rater()
    _answer(person, study, "tie")
    assert Judgment.objects.count() == 2 and all(j.flagged_fast for j in Judgment.objects.all())


@pytest.mark.django_db
def test_judgments_record_times_from_the_server_and_lets_the_browser_only_lower_it() -> None:
    study = ready_study(n_configs=3, min_response_ms=800)
    person = rater()
    deck = deck_deal(rater=person, study=study)
    assert deck.current is not None and deck.upcoming is not None
    five_ago = timezone.now() - timedelta(seconds=5)
    Presentation.objects.filter(pk__in=[deck.current.pk, deck.upcoming.pk]).update(
        shown_at=five_ago
    )
    judgments_record(rater=person, presentation_id=deck.current.pk, votes=_all(study, "tie"),
                     response_ms=3000)  # fmt: skip
    judgments_record(rater=person, presentation_id=deck.upcoming.pk, votes=_all(study, "tie"),
                     response_ms=10**9)  # fmt: skip
    honest = Judgment.objects.filter(presentation_id=deck.current.pk).first()
    inflated = Judgment.objects.filter(presentation_id=deck.upcoming.pk).first()
    assert honest is not None and honest.response_ms == 3000 and not honest.flagged_fast
    assert inflated is not None and 5000 <= (inflated.response_ms or 0) < 10_000


@pytest.mark.django_db
def test_no_pair_is_shown_twice_and_both_side_orders_occur() -> None:
    study = ready_study(n_configs=5, n_prompts=2)  # 20 comparisons
    person = rater()
    seen: list[int] = []
    left_is_a = set()
    while True:
        deck = deck_deal(rater=person, study=study)
        if deck.current is None:
            break
        shown = Presentation.objects.get(pk=deck.current.pk)
        seen.append(shown.comparison_id)
        left_is_a.add(shown.left_id == shown.comparison.image_a_id)
        judgments_record(rater=person, presentation_id=shown.pk, votes=_all(study, "left"))
    firsts = Presentation.objects.filter(rater=person, is_repeat=False)
    assert firsts.count() == 20
    assert len(set(firsts.values_list("comparison_id", flat=True))) == 20
    assert left_is_a == {True, False}
    repeats = Presentation.objects.filter(rater=person, is_repeat=True)
    assert len(seen) == 20 + repeats.count()


@pytest.mark.django_db
def test_repeat_swaps_sides_and_is_stored_as_repeat(monkeypatch: pytest.MonkeyPatch) -> None:
    study = ready_study(n_configs=3)
    person = rater()
    first = _answer(person, study, "left")
    comparison = Comparison.objects.get(pk=first.comparison_id)
    swapped = (
        comparison.image_b_id if first.left_id == comparison.image_a_id else comparison.image_a_id
    )
    monkeypatch.setattr(
        judging,
        "next_plan",
        lambda **_: Plan(
            comparison_id=comparison.pk,
            is_repeat=True,
            images=(comparison.image_a_id, comparison.image_b_id),
            left_image_id=swapped,
        ),
    )
    repeat = presentation_issue(rater=person, study=study)
    assert repeat is not None and repeat.is_repeat and repeat.left_id == swapped
    judgments_record(rater=person, presentation_id=repeat.pk, votes=_all(study, "right"))
    # Same image chosen both times although the sides were swapped: a consistent rater.
    winners = set(
        Judgment.objects.filter(comparison=comparison).values_list("winner_id", flat=True)
    )
    assert winners == {first.left_id}
    assert Judgment.objects.filter(comparison=comparison, is_repeat=True).count() == 2
    # A second repeat of the same pair is refused by the database; issuing tries again.
    assert presentation_issue(rater=person, study=study) is None


@pytest.mark.django_db
def test_presentation_skip_sets_the_pair_aside_for_good() -> None:
    study = ready_study(n_configs=2)
    person = rater()
    deck = deck_deal(rater=person, study=study)
    assert deck.current is not None and deck.upcoming is None
    presentation_skip(rater=person, presentation_id=deck.current.pk)
    presentation_skip(rater=person, presentation_id=deck.current.pk)  # twice is fine
    assert deck_deal(rater=person, study=study).current is None
    with pytest.raises(ValidationError, match="skipped this pair"):
        judgments_record(rater=person, presentation_id=deck.current.pk, votes=_all(study, "tie"))


@pytest.mark.django_db
def test_presentation_undo_brings_the_last_pair_back() -> None:
    study = ready_study(n_configs=3)
    person = rater()
    shown = _answer(person, study, "left")
    presentation_undo(rater=person, presentation_id=shown.pk)
    assert not Judgment.objects.exists()
    current = deck_deal(rater=person, study=study).current
    assert current is not None and current.pk == shown.pk
    with pytest.raises(ValidationError, match="no answer to undo"):
        presentation_undo(rater=person, presentation_id=shown.pk)


@pytest.mark.django_db
def test_presentation_undo_only_last_and_only_soon() -> None:
    study = ready_study(n_configs=3)
    person = rater()
    older = _answer(person, study, "left")
    newer = _answer(person, study, "right")
    with pytest.raises(ValidationError, match="Only the last vote"):
        presentation_undo(rater=person, presentation_id=older.pk)
    Presentation.objects.filter(pk=newer.pk).update(
        answered_at=timezone.now() - timedelta(seconds=judging.UNDO_SECONDS + 1)
    )
    with pytest.raises(ValidationError, match="Too late"):
        presentation_undo(rater=person, presentation_id=newer.pk)
    assert Judgment.objects.count() == 4


RACER = """
import json, os, sys, time
import django
django.setup()
from django.contrib.auth import get_user_model
from ratings.services.judging import judgments_record
person = get_user_model().objects.get(pk=int(sys.argv[1]))
votes = json.loads(sys.argv[3])
while time.time() < float(sys.argv[4]):
    time.sleep(0.001)
result = judgments_record(rater=person, presentation_id=int(sys.argv[2]), votes=votes)
print(json.dumps({"recorded": len(result.recorded), "already": result.already}))
"""


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_judgments_record_race_between_processes_keeps_one_vote() -> None:
    study = ready_study(n_configs=2)
    person = rater()
    deck = deck_deal(rater=person, study=study)
    assert deck.current is not None
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "evalsite.test_settings",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
    }
    start = time.time() + 3.0
    sides = ["left", "right", "tie", "both_bad", "left", "right"]
    racers = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                RACER,
                str(person.pk),
                str(deck.current.pk),
                json.dumps(_all(study, side)),
                str(start),
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for side in sides
    ]
    results = []
    for proc in racers:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    assert sorted(r["recorded"] for r in results) == [0, 0, 0, 0, 0, 2]
    assert Judgment.objects.count() == 2
    assert len(set(Judgment.objects.values_list("outcome", "winner_id"))) == 1


@pytest.mark.django_db
def test_presentation_issue_random_sides_with_seeded_rng() -> None:
    study = ready_study(n_configs=4)
    lefts = []
    for seed in range(12):
        person = rater()
        shown = presentation_issue(rater=person, study=study, rng=random.Random(seed))
        assert shown is not None
        lefts.append(shown.left_id == shown.comparison.image_a_id)
    assert True in lefts and False in lefts


@pytest.mark.django_db
def test_presentation_ids_out_of_range_are_not_yours_to_vote_skip_or_undo() -> None:
    from ratings.statements import plain_orm

    study = ready_study(n_configs=3)
    person = rater()
    deck_deal(rater=person, study=study)
    huge = 99999999999999999999  # past a BigAutoField's 2**63 - 1
    with pytest.raises(NotYours):
        judgments_record(rater=person, presentation_id=huge, votes=_all(study, "left"))
    with pytest.raises(NotYours):
        judgments_record(rater=person, presentation_id=-huge, votes=_all(study, "left"))
    with plain_orm(), pytest.raises(NotYours):
        judgments_record(rater=person, presentation_id=huge, votes=_all(study, "left"))
    for change in (presentation_skip, presentation_undo):
        with pytest.raises(NotYours):
            change(rater=person, presentation_id=huge)


def _image_outside(judgment: Judgment) -> int:
    """An image of the judgment's study that is not one of its comparison's two."""
    pair = {judgment.comparison.image_a_id, judgment.comparison.image_b_id}
    images = Comparison.objects.filter(study_id=judgment.comparison.study_id)
    ids = set(images.values_list("image_a_id", flat=True))
    ids |= set(images.values_list("image_b_id", flat=True))
    return min(ids - pair)


@pytest.mark.django_db
def test_judgment_clean_refuses_a_winner_outside_its_comparison() -> None:
    study = ready_study(n_configs=3)
    _answer(rater(), study)
    judgment = Judgment.objects.select_related("comparison").first()
    assert judgment is not None
    judgment.full_clean()  # as recorded: one of its two images
    judgment.winner_id = _image_outside(judgment)
    with pytest.raises(ValidationError) as refused:
        judgment.full_clean()
    assert refused.value.message_dict == {
        "winner": ["The winner must be one of the comparison's two images."]
    }


@pytest.mark.django_db
def test_admin_shows_judgments_read_only(client: Any) -> None:
    from django.contrib.auth import get_user_model

    study = ready_study(n_configs=3)
    _answer(rater(), study)
    judgment = Judgment.objects.select_related("comparison").first()
    assert judgment is not None
    winner, outside = judgment.winner_id, _image_outside(judgment)
    client.force_login(get_user_model().objects.create_superuser("root", "root@example.com", "pw"))
    change_url = f"/admin/ratings/judgment/{judgment.pk}/change/"
    page = client.get(change_url)
    assert page.status_code == 200  # a read-only view: no field to type a winner into
    assert 'name="winner"' not in page.content.decode()
    assert client.post(change_url, {"winner": outside, "outcome": "win"}).status_code == 403
    assert client.get("/admin/ratings/judgment/add/").status_code == 403
    judgment.refresh_from_db()
    assert judgment.winner_id == winner
