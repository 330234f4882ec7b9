"""The statements behind every vote, in hand-written SQL: the access check, the locked
presentation, the inserts, the deal, the cards.

A vote answers with the next pair, so these run on every vote of every rater. Through the ORM
each cost about a millisecond of CPU to build (more than the database took to answer), made a
model instance per row, and each insert that may collide needed a savepoint; here they are one
plain statement each, rows become tuples, and inserts skip collisions with ON CONFLICT DO
NOTHING. bench/rate_load.py measures the path. Table and column names come from the models'
_meta, so a rename follows; the SQL runs on PostgreSQL and SQLite (3.35+: RETURNING) alike.
tests/ratings/test_rate_perf.py checks the reads against their ORM twins in ratings.pairs.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Any, TypeVar

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.db import connection
from django.db.models import Model
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from generation.media import media_url
from generation.models import Image, Prompt
from ratings.models import Comparison, Criterion, Judgment, PairExposure, Presentation, Study
from ratings.pairs import Candidate, Shown

M = TypeVar("M", bound=Model)


_PLACEHOLDER = re.compile(r"%s")


def _run(cursor: Any, name: str, sql: str, params: Sequence[Any]) -> None:
    """Execute `sql`; on PostgreSQL as a prepared statement, planned once per connection.

    Planning these joins costs the database more than running them (about half a
    millisecond against a tenth), on every vote. PREPARE is per session and survives a rolled
    back transaction, so the names prepared are remembered per raw connection (a new one
    after a reconnect starts afresh). LOUPE_PREPARED_SQL=0 turns this off (for a pooler in
    transaction mode, such as PgBouncer's, which cannot keep a session's statements).
    """
    if connection.vendor != "postgresql" or not settings.LOUPE_PREPARED_SQL:
        cursor.execute(sql, params)
        return
    raw = connection.connection
    state: tuple[Any, set[str]] | None = getattr(connection, "_loupe_prepared", None)
    if state is None or state[0] is not raw:
        state = (raw, set())
        connection._loupe_prepared = state  # type: ignore[attr-defined]
    name = f"loupe_{name}"
    if name not in state[1]:
        numbered = iter(range(1, len(params) + 1))
        cursor.execute(
            f"PREPARE {name} AS " + _PLACEHOLDER.sub(lambda _: f"${next(numbered)}", sql)
        )
        state[1].add(name)
    cursor.execute(f"EXECUTE {name} ({', '.join(['%s'] * len(params))})", params)


def _t(model: type[Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _through(field: str) -> tuple[str, str, str]:
    """A many-to-many field of Study: its table, the study column and the other column."""
    m2m = Study._meta.get_field(field)
    through = m2m.remote_field.through  # type: ignore[union-attr]
    meta = through._meta
    study_col = m2m.m2m_column_name()  # type: ignore[union-attr]
    other_col = m2m.m2m_reverse_name()  # type: ignore[union-attr]
    return connection.ops.quote_name(meta.db_table), study_col, other_col


def _column(model: type[Model], attname: str) -> str:
    field = next(f for f in model._meta.concrete_fields if f.attname == attname)
    return connection.ops.quote_name(field.column)


def _in_model_order(model: type[Model], wanted: set[str]) -> tuple[str, ...]:
    # Model.from_db takes values in the order of the model's fields.
    return tuple(f.attname for f in model._meta.concrete_fields if f.attname in wanted)


#: What the rating path reads of a study; anything else loads on first use (Django's deferred
#: fields), so the instance is never wrong, only lazier.
_STUDY_FIELDS = _in_model_order(
    Study,
    {"id", "name", "instructions", "status", "design", "gold_rate", "min_response_ms",
     "target_judgments"},
)  # fmt: skip
_CRITERION_FIELDS = _in_model_order(Criterion, {f.attname for f in Criterion._meta.concrete_fields})


@cache
def _rater_study_sql() -> str:
    raters, r_study, r_user = _through("raters")
    groups, g_study, g_group = _through("rater_groups")
    excluded, x_study, x_user = _through("excluded_raters")
    member = User._meta.get_field("groups")
    ug = connection.ops.quote_name(member.remote_field.through._meta.db_table)  # type: ignore[union-attr]
    ug_user, ug_group = member.m2m_column_name(), member.m2m_reverse_name()  # type: ignore[union-attr]
    study_cols = ", ".join(f"s.{_column(Study, f)}" for f in _STUDY_FIELDS)
    crit_cols = ", ".join(f"c.{_column(Criterion, f)}" for f in _CRITERION_FIELDS)
    return f"""
        SELECT {study_cols}, {crit_cols}
        FROM {_t(Study)} s
        LEFT JOIN {_t(Criterion)} c ON c.study_id = s.id
        WHERE s.id = %s AND s.status IN (%s, %s)
          AND (
            EXISTS (SELECT 1 FROM {raters} r WHERE r.{r_study} = s.id AND r.{r_user} = %s)
            OR EXISTS (
              SELECT 1 FROM {groups} g JOIN {ug} ug ON ug.{ug_group} = g.{g_group}
              WHERE g.{g_study} = s.id AND ug.{ug_user} = %s
            )
          )
          AND NOT EXISTS (
            SELECT 1 FROM {excluded} x WHERE x.{x_study} = s.id AND x.{x_user} = %s
          )
        ORDER BY c.{connection.ops.quote_name("order")}, c.id
    """


def rater_study(
    *, user: User | AnonymousUser, study_id: int, closed_too: bool = False
) -> Study | None:
    """The study with its criteria if this user may judge it now, else None: one query.

    Same rule as ratings.selectors.studies_for_rater (open; a named rater or in a rater group;
    not excluded). `closed_too`: a closed study the user could judge is returned as well, so
    the rating page can record a vote on a pair issued before the close and say the study
    has closed instead of "not found". The criteria fill the study's `criteria` prefetch
    cache, so `study.criteria.all()` costs nothing afterwards.
    """
    if not user.is_authenticated:
        return None
    with connection.cursor() as cursor:
        _run(
            cursor,
            "rater_study",
            _rater_study_sql(),
            [
                study_id,
                Study.Status.OPEN,
                Study.Status.CLOSED if closed_too else Study.Status.OPEN,
                user.pk,
                user.pk,
                user.pk,
            ],
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
    # What prefetch_related("criteria") would have left (Django's own prefetch sets these
    # same attributes): study.criteria.all() then answers from memory.
    cached = study.criteria.all()
    cached._result_cache = criteria
    cached._prefetch_done = True  # type: ignore[attr-defined]
    study._prefetched_objects_cache = {"criteria": cached}  # type: ignore[attr-defined]
    return study


@cache
def _deal_shown_sql() -> str:
    return f"""
        SELECT p.id, p.comparison_id, p.is_repeat, p.left_id,
               p.answered_at IS NOT NULL, p.skipped_at IS NOT NULL, c.image_a_id, c.image_b_id
        FROM {_t(Presentation)} p JOIN {_t(Comparison)} c ON c.id = p.comparison_id
        WHERE p.rater_id = %s AND c.study_id = %s
        ORDER BY p.id
    """


@cache
def _deal_pairs_sql() -> str:
    image = _t(Image)
    return f"""
        SELECT c.id, a.config_id, b.config_id, COALESCE(e.shown, 0), c.is_gold,
               c.image_a_id, c.image_b_id
        FROM {_t(Comparison)} c
        JOIN {image} a ON a.id = c.image_a_id
        JOIN {image} b ON b.id = c.image_b_id
        LEFT JOIN {_t(PairExposure)} e ON e.comparison_id = c.id
        WHERE c.study_id = %s AND a.status = %s AND b.status = %s
        ORDER BY c.id
    """


@dataclass
class _HeldPairs:
    read_at: float
    pairs: list[Candidate]
    at: dict[int, int]  # comparison id → index in pairs


#: study id → its pairs as last read by this process (LOUPE_DEAL_PAIRS_SECONDS).
_held_pairs: dict[int, _HeldPairs] = {}
_held_lock = threading.Lock()


def _study_pairs(cursor: Any, study: Study) -> list[Candidate]:
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
    done = Image.Status.DONE
    _run(cursor, "deal_pairs", _deal_pairs_sql(), [study.pk, done, done])
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
    counts (see _study_pairs). The same lists as ratings.pairs.rater_shown and study_pairs."""
    with connection.cursor() as cursor:
        _run(cursor, "deal_shown", _deal_shown_sql(), [rater.pk, study.pk])
        shown = list(map(Shown._make, cursor.fetchall()))
        pairs = _study_pairs(cursor, study)
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


@cache
def _cards_sql() -> str:
    image = _t(Image)
    return f"""
        SELECT p.id, pr.text, pr.key_terms,
               CASE WHEN p.left_id = c.image_a_id THEN a.display_file ELSE b.display_file END,
               CASE WHEN p.left_id = c.image_a_id THEN b.display_file ELSE a.display_file END
        FROM {_t(Presentation)} p
        JOIN {_t(Comparison)} c ON c.id = p.comparison_id
        JOIN {_t(Prompt)} pr ON pr.id = c.prompt_id
        JOIN {image} a ON a.id = c.image_a_id
        JOIN {image} b ON b.id = c.image_b_id
        WHERE p.id IN (%s, %s)
    """


def cards(ids: Sequence[int], *, on_screen_at: datetime | None = None) -> dict[int, Card]:
    """The cards of these presentations (one or two: the deck), by id: one query.

    `on_screen_at`: the first card goes on screen now (its shown_at); on PostgreSQL the same
    statement writes it (a data-modifying WITH), elsewhere an UPDATE goes first.
    """
    if not ids:
        return {}
    if len(ids) > 2:
        raise ValueError("A deck holds two cards at most.")
    with connection.cursor() as cursor:
        if on_screen_at is None:
            _run(cursor, "cards", _cards_sql(), [ids[0], ids[-1]])
        elif connection.vendor == "postgresql":
            at = connection.ops.adapt_datetimefield_value(on_screen_at)
            stamp = _stamp_sql("shown_at")
            sql = f"WITH stamp AS ({stamp}) {_cards_sql()}"
            _run(cursor, "stamp_and_cards", sql, [at, ids[0], ids[0], ids[-1]])
        else:
            presentation_stamp(presentation_id=ids[0], field="shown_at", at=on_screen_at)
            _run(cursor, "cards", _cards_sql(), [ids[0], ids[-1]])
        rows = cursor.fetchall()
    return {
        pk: Card(pk, text, _terms(terms), media_url(left), media_url(right))
        for pk, text, terms, left, right in rows
    }


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


@cache
def _presentation_sql() -> str:
    p_cols = ", ".join(f"p.{_column(Presentation, f)}" for f in _PRESENTATION_FIELDS)
    c_cols = ", ".join(f"c.{_column(Comparison, f)}" for f in _COMPARISON_FIELDS)
    lock = " FOR UPDATE OF p" if connection.features.has_select_for_update_of else ""
    return f"""
        SELECT {p_cols}, {c_cols}
        FROM {_t(Presentation)} p JOIN {_t(Comparison)} c ON c.id = p.comparison_id
        WHERE p.id = %s AND p.rater_id = %s{lock}
    """


def presentation_for_vote(*, rater: User, presentation_id: int) -> Presentation | None:
    """The rater's presentation with its comparison (study and images), locked until the
    transaction ends where the database can (PostgreSQL); None if it is not theirs."""
    with connection.cursor() as cursor:
        _run(cursor, "presentation_for_vote", _presentation_sql(), [presentation_id, rater.pk])
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


@cache
def _insert_sql(model: type[Model], rows: int, key: str) -> str:
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    return (
        f"INSERT INTO {_t(model)} ({columns}) VALUES {', '.join([row] * rows)} "
        f"ON CONFLICT DO NOTHING RETURNING id, {_column(model, key)}"
    )


def judgments_insert(
    judgments: Sequence[Judgment], *, answered_at: datetime | None = None
) -> list[Judgment]:
    """A presentation's judgments, as insert_new. With `answered_at`, the presentation is
    marked answered then if every one of them went in: in the same statement on PostgreSQL
    (a data-modifying WITH), in a second one elsewhere."""
    if answered_at is None or not judgments:
        return insert_new(judgments, key="criterion_id")
    presentation_id = judgments[0].presentation_id
    if connection.vendor != "postgresql":
        made = insert_new(judgments, key="criterion_id")
        if len(made) == len(judgments):
            presentation_stamp(presentation_id=presentation_id, field="answered_at", at=answered_at)
        return made
    at = connection.ops.adapt_datetimefield_value(answered_at)
    return insert_new(
        judgments,
        key="criterion_id",
        then=(
            "answered",
            f"{_stamp_sql('answered_at')} AND (SELECT COUNT(*) FROM new_rows) = %s",
            [at, presentation_id, len(judgments)],
        ),
    )


def insert_new(
    objs: Sequence[M], *, key: str, then: tuple[str, str, list[Any]] | None = None
) -> list[M]:
    """Insert the objects in one statement, leaving out any that a unique constraint already
    holds (ON CONFLICT DO NOTHING: no savepoint, no aborted transaction). Returns the ones
    inserted, ids set. `key`: a field whose value tells the objects apart within the call.
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
            f"SELECT id, {_column(model, key)} FROM new_rows"
        )
        values += then_params
    with connection.cursor() as cursor:
        _run(cursor, name, sql, values)
        ids = {k: pk for pk, k in cursor.fetchall()}
    made = []
    for obj in objs:
        pk = ids.get(getattr(obj, key))
        if pk is not None:
            obj.pk = pk
            obj._state.adding = False
            obj._state.db = connection.alias
            made.append(obj)
    return made


@cache
def _stamp_sql(field: str) -> str:
    if field not in ("shown_at", "answered_at"):
        raise ValueError(f"Not a moment of a presentation: {field!r}.")
    return f"UPDATE {_t(Presentation)} SET {_column(Presentation, field)} = %s WHERE id = %s"


def presentation_stamp(*, presentation_id: int, field: str, at: datetime) -> None:
    """Set one moment of a presentation: shown_at (on screen from now) or answered_at."""
    at_value = connection.ops.adapt_datetimefield_value(at)
    with connection.cursor() as cursor:
        _run(cursor, f"stamp_{field}", _stamp_sql(field), [at_value, presentation_id])
