"""The reads behind every checklist answer, compiled once (ratings.statements.CompiledRead:
the ORM builds the SQL once per database, not every answer; prepared on PostgreSQL). Each
returns plain tuples; tests/ratings/test_checklist_services.py holds them to the querysets.

An answer that returns the next image reads: the showing answered, locked, with its prompt
and the study's schema (one query); the rater's showings and the study's ready images with
their exposure counts (ChecklistExposure, kept by triggers: nothing counts showings per
answer); and the cards of the next two images (one query).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from django.db import connection
from django.db.models import Value
from django.db.models.functions import Coalesce

from generation.media import media_url
from generation.models import Image
from ratings.checklists.items import FieldSpec
from ratings.checklists.models import (
    FIELD_ATTRIBUTES,
    ChecklistField,
    ChecklistImage,
    ChecklistShowing,
)
from ratings.rater_sql.deal import is_set
from ratings.rater_sql.vote import column_datetime
from ratings.statements import CompiledRead

_READY = CompiledRead(
    "checklist_ready",
    lambda *, study_id: ChecklistImage.objects.filter(
        study_id=study_id, image__status=Image.Status.DONE
    )
    .order_by("id")
    .values_list("image_id", Coalesce("exposure__shown", Value(0))),
    {"study_id": -910001},
)
_MINE = CompiledRead(
    "checklist_mine",
    lambda *, study_id, rater_id: ChecklistShowing.objects.filter(
        study_id=study_id, rater_id=rater_id
    )
    .order_by("id")
    .values_list("id", "image_id", is_set("answered_at")),
    {"study_id": -910011, "rater_id": -910012},
)
_FIELDS = CompiledRead(
    "checklist_fields",
    lambda *, study_id: ChecklistField.objects.filter(study_id=study_id)
    .order_by("order", "id")
    .values_list("attribute", "label", "allowed"),
    {"study_id": -910031},
)
_SCHEMA = ("attribute", "label", "allowed")
_SHOWING = CompiledRead(
    "checklist_showing_for_answer",
    lambda *, showing_id, rater_id, study_id: ChecklistShowing.objects.filter(
        id=showing_id, rater_id=rater_id, study_id=study_id
    )
    .order_by("study__checklist_fields__order", "study__checklist_fields__id")
    .values_list(
        "image_id",
        "shown_at",
        "answered_at",
        "image__prompt__key_terms",
        *(f"image__prompt__{a}" for a in FIELD_ATTRIBUTES),
        *(f"study__checklist_fields__{f}" for f in _SCHEMA),
    ),  # fmt: skip
    {"showing_id": -910041, "rater_id": -910042, "study_id": -910043},
    # Only the showing's row is locked: locking the joined image, prompt and schema rows
    # too would deadlock with other raters' commits checking their foreign keys to them.
    suffix=lambda db: (
        f" FOR UPDATE OF {db.ops.quote_name(ChecklistShowing._meta.db_table)}"
        if db.features.has_select_for_update_of
        else ""
    ),
)
_CARDS = CompiledRead(
    "checklist_cards",
    lambda *, first, last: Image.objects.filter(id__in=[first, last])
    .order_by()
    .values_list(
        "id",
        "display_file",
        "prompt__text",
        "prompt__key_terms",
        *(f"prompt__{a}" for a in FIELD_ATTRIBUTES),
    ),  # fmt: skip
    {"first": -910051, "last": -910052},
)


def _rows(read: CompiledRead, **values: Any) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        read.execute(cursor, **values)
        return list(cursor.fetchall())


def _json(raw: Any) -> Any:
    """A JSON column as read raw (text on SQLite and, unparsed, on PostgreSQL)."""
    return json.loads(raw) if isinstance(raw, str | bytes) else raw


def ready_images(study_id: int) -> list[tuple[int, int]]:
    """(image id, raters shown it) of the study's rendered images, in the order they were
    added; the count is ChecklistExposure's."""
    return [(image, shown) for image, shown in _rows(_READY, study_id=study_id)]


def rater_showings(study_id: int, rater_id: int) -> list[tuple[int, int, bool]]:
    """(showing id, image id, answered) of each image shown to the rater, oldest first."""
    return [
        (pk, image, bool(done))
        for pk, image, done in _rows(_MINE, study_id=study_id, rater_id=rater_id)
    ]


def schema_rows(study_id: int) -> list[tuple[str, str, list[str]]]:
    """(attribute, label, allowed values) of each schema field, in order."""
    return [
        (attribute, label, list(_json(allowed)))
        for attribute, label, allowed in _rows(_FIELDS, study_id=study_id)
    ]


class PromptRow(NamedTuple):
    """What the items of an image's checklist are made from: its prompt's key terms and the
    attribute values a schema field may check."""

    key_terms: list[str]
    attributes: dict[str, str]


def _prompt(key_terms: Any, values: Sequence[Any]) -> PromptRow:
    return PromptRow(
        [str(t) for t in _json(key_terms) or []],
        {a: v or "" for a, v in zip(FIELD_ATTRIBUTES, values, strict=True)},
    )


class ShowingRow(NamedTuple):
    image_id: int
    shown_at: datetime
    answered_at: datetime | None
    prompt: PromptRow


def showing_for_answer(
    *, showing_id: int, rater_id: int, study_id: int
) -> tuple[ShowingRow, list[FieldSpec]] | None:
    """The rater's showing in the study, locked until the transaction ends where the database
    can (PostgreSQL), with its prompt and the study's schema: one query. None if it is not
    theirs."""
    rows = _rows(_SHOWING, showing_id=showing_id, rater_id=rater_id, study_id=study_id)
    if not rows:
        return None
    n = len(FIELD_ATTRIBUTES)
    image_id, shown_at, answered_at, terms, *rest = rows[0]
    shown = column_datetime(shown_at)
    assert shown is not None  # the column is NOT NULL
    row = ShowingRow(image_id, shown, column_datetime(answered_at), _prompt(terms, rest[:n]))
    fields = [
        FieldSpec(attribute, label, tuple(_json(allowed)))
        for *_, attribute, label, allowed in rows
        if attribute is not None  # a study without schema fields joins none
    ]
    return row, fields


class CardRow(NamedTuple):
    url: str
    prompt: str
    terms: PromptRow


def card_rows(image_ids: Sequence[int]) -> dict[int, CardRow]:
    """The display URL and prompt of these images (one or two: the deck), by id: one query."""
    if not image_ids:
        return {}
    if len(image_ids) > 2:
        raise ValueError("A deck holds two cards at most.")
    rows = _rows(_CARDS, first=image_ids[0], last=image_ids[-1])
    return {
        pk: CardRow(media_url(file), text, _prompt(terms, rest))
        for pk, file, text, terms, *rest in rows
    }
