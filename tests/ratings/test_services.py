from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from generation.designs import design_pairs
from generation.models import Image
from ratings.models import Comparison, Judgment, Presentation, Study
from ratings.services.studies import comparison_create, study_launch
from tests.factories import PromptFactory, make_config, make_image, make_study, rater

pytestmark = pytest.mark.django_db


def test_design_pairs_counts() -> None:
    ids = list(range(1, 13))
    assert len(design_pairs(design="all_pairs", config_ids=ids)) == 66
    assert len(design_pairs(design="vs_baseline", config_ids=ids, baseline_id=5)) == 11
    params = {
        1: {"s": "a", "c": 7},
        2: {"s": "b", "c": 7},
        3: {"s": "a", "c": 9},
        4: {"s": "b", "c": 9},
    }
    assert design_pairs(design="one_factor", config_ids=[1, 2, 3, 4], params=params) == [
        (1, 2), (1, 3), (2, 4), (3, 4)
    ]  # fmt: skip


def test_study_launch_creates_images_and_comparisons_once() -> None:
    study = make_study(n_configs=4, n_prompts=2, seeds_per_prompt=3)
    result = study_launch(study=study)
    assert result.images_created == 4 * 2 * 3
    assert result.comparisons_created == 6 * 2 * 3
    again = study_launch(study=study)
    assert again.images_created == 0 and again.comparisons_created == 0
    assert again.images_reused == 24
    assert Image.objects.count() == 24 and Comparison.objects.count() == 36
    study.refresh_from_db()
    assert study.status == Study.Status.RENDERING


def test_study_launch_reuses_images_shared_between_studies() -> None:
    first = make_study(n_configs=3)
    study_launch(study=first)
    second = make_study(n_configs=3, name="second")
    second.prompts.set(first.prompts.all())
    result = study_launch(study=second)
    assert result.images_created == 0 and result.images_reused == 3


def test_study_launch_refuses_incomplete_study_with_reasons() -> None:
    study = make_study(n_configs=1)
    study.prompts.clear()
    with pytest.raises(ValidationError) as info:
        study_launch(study=study)
    assert "The study has no prompts: add at least one." in info.value.messages
    assert "The study needs at least two configurations to compare." in info.value.messages
    assert Image.objects.count() == 0


def test_comparison_create_checks_pairing() -> None:
    study = make_study()
    prompt = PromptFactory()
    a = make_image(config=make_config(sampler="ddim"), prompt=prompt, seed=1)
    b = make_image(config=make_config(sampler="euler"), prompt=prompt, seed=1)
    other_seed = make_image(config=make_config(sampler="heun"), prompt=prompt, seed=2)
    with pytest.raises(ValidationError, match="two different images"):
        comparison_create(study=study, first=a, second=a)
    with pytest.raises(ValidationError, match="share prompt and seed"):
        comparison_create(study=study, first=a, second=other_seed)
    made, created = comparison_create(study=study, first=b, second=a)
    same, created_again = comparison_create(study=study, first=a, second=b)
    assert created and not created_again and made.pk == same.pk
    assert made.image_a_id < made.image_b_id


def test_comparison_images_must_differ_in_database() -> None:
    study = make_study()
    image = make_image()
    with pytest.raises(IntegrityError):
        Comparison.objects.create(
            study=study, prompt=image.prompt, seed=1, image_a=image, image_b=image
        )


def test_judgment_unique_per_rater_comparison_criterion() -> None:
    study = make_study(n_configs=2)
    study_launch(study=study)
    comparison = Comparison.objects.get()
    person = rater()
    shown = Presentation.objects.create(
        comparison=comparison, rater=person, left=comparison.image_a
    )
    criterion = study.criteria.first()
    assert criterion is not None
    Judgment.objects.create(presentation=shown, comparison=comparison, rater=person, criterion=criterion,
                            outcome="win", winner=comparison.image_a)  # fmt: skip
    with pytest.raises(IntegrityError), transaction.atomic():
        Judgment.objects.create(presentation=shown, comparison=comparison, rater=person,
                                criterion=criterion, outcome="tie")  # fmt: skip
    # A swapped-sides repeat is the one allowed second vote.
    Judgment.objects.create(presentation=shown, comparison=comparison, rater=person, criterion=criterion,
                            outcome="tie", is_repeat=True)  # fmt: skip
    with pytest.raises(IntegrityError), transaction.atomic():
        Judgment.objects.create(presentation=shown, comparison=comparison, rater=person,
                                criterion=criterion, outcome="win")  # winner missing  # fmt: skip


def test_study_default_criteria() -> None:
    study = make_study()
    assert [c.question for c in study.criteria.all()] == [
        "Which image better matches the prompt?",
        "Which looks more modern and clean?",
    ]


def test_study_create_names_raters_and_groups_all_or_nothing() -> None:
    from django.contrib.auth.models import Group

    from ratings.services.studies import study_create

    prompts, configs = [PromptFactory()], [make_config(steps=10), make_config(steps=20)]
    person, team = rater(), Group.objects.create(name="panel")
    study = study_create(
        name="named", prompts=prompts, configs=configs, raters=[person], rater_groups=[team]
    )
    assert list(study.raters.all()) == [person] and list(study.rater_groups.all()) == [team]
    assert [c.key for c in study.criteria.all()] == ["prompt_adherence", "modern_aesthetic"]
    twice = [("same", "Same", "One?"), ("same", "Same", "Two?")]
    with pytest.raises(ValidationError) as refused:
        study_create(name="dup", prompts=prompts, configs=configs, criteria=twice, raters=[person])
    assert "criteria" in refused.value.message_dict
    assert not Study.objects.filter(name="dup").exists()


def test_study_create_and_update_strip_instructions_and_refuse_them_past_the_limit() -> None:
    from generation.validation import FREE_TEXT_MAX_CHARS
    from ratings.services.studies import INSTRUCTIONS_TOO_LONG, study_update

    assert (
        INSTRUCTIONS_TOO_LONG == f"Instructions must be at most {FREE_TEXT_MAX_CHARS} characters."
    )
    study = make_study(instructions="  Look at the *metal*.\n\n")
    assert study.instructions == "Look at the *metal*."
    study_update(study=study, instructions="\n" + "x" * FREE_TEXT_MAX_CHARS + "  ")
    study.refresh_from_db()
    assert study.instructions == "x" * FREE_TEXT_MAX_CHARS  # the limit counts stripped text
    with pytest.raises(ValidationError) as refused:
        study_update(study=study, instructions="x" * (FREE_TEXT_MAX_CHARS + 1))
    assert refused.value.message_dict == {"instructions": [INSTRUCTIONS_TOO_LONG]}
    study.refresh_from_db()
    assert study.instructions == "x" * FREE_TEXT_MAX_CHARS
    with pytest.raises(ValidationError) as refused:
        make_study(name="long", instructions="x" * (FREE_TEXT_MAX_CHARS + 1))
    assert refused.value.message_dict == {"instructions": [INSTRUCTIONS_TOO_LONG]}
    assert not Study.objects.filter(name="long").exists()
