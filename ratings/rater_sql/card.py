"""The cards of a deck (what a rater sees of a presentation), read in one query; on
PostgreSQL the same statement stamps when the first goes on screen."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import Case, F, When

from generation.media import media_url
from ratings.models import Presentation
from ratings.rater_writes import presentation_stamp, stamp_sql
from ratings.statements import CompiledRead, prepared_execute, using_plain_orm


@dataclass(frozen=True)
class Card:
    """What a rater sees of a presentation: the prompt and two display URLs, left first.

    Nothing here names a configuration or an image id (blind by construction).
    """

    pk: int
    prompt: str
    key_terms: list[str]
    left_url: str
    right_url: str
    #: When it went on screen (the current card of a deal); not part of what the card is.
    shown_at: datetime | None = field(default=None, compare=False)


def _side(left: bool) -> Case:
    a, b = "comparison__image_a__display_file", "comparison__image_b__display_file"
    return Case(
        When(left_id=F("comparison__image_a_id"), then=F(a if left else b)),
        default=F(b if left else a),
    )


_CARDS = CompiledRead(
    "cards",
    lambda *, first, last: Presentation.objects.filter(id__in=[first, last])
    .order_by()
    .values_list(
        "id", "comparison__prompt__text", "comparison__prompt__key_terms", _side(True), _side(False)
    ),  # fmt: skip
    {"first": -900031, "last": -900032},
)


def cards(ids: Sequence[int], *, on_screen_at: datetime | None = None) -> dict[int, Card]:
    """The cards of these presentations (one or two: the deck), by id: one query.

    `on_screen_at`: the first card goes on screen now (its shown_at); on PostgreSQL the same
    statement writes it (a data-modifying WITH), elsewhere an UPDATE goes first.
    """
    if not ids:
        return {}
    if len(ids) > 2:
        raise ValueError("A deck holds two cards at most.")
    if using_plain_orm():
        return _cards_orm(ids, on_screen_at)
    with connection.cursor() as cursor:
        if on_screen_at is None:
            _CARDS.execute(cursor, first=ids[0], last=ids[-1])
        elif connection.vendor == "postgresql":
            at = connection.ops.adapt_datetimefield_value(on_screen_at)
            read, params = _CARDS.params(connection.alias, {"first": ids[0], "last": ids[-1]})
            sql = f"WITH stamp AS ({stamp_sql('shown_at')}) {read}"
            prepared_execute(cursor, "stamp_and_cards", sql, [at, ids[0], *params])
        else:
            presentation_stamp(presentation_id=ids[0], field="shown_at", at=on_screen_at)
            _CARDS.execute(cursor, first=ids[0], last=ids[-1])
        rows = cursor.fetchall()
    return {
        pk: Card(pk, text, _terms(terms), media_url(left), media_url(right))
        for pk, text, terms, left, right in rows
    }


def _cards_orm(ids: Sequence[int], on_screen_at: datetime | None) -> dict[int, Card]:
    if on_screen_at is not None:
        Presentation.objects.filter(pk=ids[0]).update(shown_at=on_screen_at)
    found = Presentation.objects.select_related(
        "comparison__prompt", "comparison__image_a", "comparison__image_b"
    ).filter(pk__in=ids)
    made = {}
    for p in found:
        c = p.comparison
        left, right = (
            (c.image_a, c.image_b) if p.left_id == c.image_a_id else (c.image_b, c.image_a)
        )
        made[p.pk] = Card(
            p.pk,
            c.prompt.text,
            _terms(c.prompt.key_terms),
            media_url(left.display_file),
            media_url(right.display_file),
        )
    return made


def _terms(raw: Any) -> list[str]:
    value = json.loads(raw) if isinstance(raw, str | bytes) else raw
    return [str(t) for t in value or []]
