"""The reads behind every checklist answer, compiled once (ratings.statements.CompiledRead:
the ORM builds the SQL once per database, not every answer; prepared on PostgreSQL). Each
returns plain tuples; tests/ratings/test_checklist_services.py holds them to the querysets."""

from __future__ import annotations

import json
from typing import Any

from django.db import connection
from django.db.models import BooleanField, Count, ExpressionWrapper, Q

from generation.models import Image
from ratings.checklists.models import ChecklistField, ChecklistImage, ChecklistShowing
from ratings.statements import CompiledRead

_READY = CompiledRead(
    "checklist_ready",
    lambda *, study_id: ChecklistImage.objects.filter(
        study_id=study_id, image__status=Image.Status.DONE
    )
    .order_by("id")
    .values_list("image_id"),
    {"study_id": -910001},
)
_MINE = CompiledRead(
    "checklist_mine",
    lambda *, study_id, rater_id: ChecklistShowing.objects.filter(
        study_id=study_id, rater_id=rater_id
    )
    .order_by("id")
    .values_list(
        "id",
        "image_id",
        ExpressionWrapper(Q(answered_at__isnull=False), output_field=BooleanField()),
    ),
    {"study_id": -910011, "rater_id": -910012},
)
_ANSWERED = CompiledRead(
    "checklist_answered",
    lambda *, study_id: ChecklistShowing.objects.filter(
        study_id=study_id, answered_at__isnull=False
    )
    .order_by()
    .values_list("image_id")
    .annotate(n=Count("id"))
    .values_list("image_id", "n"),
    {"study_id": -910021},
)
_FIELDS = CompiledRead(
    "checklist_fields",
    lambda *, study_id: ChecklistField.objects.filter(study_id=study_id)
    .order_by("order", "id")
    .values_list("attribute", "label", "allowed"),
    {"study_id": -910031},
)


def _rows(read: CompiledRead, **values: Any) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        read.execute(cursor, **values)
        return list(cursor.fetchall())


def ready_images(study_id: int) -> list[int]:
    """The study's images that are rendered, in the order they were added."""
    return [row[0] for row in _rows(_READY, study_id=study_id)]


def rater_showings(study_id: int, rater_id: int) -> list[tuple[int, int, bool]]:
    """(showing id, image id, answered) of each image shown to the rater, oldest first."""
    return [
        (pk, image, bool(done))
        for pk, image, done in _rows(_MINE, study_id=study_id, rater_id=rater_id)
    ]


def answered_counts(study_id: int) -> dict[int, int]:
    """Image id → how many raters answered it."""
    return {image: n for image, n in _rows(_ANSWERED, study_id=study_id)}


def schema_rows(study_id: int) -> list[tuple[str, str, list[str]]]:
    """(attribute, label, allowed values) of each schema field, in order."""
    return [
        (attribute, label, json.loads(allowed) if isinstance(allowed, str) else list(allowed))
        for attribute, label, allowed in _rows(_FIELDS, study_id=study_id)
    ]
