"""Writes for checklist studies: create, schema, images at launch, the deal, answers, labels."""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from generation.media import media_url
from generation.models import GenerationConfig, Image, ImageScore, Prompt
from ratings.checklists.items import FieldSpec, Item, image_items, schema_check
from ratings.checklists.models import (
    Answer,
    ChecklistAnswer,
    ChecklistField,
    ChecklistImage,
    ChecklistLabel,
    ChecklistShowing,
)
from ratings.checklists.reads import answered_counts, rater_showings, ready_images, schema_rows
from ratings.models import Study
from ratings.progress import RaterProgress
from ratings.services.judging import NotYours
from ratings.services.studies import study_create, study_update

#: The one criterion a checklist study carries (studies need one; the items are the questions).
CHECKLIST_CRITERIA = (("checklist", "Checklist", "Does the image show each item of its prompt?"),)
#: ImageScore metric under which a labeller's adherence fraction of an image is stored.
LABEL_METRIC_PREFIX = "checklist:"


def checklist_study_create(
    *,
    name: str,
    prompts: Sequence[Prompt],
    configs: Sequence[GenerationConfig],
    fields: Sequence[FieldSpec] = (),
    **extra: Any,
) -> Study:
    """A draft checklist study with its schema, all or nothing. Not safe to run twice (each run
    is a new study). Bad fields raise a ValidationError on "schema"."""
    schema_check(fields)
    with transaction.atomic():
        study = study_create(
            name=name,
            prompts=prompts,
            configs=configs,
            criteria=CHECKLIST_CRITERIA,
            kind=Study.Kind.CHECKLIST,
            **extra,
        )
        checklist_fields_set(study=study, fields=fields)
    return study


def checklist_study_update(*, study: Study, fields: Sequence[FieldSpec], **changes: Any) -> Study:
    """Edit a checklist study and its schema, all or nothing. Safe to run twice. What decides
    the images is fixed once launched (ratings.services.studies.study_update says so per
    field); the schema once raters have answered."""
    with transaction.atomic():
        study_update(study=study, **changes)
        checklist_fields_set(study=study, fields=fields)
    study._checklist_specs = list(fields)  # type: ignore[attr-defined]
    return study


def checklist_fields_set(*, study: Study, fields: Sequence[FieldSpec]) -> None:
    """Replace the study's schema. Safe to run twice. Fixed once a rater has answered."""
    schema_check(fields)
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
    return {
        a: getattr(prompt, a)
        for a in ("category", "material", "setting", "stone", "background", "style")
    }


def items_of(prompt: Prompt, fields: Sequence[FieldSpec]) -> list[Item]:
    """The items asked about any image of this prompt in a study with this schema."""
    return image_items(
        key_terms=prompt.key_terms, attributes=prompt_attributes(prompt), fields=fields
    )


def checklist_images_add(*, study: Study, images: Iterable[Image]) -> int:
    """Add images to the study's checklist (at launch). Safe to rerun; returns how many were new."""
    rows = [ChecklistImage(study=study, image=image) for image in images]
    before = ChecklistImage.objects.filter(study=study).count()
    ChecklistImage.objects.bulk_create(rows, ignore_conflicts=True)
    return ChecklistImage.objects.filter(study=study).count() - before


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

    @property
    def percent(self) -> int:
        return round(100 * self.answered / self.ready) if self.ready else 0


def _card(pk: int, image: Image, fields: Sequence[FieldSpec]) -> ChecklistCard:
    prompt = image.prompt
    return ChecklistCard(
        pk=pk,
        url=media_url(image.display_file),
        prompt=prompt.text,
        key_terms=list(prompt.key_terms),
        items=items_of(prompt, fields),
    )


def checklist_deal(*, rater: Any, study: Study) -> ChecklistDeck:
    """The rater's current image (their oldest unanswered showing, else a new one: the ready
    image answered by fewest raters, ties at random) and the one that would follow (its file
    loads behind the current card). A closed study deals nothing. Safe to repeat: a reload
    shows the same image again, its `shown_at` restamped."""
    ready = ready_images(study.pk)
    mine = rater_showings(study.pk, rater.pk)
    answered = sum(1 for _, _, done in mine if done)
    if study.status != Study.Status.OPEN:
        return ChecklistDeck(None, None, answered, len(ready))
    # The oldest showing not answered yet is shown again, never replaced.
    pending = next(((pk, image_id) for pk, image_id, done in mine if not done), None)
    seen = {image_id for _, image_id, _ in mine}
    todo = [image_id for image_id in ready if image_id not in seen]
    counts = answered_counts(study.pk)
    draw = random.Random()
    todo.sort(key=lambda image_id: (counts.get(image_id, 0), draw.random()))
    if pending is None and not todo:
        return ChecklistDeck(None, None, answered, len(ready))
    current = pending[1] if pending is not None else todo.pop(0)
    following = todo[0] if todo else None
    images = Image.objects.select_related("prompt").in_bulk(
        [current] if following is None else [current, following]
    )
    if pending is None:
        # New to this rater (the image is not among theirs); a second tab racing this one
        # meets the unique constraint and takes the row it made.
        try:
            with transaction.atomic():
                showing_pk = ChecklistShowing.objects.create(
                    study=study, rater=rater, image_id=current
                ).pk
        except IntegrityError:
            showing_pk = ChecklistShowing.objects.get(study=study, rater=rater, image_id=current).pk
    else:
        showing_pk = pending[0]
        ChecklistShowing.objects.filter(pk=showing_pk).update(shown_at=timezone.now())
    fields = study_fields(study)
    upcoming = _card(0, images[following], fields) if following is not None else None
    return ChecklistDeck(_card(showing_pk, images[current], fields), upcoming, answered, len(ready))


def checklist_progress(*, study: Study, rater: Any) -> RaterProgress:
    """What the rater has done in a checklist study, as the rating home page lists it:
    images answered of the images ready."""
    ready = ChecklistImage.objects.filter(study=study, image__status=Image.Status.DONE).count()
    answered = ChecklistShowing.objects.filter(
        study=study, rater=rater, answered_at__isnull=False
    ).count()
    return RaterProgress(study=study, judged=answered, ready=ready)


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
    """
    with transaction.atomic():
        showing = (
            # Only the showing's row: locking the joined image and prompt rows too would
            # deadlock with other raters' commits checking their foreign keys to them.
            ChecklistShowing.objects.select_for_update(of=("self",))
            .filter(pk=showing_id, rater=rater, study=study)
            .select_related("image__prompt")
            .first()
        )
        if showing is None:
            raise NotYours()
        if showing.answered_at is not None:
            return Recorded(showing, True)
        items = items_of(showing.image.prompt, study_fields(study))
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
        ms = max(0, round((now - showing.shown_at).total_seconds() * 1000))
        ChecklistAnswer.objects.bulk_create(
            [
                ChecklistAnswer(
                    showing=showing,
                    study=study,
                    image_id=showing.image_id,
                    rater=rater,
                    item=i.key,
                    answer=answers[i.key],
                    response_ms=ms,
                )
                for i in items
            ],
            ignore_conflicts=True,
        )
        showing.answered_at = now
        showing.save(update_fields=["answered_at"])
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
    stored = 0
    with transaction.atomic():
        for image_id, said in answers.items():
            rows = [
                ChecklistLabel(
                    study=study,
                    image_id=image_id,
                    labeller=labeller,
                    item=item.key,
                    answer=Answer.YES if yes else Answer.NO,
                )
                for item, yes in zip(items[image_id], said, strict=True)
            ]
            ChecklistLabel.objects.bulk_create(rows, ignore_conflicts=True)
            stored += len(rows)
            if said:
                ImageScore.objects.bulk_create(
                    [
                        ImageScore(
                            image_id=image_id,
                            metric=metric,
                            value=sum(said) / len(said),
                            model_path=f"checklist of study {study.pk}",
                        )
                    ],
                    ignore_conflicts=True,
                )
    return stored
