"""The writes behind every vote: hand-written inserts and stamps (the reads: ratings.rater_sql).

One statement each: colliding rows skipped with ON CONFLICT DO NOTHING (no savepoint, no
aborted transaction), RETURNING the ids, and a vote's `answered_at` stamped in the same
statement on PostgreSQL (a data-modifying WITH). Table and column names come from the models'
_meta; on PostgreSQL the statements run prepared (ratings.statements.prepared_execute).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import Any, TypeVar

from django.db import connection
from django.db.models import ForeignKey, Model

from ratings.models import Judgment, Presentation
from ratings.statements import column, prepared_execute, table

M = TypeVar("M", bound=Model)


@cache
def _insert_sql(model: type[Model], rows: int, key: str) -> str:
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    return (
        f"INSERT INTO {table(model)} ({columns}) VALUES {', '.join([row] * rows)} "
        f"ON CONFLICT DO NOTHING RETURNING id, {column(model, key)}"
    )


def judgments_insert(
    judgments: Sequence[Judgment], *, answered_at: datetime | None = None
) -> list[Judgment]:
    """A presentation's judgments, as insert_new. With `answered_at`, the presentation is
    marked answered then if every one of them went in (answered_insert)."""
    if answered_at is None or not judgments:
        return insert_new(judgments, key="criterion_id")
    return answered_insert(
        judgments,
        key="criterion_id",
        shown=Presentation,
        shown_id=judgments[0].presentation_id,
        at=answered_at,
    )


def answered_insert(
    objs: Sequence[M],
    *,
    key: str,
    shown: type[Model],
    shown_id: int,
    at: datetime,
    all_in: bool = True,
) -> list[M]:
    """Insert a shown item's answers (insert_new) and stamp its `answered_at`: in the same
    statement on PostgreSQL (a data-modifying WITH), in a second one elsewhere. `all_in`: only
    if every one of them went in (a pairwise vote); else always (a checklist showing, whose
    image may have no items)."""
    if not objs or connection.vendor != "postgresql":
        made = insert_new(objs, key=key)
        if not all_in or len(made) == len(objs):
            moment_stamp(model=shown, pk=shown_id, field="answered_at", at=at)
        return made
    sql, params = stamp_sql("answered_at", shown), [adapt_at(at), shown_id]
    if all_in:
        sql, params = f"{sql} AND (SELECT COUNT(*) FROM new_rows) = %s", [*params, len(objs)]
    name = f"answered_{shown._meta.model_name}{'_all' if all_in else ''}"
    return insert_new(objs, key=key, then=(name, sql, params))


def insert_new(
    objs: Sequence[M], *, key: str, then: tuple[str, str, list[Any]] | None = None
) -> list[M]:
    """Insert the objects in one statement, leaving out any that a unique constraint already
    holds (ON CONFLICT DO NOTHING: no savepoint, no aborted transaction). Returns the ones
    inserted, as new instances loaded from the database would be (ids set). `key`: a field whose value tells the objects apart within the call.
    `then`: a statement (name, SQL, params) run in the same one, which may read `new_rows`
    (PostgreSQL only: a data-modifying WITH); the name tells its prepared form apart.
    """
    if not objs:
        return []
    model = type(objs[0])
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    values = [
        value
        for obj in objs
        for value in (f.get_db_prep_save(f.pre_save(obj, True), connection) for f in fields)
    ]
    name = f"insert_{model._meta.db_table}_{len(objs)}"
    sql = _insert_sql(model, len(objs), key)
    if then is not None:
        then_name, then_sql, then_params = then
        name += f"_then_{then_name}"
        sql = (
            f"WITH new_rows AS ({sql}), then_stmt AS ({then_sql}) "
            f"SELECT id, {column(model, key)} FROM new_rows"
        )
        values += then_params
    with connection.cursor() as cursor:
        prepared_execute(cursor, name, sql, values)
        ids = {k: pk for pk, k in cursor.fetchall()}
    # The rows inserted, as the ORM would load them (Model.from_db), with the related objects
    # the caller had set on them.
    names = [f.attname for f in model._meta.concrete_fields]
    related = [f for f in model._meta.concrete_fields if isinstance(f, ForeignKey)]
    made = []
    for obj in objs:
        pk = ids.get(getattr(obj, key))
        if pk is None:
            continue
        row = [
            pk if f.primary_key else getattr(obj, f.attname) for f in model._meta.concrete_fields
        ]
        new = model.from_db(connection.alias, names, row)
        for f in related:
            if f.is_cached(obj):
                setattr(new, f.name, getattr(obj, f.name))
        made.append(new)
    return made


#: The moments a shown item records: on screen from (`shown_at`) and answered (`answered_at`).
MOMENTS = ("shown_at", "answered_at")


@cache
def stamp_sql(field: str, model: type[Model] = Presentation) -> str:
    """Set one moment of a shown item: a pairwise presentation or a checklist showing."""
    if field not in MOMENTS:
        raise ValueError(f"Not a moment of a {model._meta.verbose_name}: {field!r}.")
    return f"UPDATE {table(model)} SET {column(model, field)} = %s WHERE id = %s"


def adapt_at(at: datetime) -> Any:
    """A moment as the database driver takes it in a hand-written statement."""
    return connection.ops.adapt_datetimefield_value(at)


def moment_stamp(*, model: type[Model], pk: int, field: str, at: datetime) -> None:
    """Set one moment (MOMENTS) of one shown item, as one prepared statement."""
    at_value = adapt_at(at)
    with connection.cursor() as cursor:
        name = f"stamp_{model._meta.model_name}_{field}"
        prepared_execute(cursor, name, stamp_sql(field, model), [at_value, pk])


def presentation_stamp(*, presentation_id: int, field: str, at: datetime) -> None:
    """Set one moment of a presentation: shown_at (on screen from now) or answered_at."""
    moment_stamp(model=Presentation, pk=presentation_id, field=field, at=at)
