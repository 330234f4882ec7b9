"""The checklist deal's counts: ChecklistExposure, kept by triggers on the showings table, is
exactly the count of showings per image whatever writes them; the deal spreads raters
arriving together over the images and deals no image past the study's target while another
is below it. Behaviour, not timing (bench/rate_load.py --checklist times it)."""

from __future__ import annotations

import importlib
from collections import Counter
from typing import Any

import pytest
from django.db import connection
from django.db.models import Count, OuterRef, Subquery

from ratings.checklists.models import ChecklistExposure, ChecklistImage, ChecklistShowing
from ratings.checklists.services import checklist_answers_record, checklist_deal
from ratings.models import Study
from tests.factories import rater, ready_checklist_study

pytestmark = pytest.mark.django_db


def _exposure_is_exact() -> None:
    shows = (
        ChecklistShowing.objects.filter(
            study_id=OuterRef("study_id"), image_id=OuterRef("image_id")
        )
        .order_by()
        .values("study_id")
        .annotate(n=Count("id"))
        .values("n")
    )
    counted = {
        pk: n or 0
        for pk, n in ChecklistImage.objects.annotate(n=Subquery(shows)).values_list("pk", "n")
    }
    kept = dict(ChecklistExposure.objects.values_list("image_id", "shown"))
    assert {pk: kept.get(pk, 0) for pk in counted} == counted
    assert set(kept) <= set(counted)


def _answer(person: Any, study: Study) -> int | None:
    card = checklist_deal(rater=person, study=study).current
    if card is None:
        return None
    checklist_answers_record(
        rater=person,
        study=study,
        showing_id=card.pk,
        answers={i.key: "yes" for i in card.items},  # type: ignore[arg-type]
    )
    return card.pk


def test_exposure_counts_showings_whatever_writes_them() -> None:
    study = ready_checklist_study(n_configs=3, n_prompts=2)
    other = ready_checklist_study(n_configs=2, n_prompts=1)
    people = [rater() for _ in range(4)]
    for person in people:
        _answer(person, study)
        checklist_deal(rater=person, study=study)  # one on screen, not answered
        _answer(person, other)
    _exposure_is_exact()
    assert sum(ChecklistExposure.objects.values_list("shown", flat=True)) == 4 * 2 + 4
    # Answering moves no count: the showing was counted when it was dealt.
    before = dict(ChecklistExposure.objects.values_list("image_id", "shown"))
    for person in people:
        _answer(person, study)
    assert dict(ChecklistExposure.objects.values_list("image_id", "shown")) == before
    # Moved to another image, bulk-updated, deleted, cascaded: still exact.
    moved = ChecklistShowing.objects.filter(rater=people[0], study=study).first()
    assert moved is not None
    spare = (
        ChecklistImage.objects.filter(study=study)
        .exclude(image_id__in=ChecklistShowing.objects.filter(rater=people[0]).values("image_id"))
        .first()
    )
    assert spare is not None
    moved.image_id = spare.image_id
    moved.save()
    _exposure_is_exact()
    ChecklistShowing.objects.filter(rater=people[1], study=other).update(study=study)
    _exposure_is_exact()
    ChecklistShowing.objects.filter(rater=people[2]).first().delete()  # type: ignore[union-attr]
    people[3].delete()  # cascades to the rater's showings
    _exposure_is_exact()
    # The migration's backfill counts the same from the showings alone.
    kept = dict(ChecklistExposure.objects.values_list("image_id", "shown"))
    ChecklistExposure.objects.all().delete()
    with connection.cursor() as cursor:
        cursor.execute(
            importlib.import_module("ratings.migrations.0012_checklist_exposure").BACKFILL
        )
    assert dict(ChecklistExposure.objects.filter(shown__gt=0).values_list("image_id", "shown")) == {
        k: v for k, v in kept.items() if v
    }
    _exposure_is_exact()


def test_raters_arriving_together_are_spread_over_the_images() -> None:
    study = ready_checklist_study(n_configs=4, n_prompts=2)  # 8 images
    people = [rater() for _ in range(8)]
    # Nobody has answered yet: the images on screen count, so eight raters get eight images.
    dealt = [checklist_deal(rater=p, study=study).current for p in people]
    images = [ChecklistShowing.objects.get(pk=c.pk).image_id for c in dealt if c is not None]
    assert len(images) == 8 and len(set(images)) == 8


def test_no_image_goes_past_the_target_while_another_is_below_it() -> None:
    study = ready_checklist_study(n_configs=3, n_prompts=2, target_judgments=2)  # 6 images
    people = [rater() for _ in range(5)]
    images = set(ChecklistImage.objects.filter(study=study).values_list("image_id", flat=True))
    past_target = 0
    for _ in range(4):  # 5 raters × 4 images: 20 showings, past 6 × 2
        for person in people:
            shown = Counter(
                ChecklistShowing.objects.filter(study=study).values_list("image_id", flat=True)
            )
            seen = set(
                ChecklistShowing.objects.filter(study=study, rater=person).values_list(
                    "image_id", flat=True
                )
            )
            fewest = min(shown[i] for i in images - seen)
            pk = _answer(person, study)
            assert pk is not None
            image = ChecklistShowing.objects.get(pk=pk).image_id
            # Dealt an image this rater had not seen, shown to fewest raters: below the
            # target whenever one such image is.
            assert image not in seen and shown[image] == fewest
            past_target += shown[image] >= 2
    # Past the target the deal falls back to fewest shown first: raters go on.
    assert past_target > 0
    per_image = Counter(
        ChecklistShowing.objects.filter(study=study).values_list("image_id", flat=True)
    )
    assert max(per_image.values()) - min(per_image.values()) <= 1
    _exposure_is_exact()
