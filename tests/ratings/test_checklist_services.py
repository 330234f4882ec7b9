"""Checklist studies: schema, launch, the deal, answers, results (services and selectors)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from generation.models import Image
from ratings.checklists.items import FieldSpec, image_items, schema_parse
from ratings.checklists.models import ChecklistAnswer, ChecklistImage, ChecklistShowing
from ratings.checklists.results import checklist_results
from ratings.checklists.services import (
    checklist_answers_record,
    checklist_deal,
    checklist_study_create,
    items_of,
)
from ratings.models import Study
from ratings.selectors import study_images
from ratings.services.judging import NotYours
from ratings.services.studies import study_launch
from tests.factories import (
    PromptFactory,
    make_config,
    rater,
    ready_checklist_study,
    ready_study,
    researcher,
    vote,
)

pytestmark = pytest.mark.django_db
METAL = FieldSpec("material", "Metal", ("yellow gold", "white gold", "platinum"))


def _answer_all(user: Any, study: Study, value: str = "yes") -> int:
    deck = checklist_deal(rater=user, study=study)
    assert deck.current is not None
    checklist_answers_record(
        rater=user,
        study=study,
        showing_id=deck.current.pk,
        answers={i.key: value for i in deck.current.items},
    )
    return deck.current.pk


def test_image_items_terms_then_stated_fields_only() -> None:
    items = image_items(
        key_terms=["Channel-set", "diamond  band", "channel-set"],
        attributes={"material": "Platinum", "background": "velvet"},
        fields=[METAL, FieldSpec("background", "Background", ("white", "marble"))],
    )
    assert [i.key for i in items] == ["term:channel-set", "term:diamond band", "field:material"]
    assert items[2].question == "Metal: platinum?"
    assert items[2].expected == "platinum"  # the allowed spelling


def test_schema_parse_reads_labels_and_names_each_bad_line() -> None:
    specs = schema_parse("Metal (material): yellow gold, platinum\n\nstyle: minimal, ornate")
    assert specs == [
        FieldSpec("material", "Metal", ("yellow gold", "platinum")),
        FieldSpec("style", "Style", ("minimal", "ornate")),
    ]
    with pytest.raises(ValidationError) as error:
        schema_parse("Metal (metal): gold, silver\nstyle: minimal\nno colon here")
    messages = error.value.message_dict["schema"]
    assert any("Line 1" in m and "'metal' is not a prompt attribute" in m for m in messages)
    assert any("Line 2" in m and "at least two allowed values" in m for m in messages)
    assert any("Line 3" in m for m in messages)


def test_checklist_study_create_refuses_a_bad_schema_and_saves_nothing() -> None:
    config = make_config(sampler="euler_a")
    with pytest.raises(ValidationError) as error:
        checklist_study_create(
            name="bad",
            prompts=[PromptFactory()],
            configs=[config],
            fields=[METAL, FieldSpec("material", "Metal again", ("a", "b"))],
        )
    assert "schema" in error.value.message_dict
    assert not Study.objects.filter(name="bad").exists()


def test_launch_makes_every_image_and_no_comparison(monkeypatch: Any) -> None:
    from ratings.services import studies

    monkeypatch.setattr(studies, "_enqueue_rendering", lambda: None)
    configs = [make_config(sampler=s) for s in ("euler_a", "ddim", "heun")]
    study = checklist_study_create(
        name="launch", prompts=[PromptFactory(), PromptFactory()], configs=configs,
        fields=[METAL], seeds_per_prompt=2,
    )  # fmt: skip
    result = study_launch(study=study)
    assert result.images_created == 12
    assert result.comparisons_created == 12  # checklist images
    assert study.comparisons.count() == 0
    assert ChecklistImage.objects.filter(study=study).count() == 12
    assert study_images(study_id=study.pk).count() == 12
    again = study_launch(study=study)  # safe to rerun
    assert (again.images_created, again.comparisons_created) == (0, 0)
    study.refresh_from_db()
    assert study.status == Study.Status.RENDERING


def test_launch_of_a_checklist_needs_one_configuration_only(monkeypatch: Any) -> None:
    from ratings.services import studies

    monkeypatch.setattr(studies, "_enqueue_rendering", lambda: None)
    study = checklist_study_create(
        name="one", prompts=[PromptFactory()], configs=[make_config(sampler="euler_a")],
        seeds_per_prompt=1,
    )  # fmt: skip
    assert study_launch(study=study).images_created == 1


def test_deal_gives_least_answered_images_first_and_keeps_an_unanswered_one() -> None:
    study = ready_checklist_study(n_configs=2, n_prompts=2)  # 4 images
    first, second = rater(), rater()
    shown = _answer_all(first, study)
    answered_image = ChecklistShowing.objects.get(pk=shown).image_id
    deck = checklist_deal(rater=second, study=study)
    assert deck.current is not None and deck.upcoming is not None
    showing = ChecklistShowing.objects.get(pk=deck.current.pk)
    assert showing.image_id != answered_image  # fewest shown first
    assert deck.upcoming.url and deck.upcoming.url != deck.current.url
    again = checklist_deal(rater=second, study=study)  # a reload burns nothing
    assert again.current is not None and again.current.pk == deck.current.pk
    assert (deck.answered, deck.ready) == (0, 4)


def test_deal_stops_when_every_image_is_answered_and_when_closed() -> None:
    study = ready_checklist_study(n_configs=1, n_prompts=2)
    person = rater()
    _answer_all(person, study)
    _answer_all(person, study)
    deck = checklist_deal(rater=person, study=study)
    assert deck.current is None and (deck.answered, deck.ready) == (2, 2)
    other = rater()
    study.status = Study.Status.CLOSED
    assert checklist_deal(rater=other, study=study).current is None


def test_answers_record_all_or_nothing_once_with_server_timing() -> None:
    study = ready_checklist_study(n_configs=1, n_prompts=1)
    person = rater()
    deck = checklist_deal(rater=person, study=study)
    assert deck.current is not None
    keys = [i.key for i in deck.current.items]
    assert keys == ["term:channel-set", "term:diamond band", "field:material", "field:background"]
    with pytest.raises(ValidationError, match="Metal"):
        checklist_answers_record(
            rater=person, study=study, showing_id=deck.current.pk,
            answers={k: "yes" for k in keys if k != "field:material"},
        )  # fmt: skip
    with pytest.raises(ValidationError, match="yes, no or can't tell"):
        checklist_answers_record(
            rater=person, study=study, showing_id=deck.current.pk,
            answers={k: "maybe" for k in keys},
        )  # fmt: skip
    assert not ChecklistAnswer.objects.exists()
    ChecklistShowing.objects.filter(pk=deck.current.pk).update(
        shown_at=timezone.now() - timedelta(seconds=3)
    )
    answers = dict(zip(keys, ["yes", "no", "unsure", "yes"], strict=True))
    first = checklist_answers_record(
        rater=person, study=study, showing_id=deck.current.pk, answers=answers
    )
    assert not first.already_recorded
    stored = ChecklistAnswer.objects.filter(rater=person)
    assert dict(stored.values_list("item", "answer")) == answers
    assert all(2900 <= ms < 60000 for ms in stored.values_list("response_ms", flat=True))
    second = checklist_answers_record(
        rater=person, study=study, showing_id=deck.current.pk, answers=answers
    )
    assert second.already_recorded and stored.count() == 4
    with pytest.raises(NotYours):
        checklist_answers_record(
            rater=rater(), study=study, showing_id=deck.current.pk, answers=answers
        )


def test_database_refuses_a_second_answer_to_the_same_item() -> None:
    study = ready_checklist_study(n_configs=1, n_prompts=1)
    person = rater()
    showing = ChecklistShowing.objects.get(pk=_answer_all(person, study))
    with pytest.raises(IntegrityError), transaction.atomic():
        ChecklistAnswer.objects.create(
            showing=showing, study=study, image_id=showing.image_id, rater=person,
            item="term:channel-set", answer="no",
        )  # fmt: skip


def test_results_count_adherence_per_config_and_item_and_drop_excluded_raters() -> None:
    study = ready_checklist_study(n_configs=2, n_prompts=1)  # one image per config
    images = {
        row.image.config_id: row.image
        for row in ChecklistImage.objects.filter(study=study).select_related("image")
    }
    good, bad = sorted(images)
    people = [rater() for _ in range(4)]
    for n, person in enumerate(people):
        for config, image in images.items():
            showing = ChecklistShowing.objects.create(study=study, rater=person, image=image)
            keys = [i.key for i in items_of(image.prompt, [METAL])]
            value = "yes" if config == good else ("no" if n < 3 else "unsure")
            checklist_answers_record(
                rater=person, study=study, showing_id=showing.pk,
                answers={**{k: value for k in keys}, "field:background": "yes"},
            )  # fmt: skip
    results = checklist_results(study=study)
    assert results.raters == 4 and results.images_answered == 2
    term = results.cells[(good, "term:channel-set")]
    assert (term.yes, term.no, term.rate) == (4, 0, 1.0)
    weak = results.cells[(bad, "term:channel-set")]
    assert (weak.yes, weak.no, weak.unsure, weak.rate) == (0, 3, 1, 0.0)
    assert 0 < weak.high < 0.6
    assert results.alpha["term:channel-set"] == pytest.approx(1.0)
    assert results.ceiling["term:channel-set"].rate == 1.0
    study.excluded_raters.add(people[0])
    assert checklist_results(study=study).raters == 3


def test_results_relate_adherence_to_a_pairwise_study_sharing_the_configs(client: Any) -> None:
    pairwise = ready_study(n_configs=3, n_prompts=2)
    configs = sorted(pairwise.configs.all(), key=lambda c: c.pk)
    rank = {c.pk: i for i, c in enumerate(configs)}  # lower index wins every pair
    adherence = pairwise.criteria.get(key="prompt_adherence")
    for _ in range(4):
        judge = rater()
        for comparison in pairwise.comparisons.select_related("image_a", "image_b"):
            a, b = comparison.image_a.config_id, comparison.image_b.config_id
            vote(comparison, judge, adherence, "a" if rank[a] < rank[b] else "b")
    study = ready_checklist_study(configs=configs, n_prompts=1)
    person = rater()
    while (card := checklist_deal(rater=person, study=study).current) is not None:
        config = ChecklistShowing.objects.get(pk=card.pk).image.config_id
        said = {0: ["yes"] * 4, 1: ["yes", "yes", "no", "no"], 2: ["no"] * 4}[rank[config]]
        checklist_answers_record(
            rater=person,
            study=study,
            showing_id=card.pk,
            answers={i.key: v for i, v in zip(card.items, said, strict=True)},
        )
    results = checklist_results(study=study)
    assert [results.overall(c.pk).rate for c in configs] == [1.0, 0.5, 0.0]  # type: ignore[union-attr]
    (relation,) = results.relations
    assert relation.study_id == pairwise.pk and relation.criterion == "Prompt adherence"
    assert relation.relation.configs == [c.pk for c in configs]
    assert relation.relation.rho == pytest.approx(1.0)
    client.force_login(researcher())
    page = client.get(f"/studies/{study.pk}/checklist/").content.decode()
    assert pairwise.name in page and "<td>1.00" in page


def test_compiled_reads_agree_with_their_querysets() -> None:
    from django.db.models import Count

    from ratings.checklists.models import ChecklistField
    from ratings.checklists.reads import rater_showings, ready_images, schema_rows

    study = ready_checklist_study(n_configs=3, n_prompts=2)
    Image.objects.filter(pk=ChecklistImage.objects.filter(study=study).first().image_id).update(  # type: ignore[union-attr]
        status=Image.Status.PENDING
    )
    people = [rater() for _ in range(3)]
    for n, person in enumerate(people):
        for _ in range(n + 1):
            _answer_all(person, study)
    checklist_deal(rater=people[0], study=study)  # one unanswered showing
    shown = dict(
        ChecklistShowing.objects.filter(study=study)
        .values("image_id")
        .annotate(n=Count("id"))
        .values_list("image_id", "n")
    )
    assert ready_images(study.pk) == [
        (image_id, shown.get(image_id, 0))
        for image_id in ChecklistImage.objects.filter(study=study, image__status="done")
        .order_by("id")
        .values_list("image_id", flat=True)
    ]
    for person in people:
        assert rater_showings(study.pk, person.pk) == [
            (s.pk, s.image_id, s.answered_at is not None)
            for s in ChecklistShowing.objects.filter(study=study, rater=person).order_by("id")
        ]
    # Every showing counts, answered (1 + 2 + 3) or on screen (1), on an image still ready.
    assert sum(n for _, n in ready_images(study.pk)) == 1 + 2 + 3 + 1
    assert schema_rows(study.pk) == [
        (f.attribute, f.label, f.allowed) for f in ChecklistField.objects.filter(study=study)
    ]
