"""The presentation a vote answers, locked until the vote's transaction ends."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.contrib.auth.models import User
from django.db import connection
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from ratings.models import Comparison, Presentation
from ratings.rater_sql.access import in_model_order
from ratings.statements import CompiledRead, using_plain_orm


def column_datetime(value: Any) -> datetime | None:
    """A datetime column as the ORM would give it (SQLite hands back text or naive UTC)."""
    if value is None:
        return None
    parsed = value if isinstance(value, datetime) else parse_datetime(str(value))
    if parsed is not None and timezone.is_naive(parsed):
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


_PRESENTATION_FIELDS = tuple(f.attname for f in Presentation._meta.concrete_fields)
_COMPARISON_FIELDS = in_model_order(Comparison, {"id", "study_id", "image_a_id", "image_b_id"})


_PRESENTATION = CompiledRead(
    "presentation_for_vote",
    lambda *, presentation_id, rater_id: Presentation.objects.filter(
        id=presentation_id, rater_id=rater_id
    )
    .order_by()
    .values_list(*_PRESENTATION_FIELDS, *(f"comparison__{f}" for f in _COMPARISON_FIELDS)),
    {"presentation_id": -900041, "rater_id": -900042},
    # Locked until the transaction ends (select_for_update compiles only inside one).
    suffix=lambda db: (
        f" FOR UPDATE OF {db.ops.quote_name(Presentation._meta.db_table)}"
        if db.features.has_select_for_update_of
        else ""
    ),
)


def _id_in_range(presentation_id: int) -> bool:
    # What Django's integer lookups do for the ORM's reads (an id out of the column's range
    # matches nothing): a bound parameter has no such check, and the database would refuse it.
    low, high = connection.ops.integer_field_range(Presentation._meta.pk.get_internal_type())
    return low <= presentation_id <= high


def presentation_for_vote(*, rater: User, presentation_id: int) -> Presentation | None:
    """The rater's presentation with its comparison (study and images), locked until the
    transaction ends where the database can (PostgreSQL); None if it is not theirs (an id
    no presentation can have included, as the ORM's reads answer it)."""
    if not _id_in_range(presentation_id):
        return None
    if using_plain_orm():
        return (
            Presentation.objects.select_related("comparison")
            .select_for_update(of=("self",))
            .filter(pk=presentation_id, rater=rater)
            .first()
        )
    with connection.cursor() as cursor:
        _PRESENTATION.execute(cursor, presentation_id=presentation_id, rater_id=rater.pk)
        row = cursor.fetchone()
    if row is None:
        return None
    n = len(_PRESENTATION_FIELDS)
    values = [
        column_datetime(v) if name.endswith("_at") else v
        for name, v in zip(_PRESENTATION_FIELDS, row[:n], strict=True)
    ]
    shown = Presentation.from_db(connection.alias, list(_PRESENTATION_FIELDS), values)
    shown.is_repeat = bool(shown.is_repeat)
    shown.comparison = Comparison.from_db(connection.alias, list(_COMPARISON_FIELDS), row[n:])
    return shown
