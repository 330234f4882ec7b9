"""The rating path's access check: may this rater judge this study now (one query, the
study and its criteria read with it)."""

from __future__ import annotations

from functools import partial
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.db import connection
from django.db.models import Exists, Model, OuterRef, Q, QuerySet

from ratings.models import Criterion, Study
from ratings.statements import CompiledRead, using_plain_orm


def in_model_order(model: type[Model], wanted: set[str]) -> tuple[str, ...]:
    # Model.from_db takes values in the order of the model's fields.
    return tuple(f.attname for f in model._meta.concrete_fields if f.attname in wanted)


#: What the rating path reads of a study; anything else loads on first use (Django's deferred
#: fields), so the instance is never wrong, only lazier.
_STUDY_FIELDS = in_model_order(
    Study,
    {"id", "name", "instructions", "status", "design", "gold_rate", "min_response_ms", "kind",
     "target_judgments"},
)  # fmt: skip
_CRITERION_FIELDS = in_model_order(Criterion, {f.attname for f in Criterion._meta.concrete_fields})


_RATERS = Study.raters.through
_GROUPS = Study.rater_groups.through
_EXCLUDED = Study.excluded_raters.through
_MEMBERS = User.groups.through


def _rater_study_qs(*, study_id: int, user_id: int, closed_too: bool) -> QuerySet[Any]:
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
            status__in=Study.rater_statuses(closed_too=closed_too),
        )
        .order_by("criteria__order", "criteria__id")
        .values_list(*_STUDY_FIELDS, *(f"criteria__{f}" for f in _CRITERION_FIELDS))
    )


#: One compiled statement per value of closed_too (its statuses are constants of the SQL).
_RATER_STUDY = {
    closed_too: CompiledRead(
        "rater_study_closed" if closed_too else "rater_study",
        partial(_rater_study_qs, closed_too=closed_too),
        {"study_id": -900001, "user_id": -900002},
    )
    for closed_too in (False, True)
}


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
        _RATER_STUDY[closed_too].execute(cursor, study_id=study_id, user_id=user.pk)
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
