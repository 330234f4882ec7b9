"""The reads behind every vote: the access check, the locked presentation, the deal, the
cards (the inserts and stamps: ratings.rater_writes).

A vote answers with the next pair, so these run on every vote of every rater. The reads are
querysets compiled once (ratings.statements.CompiledRead: the ORM builds the SQL, not every
vote) whose rows become tuples or, through Model.from_db, model instances; on PostgreSQL they
run as prepared statements (ratings.statements.prepared_execute). The inserts stay
hand-written: one statement each, colliding rows skipped with ON CONFLICT DO NOTHING (no
savepoint), RETURNING the ids, and a vote's `answered_at` stamped in the same statement on
PostgreSQL. Within ratings.statements.plain_orm() the reads run as ordinary querysets instead
(bench/rate_load.py --orm compares the two). tests/ratings/test_rate_perf.py checks the reads
against their ORM twins in ratings.pairs and the query counts per database.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.db import connection
from django.db.models import (
    BooleanField,
    Case,
    Exists,
    ExpressionWrapper,
    F,
    Model,
    OuterRef,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from generation.media import media_url
from generation.models import Image
from ratings.models import Comparison, Criterion, Presentation, Study
from ratings.pairs import Candidate, Shown, rater_shown, ready_pairs
from ratings.rater_writes import presentation_stamp, stamp_sql
from ratings.statements import CompiledRead, prepared_execute, using_plain_orm


def _in_model_order(model: type[Model], wanted: set[str]) -> tuple[str, ...]:
    # Model.from_db takes values in the order of the model's fields.
    return tuple(f.attname for f in model._meta.concrete_fields if f.attname in wanted)


#: What the rating path reads of a study; anything else loads on first use (Django's deferred
#: fields), so the instance is never wrong, only lazier.
_STUDY_FIELDS = _in_model_order(
    Study,
    {"id", "name", "instructions", "status", "design", "gold_rate", "min_response_ms", "kind",
     "target_judgments"},
)  # fmt: skip
_CRITERION_FIELDS = _in_model_order(Criterion, {f.attname for f in Criterion._meta.concrete_fields})


_RATERS = Study.raters.through
_GROUPS = Study.rater_groups.through
_EXCLUDED = Study.excluded_raters.through
_MEMBERS = User.groups.through


def _rater_study_qs(*, study_id: int, status: str, user_id: int) -> QuerySet[Any]:
    # The rule of ratings.selectors.studies_for_rater, with EXISTS in place of its joins.
    return (
        Study.objects.filter(
            Q(Exists(_RATERS.objects.filter(study_id=OuterRef("pk"), user_id=user_id)))
            | Q(
                Exists(
                    _GROUPS.objects.filter(
                        study_id=OuterRef("pk"),
                        group_id__in=_MEMBERS.objects.filter(user_id=user_id).values("group_id"),
                    )
                )
            ),
            ~Exists(_EXCLUDED.objects.filter(study_id=OuterRef("pk"), user_id=user_id)),
            pk=study_id,
            status__in=[Study.Status.OPEN, status],
        )
        .order_by("criteria__order", "criteria__id")
        .values_list(*_STUDY_FIELDS, *(f"criteria__{f}" for f in _CRITERION_FIELDS))
    )


_RATER_STUDY = CompiledRead(
    "rater_study",
    _rater_study_qs,
    {"study_id": -900001, "status": "\x00status", "user_id": -900002},
)


def criteria_of(study: Study) -> list[Criterion]:
    """The study's criteria in order: those rater_study read with it, else a query."""
    found: list[Criterion] | None = getattr(study, "rating_criteria", None)
    return list(study.criteria.all()) if found is None else found


def rater_study(
    *, user: User | AnonymousUser, study_id: int, closed_too: bool = False
) -> Study | None:
    """The study with its criteria if this user may judge it now, else None: one query.

    Same rule as ratings.selectors.studies_for_rater (open; a named rater or in a rater group;
    not excluded). `closed_too`: a closed study the user could judge is returned as well, so
    the rating page can record a vote on a pair issued before the close and say the study
    has closed instead of "not found". The criteria are read with it, so `criteria_of(study)`
    costs nothing afterwards.
    """
    if not user.is_authenticated:
        return None
    if using_plain_orm():
        from ratings.selectors import studies_for_rater

        found = (
            studies_for_rater(user=user, closed_too=closed_too)
            .filter(pk=study_id)
            .prefetch_related("criteria")
            .first()
        )
        if found is not None:
            found.rating_criteria = list(found.criteria.all())  # type: ignore[attr-defined]
        return found
    with connection.cursor() as cursor:
        _RATER_STUDY.execute(
            cursor,
            study_id=study_id,
            status=Study.Status.CLOSED if closed_too else Study.Status.OPEN,
            user_id=user.pk,
        )
        rows = cursor.fetchall()
    if not rows:
        return None
    n = len(_STUDY_FIELDS)
    study = Study.from_db(connection.alias, list(_STUDY_FIELDS), rows[0][:n])
    criteria = []
    for row in rows:
        if row[n] is None:  # a study without criteria (none is made so)
            continue
        criterion = Criterion.from_db(connection.alias, list(_CRITERION_FIELDS), row[n:])
        criterion.study = study
        criteria.append(criterion)
    # Read with the study: criteria_of(study) answers from this list (no query).
    study.rating_criteria = criteria  # type: ignore[attr-defined]
    return study


def _is_set(field: str) -> ExpressionWrapper:
    return ExpressionWrapper(Q(**{f"{field}__isnull": False}), output_field=BooleanField())


_DEAL_SHOWN = CompiledRead(
    "deal_shown",
    lambda *, rater_id, study_id: Presentation.objects.filter(
        rater_id=rater_id, comparison__study_id=study_id
    )
    .order_by("id")
    .values_list(
        "id",
        "comparison_id",
        "is_repeat",
        "left_id",
        _is_set("answered_at"),
        _is_set("skipped_at"),
        "comparison__image_a_id",
        "comparison__image_b_id",
    ),  # fmt: skip
    {"rater_id": -900011, "study_id": -900012},
)

_DEAL_PAIRS = CompiledRead(
    "deal_pairs",
    lambda *, study_id: Comparison.objects.filter(
        study_id=study_id, image_a__status=Image.Status.DONE, image_b__status=Image.Status.DONE
    )
    .order_by("id")
    .values_list(
        "id",
        "image_a__config_id",
        "image_b__config_id",
        Coalesce("exposure__shown", Value(0)),
        "is_gold",
        "image_a_id",
        "image_b_id",
    ),  # fmt: skip
    {"study_id": -900021},
)


@dataclass
class _HeldPairs:
    read_at: float
    pairs: list[Candidate]
    at: dict[int, int]  # comparison id → index in pairs


#: study id → its pairs as last read by this process (LOUPE_DEAL_PAIRS_SECONDS).
_held_pairs: dict[int, _HeldPairs] = {}
_held_lock = threading.Lock()


def _ready_pairs(cursor: Any, study: Study) -> list[Candidate]:
    """The study's ready pairs and their counts, read at most every LOUPE_DEAL_PAIRS_SECONDS.

    A deal reads every pair of the study, the one read that grows with it. Between reads the
    process counts its own first presentations in the held copy (pair_presented); what other
    processes show, and pairs that become ready or gold, arrive with the next read. "Fewest
    first" is a balance, not a guarantee, so counts a second or two old serve it as well.
    """
    ttl = settings.LOUPE_DEAL_PAIRS_SECONDS
    now = time.monotonic()
    held = _held_pairs.get(study.pk)
    if ttl > 0 and held is not None and now - held.read_at < ttl:
        return list(held.pairs)
    _DEAL_PAIRS.execute(cursor, study_id=study.pk)
    pairs = list(map(Candidate._make, cursor.fetchall()))
    if connection.vendor == "sqlite":  # booleans come back as 0 / 1
        pairs = [c._replace(is_gold=bool(c.is_gold)) for c in pairs]
    if ttl > 0:
        with _held_lock:
            if len(_held_pairs) >= 64:
                _held_pairs.clear()
            at = {c.comparison_id: i for i, c in enumerate(pairs)}
            _held_pairs[study.pk] = _HeldPairs(now, list(pairs), at)
    return pairs


def pair_presented(*, study_id: int, comparison_id: int) -> None:
    """This process just showed a pair to a rater for the first time: count it in the held
    copy of the study's pairs, as the database's trigger counts it in PairExposure."""
    held = _held_pairs.get(study_id)
    if held is None:
        return
    with _held_lock:
        i = held.at.get(comparison_id)
        if i is not None:
            pair = held.pairs[i]
            held.pairs[i] = pair._replace(shown=pair.shown + 1)


def deal_state(*, study: Study, rater: User) -> tuple[list[Shown], list[Candidate]]:
    """What a deal reads before choosing: the rater's presentations in the study (oldest
    first, always read afresh) and the study's ready pairs with their first-presentation
    counts (see _ready_pairs). The same lists as ratings.pairs.rater_shown and ready_pairs."""
    if using_plain_orm():
        return rater_shown(study=study, rater=rater), ready_pairs(study=study)
    with connection.cursor() as cursor:
        _DEAL_SHOWN.execute(cursor, rater_id=rater.pk, study_id=study.pk)
        shown = list(map(Shown._make, cursor.fetchall()))
        pairs = _ready_pairs(cursor, study)
    if connection.vendor == "sqlite":  # booleans come back as 0 / 1
        shown = [s._replace(is_repeat=bool(s.is_repeat), answered=bool(s.answered),
                            skipped=bool(s.skipped)) for s in shown]  # fmt: skip
    return shown, pairs


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


def _datetime(value: Any) -> datetime | None:
    """A datetime column as the ORM would give it (SQLite hands back text or naive UTC)."""
    if value is None:
        return None
    parsed = value if isinstance(value, datetime) else parse_datetime(str(value))
    if parsed is not None and timezone.is_naive(parsed):
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


_PRESENTATION_FIELDS = tuple(f.attname for f in Presentation._meta.concrete_fields)
_COMPARISON_FIELDS = _in_model_order(Comparison, {"id", "study_id", "image_a_id", "image_b_id"})


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


def presentation_for_vote(*, rater: User, presentation_id: int) -> Presentation | None:
    """The rater's presentation with its comparison (study and images), locked until the
    transaction ends where the database can (PostgreSQL); None if it is not theirs."""
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
        _datetime(v) if name.endswith("_at") else v
        for name, v in zip(_PRESENTATION_FIELDS, row[:n], strict=True)
    ]
    shown = Presentation.from_db(connection.alias, list(_PRESENTATION_FIELDS), values)
    shown.is_repeat = bool(shown.is_repeat)
    shown.comparison = Comparison.from_db(connection.alias, list(_COMPARISON_FIELDS), row[n:])
    return shown
