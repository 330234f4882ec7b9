"""What a deal reads before choosing: the rater's presentations and the study's ready pairs
(held per process for LOUPE_DEAL_PAIRS_SECONDS)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection
from django.db.models import BooleanField, ExpressionWrapper, Q, Value
from django.db.models.functions import Coalesce

from generation.models import Image
from ratings.models import Comparison, Presentation, Study
from ratings.pairs import Candidate, Shown, rater_shown, ready_pairs
from ratings.statements import CompiledRead, using_plain_orm


def is_set(field: str) -> ExpressionWrapper:
    """True where the field holds a value (a moment that has happened), as a column."""
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
        is_set("answered_at"),
        is_set("skipped_at"),
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
