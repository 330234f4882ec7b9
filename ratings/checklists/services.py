"""Writes for checklist studies: create, schema, images at launch, the deal, answers, labels."""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.shortcuts import get_object_or_404
from django.utils import timezone

from generation.models import Image, ImageScore, Prompt
from ratings.checklists.items import FieldSpec, Item, image_items, schema_check
from ratings.checklists.models import (
    FIELD_ATTRIBUTES,
    Answer,
    ChecklistAnswer,
    ChecklistField,
    ChecklistImage,
    ChecklistLabel,
    ChecklistShowing,
)
from ratings.checklists.reads import (
    CardRow,
    card_rows,
    rater_showings,
    ready_images,
    schema_rows,
    showing_for_answer,
)
from ratings.models import Study
from ratings.rater_sql import rater_study
from ratings.rater_writes import answered_insert, insert_new, moment_stamp
from ratings.services.judging import NotYours, screen_state
from ratings.services.studies import rows_insert_missing, study_create, study_update

#: The one criterion a checklist study carries (studies need one; the items are the questions).
CHECKLIST_CRITERIA = (("checklist", "Checklist", "Does the image show each item of its prompt?"),)
#: ImageScore metric under which a labeller's adherence fraction of an image is stored.
LABEL_METRIC_PREFIX = "checklist:"


def checklist_study(study_id: int) -> Study:
    """A checklist study by id, for researchers; 404 for any other id or kind."""
    return get_object_or_404(Study, pk=study_id, kind=Study.Kind.CHECKLIST)


def rater_checklist(*, user: Any, study_id: int) -> Study | None:
    """The checklist study `user` may answer (open, or closed to read their record), or None."""
    study = rater_study(user=user, study_id=study_id, closed_too=True)
    return study if study is not None and study.kind == Study.Kind.CHECKLIST else None


def checklist_label_enqueue(*, study: Study, labeller: str) -> None:
    """Have `labeller` answer the study's checklist on a render worker, after commit."""
    from ratings.tasks import label_checklist

    transaction.on_commit(lambda: label_checklist.delay(study.pk, labeller))


def checklist_study_create(*, fields: Sequence[FieldSpec] = (), **study: Any) -> Study:
    """A draft checklist study with its schema, all or nothing: `study` holds
    ratings.services.studies.study_create's arguments (name, prompts, configs, …); the
    criteria and kind are the checklist's. Not safe to run twice (each run is a new study).
    Bad fields raise a ValidationError on "schema"."""
    schema_check(fields)
    with transaction.atomic():
        made = study_create(criteria=CHECKLIST_CRITERIA, kind=Study.Kind.CHECKLIST, **study)
        checklist_fields_set(study=made, fields=fields)
    return made


def checklist_study_update(*, study: Study, fields: Sequence[FieldSpec], **changes: Any) -> Study:
    """Edit a checklist study and its schema, all or nothing. Safe to run twice. What decides
    the images is fixed once launched (ratings.services.studies.study_update says so per
    field); the schema once raters have answered."""
    with transaction.atomic():
        study_update(study=study, **changes)
        checklist_fields_set(study=study, fields=fields)
    return study


def checklist_fields_set(*, study: Study, fields: Sequence[FieldSpec]) -> None:
    """Replace the study's schema. Safe to run twice. Fixed once a rater has answered."""
    schema_check(fields)
    # The schema as study_fields reads it, for the rest of this study instance's life.
    study._checklist_specs = list(fields)  # type: ignore[attr-defined]
    current = [field_spec(f) for f in study.checklist_fields.all()]
    if current == list(fields):
        return
    if ChecklistAnswer.objects.filter(study=study).exists():
        raise ValidationError(
            {"schema": "Raters have answered this checklist: its schema is fixed."},
            code="schema_fixed",
        )
    with transaction.atomic():
        study.checklist_fields.all().delete()
        ChecklistField.objects.bulk_create(
            ChecklistField(
                study=study, attribute=s.attribute, label=s.label, allowed=list(s.allowed), order=i
            )
            for i, s in enumerate(fields)
        )


def field_spec(row: ChecklistField) -> FieldSpec:
    return FieldSpec(row.attribute, row.label, tuple(row.allowed))


def study_fields(study: Study) -> list[FieldSpec]:
    """The study's schema; read once per study instance (a request reads it once)."""
    cached: list[FieldSpec] | None = getattr(study, "_checklist_specs", None)
    if cached is None:
        cached = [
            FieldSpec(a, label, tuple(allowed)) for a, label, allowed in schema_rows(study.pk)
        ]
        study._checklist_specs = cached  # type: ignore[attr-defined]
    return cached


def prompt_attributes(prompt: Prompt) -> dict[str, str]:
    return {a: getattr(prompt, a) for a in FIELD_ATTRIBUTES}


def items_of(prompt: Prompt, fields: Sequence[FieldSpec]) -> list[Item]:
    """The items asked about any image of this prompt in a study with this schema."""
    return image_items(
        key_terms=prompt.key_terms, attributes=prompt_attributes(prompt), fields=fields
    )


def checklist_images_add(*, study: Study, images: Iterable[Image]) -> int:
    """Add images to the study's checklist (at launch). Safe to rerun; returns how many were new."""
    rows = [ChecklistImage(study=study, image=image) for image in images]
    return rows_insert_missing(ChecklistImage, rows, study=study)


# --- The rating path ---------------------------------------------------------------------


@dataclass(frozen=True)
class ChecklistCard:
    """What a rater sees of a showing: the image's display URL, the prompt and the items."""

    pk: int
    url: str
    prompt: str
    key_terms: list[str]
    items: list[Item]


@dataclass(frozen=True)
class ChecklistDeck:
    current: ChecklistCard | None
    upcoming: ChecklistCard | None
    answered: int
    ready: int
    closed: bool = False

    @property
    def state(self) -> str:
        return screen_state(card=self.current, closed=self.closed, ready=self.ready)

    @property
    def percent(self) -> int:
        return round(100 * self.answered / self.ready) if self.ready else 0


def _card(pk: int, row: CardRow, fields: Sequence[FieldSpec]) -> ChecklistCard:
    return ChecklistCard(
        pk=pk,
        url=row.url,
        prompt=row.prompt,
        key_terms=list(row.terms.key_terms),
        items=image_items(
            key_terms=row.terms.key_terms, attributes=row.terms.attributes, fields=fields
        ),
    )


def checklist_deal(*, rater: Any, study: Study) -> ChecklistDeck:
    """The rater's current image (their oldest unanswered showing, else a new one: the ready
    image shown to fewest raters, ties at random) and the one that would follow (its file
    loads behind the current card). A closed study deals nothing. Safe to repeat: a reload
    shows the same image again, its `shown_at` restamped.

    "Fewest shown" counts every rater an image was dealt to, answered or still on screen
    (ChecklistExposure), so raters arriving together spread over the images, and the study's
    target (raters per image) is honoured: no image is dealt to more raters than the target
    while one this rater has not seen is below it. Once every image the rater has not seen
    has reached the target, the deal falls back to fewest shown first and the rater may go
    on: answers past the target sharpen the agreement figures, and a showing abandoned on
    someone's screen would otherwise leave its image short for good. Four queries when a
    new image is dealt (the rater's showings, the ready images with their counts, the new
    showing, both cards); the reads do not grow with the answers given.
    """
    mine = rater_showings(study.pk, rater.pk)
    ready = ready_images(study.pk)
    answered = sum(1 for _, _, done in mine if done)
    if study.status not in Study.DEALING_STATUSES:
        return ChecklistDeck(None, None, answered, len(ready), closed=study.answers_only)
    # The oldest showing not answered yet is shown again, never replaced.
    pending = next(((pk, image_id) for pk, image_id, done in mine if not done), None)
    seen = {image_id for _, image_id, _ in mine}
    draw = random.Random()
    # The two least-shown unseen images (ties drawn at random): this one and the next.
    todo = [
        image_id
        for _, _, image_id in heapq.nsmallest(
            2,
            ((shown, draw.random(), image_id) for image_id, shown in ready if image_id not in seen),
        )
    ]
    if pending is None and not todo:
        return ChecklistDeck(None, None, answered, len(ready))
    current = pending[1] if pending is not None else todo.pop(0)
    following = todo[0] if todo else None
    now = timezone.now()
    if pending is None:
        showing_pk = _showing_new(study=study, rater=rater, image_id=current, at=now)
    else:
        showing_pk = pending[0]
        moment_stamp(model=ChecklistShowing, pk=showing_pk, field="shown_at", at=now)
    rows = card_rows([current] if following is None else [current, following])
    fields = study_fields(study)
    upcoming = _card(0, rows[following], fields) if following is not None else None
    return ChecklistDeck(_card(showing_pk, rows[current], fields), upcoming, answered, len(ready))


def _showing_new(*, study: Study, rater: Any, image_id: int, at: datetime) -> int:
    """A new showing of the image to the rater: one statement (ON CONFLICT DO NOTHING, no
    savepoint). A second tab racing this one meets the unique constraint and takes the row
    the other made."""
    made = insert_new(
        [ChecklistShowing(study_id=study.pk, rater_id=rater.pk, image_id=image_id, shown_at=at)],
        key="image_id",
    )
    if made:
        return made[0].pk
    return ChecklistShowing.objects.get(study=study, rater=rater, image_id=image_id).pk


#: What a rater is told when a showing's answers were recorded before.
ANSWERS_ALREADY_RECORDED = "Already recorded: your first answers stand."


@dataclass(frozen=True)
class Recorded:
    showing: ChecklistShowing
    already_recorded: bool


def checklist_answers_record(
    *, rater: Any, study: Study, showing_id: int, answers: dict[str, str]
) -> Recorded:
    """Record a rater's answers to every item of one showing, all or nothing.

    Safe to run twice: a showing already answered records nothing again (the database's
    unique rater × image × item decides a race). The response time is the server's: from the
    card's `shown_at` to now. A showing not issued to this rater in this study raises NotYours;
    a missing or unknown answer a ValidationError naming the items.

    Three statements (two on PostgreSQL): the showing, locked, read with its prompt and the
    study's schema; the answers inserted (ON CONFLICT DO NOTHING: no savepoint) with the
    showing's `answered_at` stamped in the same statement on PostgreSQL, in a second one
    elsewhere. Inside a caller's transaction (the rating page: the answers and the next deal
    commit together) it joins it without a savepoint: every refusal is raised before the
    first write, as in ratings.services.judging.judgments_record.
    """
    joined = transaction.get_connection().in_atomic_block
    with nullcontext() if joined else transaction.atomic():
        found = showing_for_answer(showing_id=showing_id, rater_id=rater.pk, study_id=study.pk)
        if found is None:
            raise NotYours()
        row, fields = found
        # Read with the showing: the deal that follows in this transaction reads it no more.
        study._checklist_specs = fields  # type: ignore[attr-defined]
        showing = ChecklistShowing(
            id=showing_id,
            study_id=study.pk,
            rater_id=rater.pk,
            image_id=row.image_id,
            shown_at=row.shown_at,
            answered_at=row.answered_at,
        )
        if row.answered_at is not None:
            return Recorded(showing, True)
        items = image_items(
            key_terms=row.prompt.key_terms, attributes=row.prompt.attributes, fields=fields
        )
        allowed = set(Answer.values)
        bad = [i.label for i in items if answers.get(i.key) not in allowed]
        if bad:
            raise ValidationError(
                f"Answer every item with yes, no or can't tell first: {', '.join(bad)}.",
                code="checklist_incomplete",
            )
        unknown = sorted(set(answers) - {i.key for i in items})
        if unknown:
            raise ValidationError(
                f"These items are not on this image's checklist: {', '.join(unknown)}.",
                code="checklist_unknown",
            )
        now = timezone.now()
        ms = max(0, round((now - row.shown_at).total_seconds() * 1000))
        rows = [
            ChecklistAnswer(
                showing_id=showing_id,
                study_id=study.pk,
                image_id=row.image_id,
                rater_id=rater.pk,
                item=i.key,
                answer=answers[i.key],
                response_ms=ms,
            )
            for i in items
        ]
        answered_insert(
            rows, key="item", shown=ChecklistShowing, shown_id=showing_id, at=now, all_in=False
        )
        showing.answered_at = now
    return Recorded(showing, False)


# --- Automatic labellers -----------------------------------------------------------------


def label_question(item: Item) -> tuple[str, tuple[str, ...]]:
    """What a zero-shot labeller compares for an item: the text that means "yes", and the
    texts it must beat (a term against the bare photo; a field's value against the others)."""
    if item.kind == "term":
        return f"a photo of {item.expected}", ("a photo",)
    others = tuple(f"{item.label}: {v}" for v in item.options if v != item.expected)
    return f"{item.label}: {item.expected}", others


def checklist_label(*, study: Study, labeller: str) -> int:
    """Have an automatic labeller (a CLIP scorer of LOUPE_SCORERS) answer the checklist of the
    study's rendered images; runs where the model loads (a worker, or a command). Also stores
    each image's fraction of yes as ImageScore `checklist:<labeller>`, a scorer the best-of-N
    rerank can use. Safe to run twice: labelled images are skipped. Returns labels stored."""
    from generation.services.labelling import images_label

    fields = study_fields(study)
    done = set(
        ChecklistLabel.objects.filter(study=study, labeller=labeller).values_list(
            "image_id", flat=True
        )
    )
    images = [
        row.image
        for row in ChecklistImage.objects.filter(
            study=study, image__status=Image.Status.DONE
        ).select_related("image__prompt")
        if row.image_id not in done
    ]
    items = {image.pk: items_of(image.prompt, fields) for image in images}
    answers = images_label(
        labeller=labeller,
        questions={pk: [label_question(i) for i in its] for pk, its in items.items()},
    )
    metric = f"{LABEL_METRIC_PREFIX}{labeller}"
    labels = [
        ChecklistLabel(
            study=study,
            image_id=image_id,
            labeller=labeller,
            item=item.key,
            answer=Answer.YES if yes else Answer.NO,
        )
        for image_id, said in answers.items()
        for item, yes in zip(items[image_id], said, strict=True)
    ]
    scores = [
        ImageScore(
            image_id=image_id,
            metric=metric,
            value=sum(said) / len(said),
            model_path=f"checklist of study {study.pk}",
        )
        for image_id, said in answers.items()
        if said
    ]
    with transaction.atomic():
        ChecklistLabel.objects.bulk_create(labels, ignore_conflicts=True)
        ImageScore.objects.bulk_create(scores, ignore_conflicts=True)
    return len(labels)
