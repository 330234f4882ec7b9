"""The judgments that count, counted in SQL, and the cache every report sits behind.

Cached reports are keyed on a version of the study's votes (count, last id, excluded raters),
so a new vote or an exclusion makes them stale without any explicit invalidation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from django.core.cache import cache
from django.db.models import Case, Count, F, IntegerField, Max, Q, QuerySet, When
from django.db.models import Value as V

from ratings.models import Criterion, Judgment, Study

T = TypeVar("T")

#: The four outcomes, in the order of _choice_expr's codes.
CHOICES = ("a", "b", "tie", "both_bad")
DEFAULT_BOOT = 200
CACHE_SECONDS = 600


def criterion_for(*, study: Study, key: str | None) -> Criterion | None:
    """The study's criterion with this key; None (all criteria together) for a blank key.

    Raises Criterion.DoesNotExist for an unknown key.
    """
    if not key:
        return None
    if "\x00" in key:
        # PostgreSQL refuses NUL in a query, and no key (a slug) holds one.
        raise Criterion.DoesNotExist(f"No criterion {key!r} in study {study.pk}.")
    return Criterion.objects.get(study=study, key=key)


def study_judgments(
    *, study: Study, criterion: Criterion | None = None, repeats: bool = False
) -> QuerySet[Judgment]:
    """Judgments of the study that count: excluded raters left out; first votes by default."""
    qs = Judgment.objects.filter(comparison__study=study).exclude(
        rater__in=study.excluded_raters.all()
    )
    if not repeats:
        qs = qs.filter(is_repeat=False)
    if criterion is not None:
        qs = qs.filter(criterion=criterion)
    return qs


def _preference_judgments(study: Study, criterion: Criterion | None) -> QuerySet[Judgment]:
    return study_judgments(study=study, criterion=criterion).filter(comparison__is_gold=False)


@dataclass(frozen=True)
class CountRow:
    config_a: int
    config_b: int
    rater: int
    prompt: int
    a_left: bool
    a_wins: int
    b_wins: int
    ties: int
    both_bad: int


def pair_counts(*, study: Study, criterion: Criterion | None = None) -> list[CountRow]:
    """First votes grouped by config pair × rater × prompt × side, counted in SQL."""
    image_a, image_b = F("comparison__image_a_id"), F("comparison__image_b_id")
    rows = (
        _preference_judgments(study, criterion)
        .annotate(
            a_left=Case(
                When(presentation__left_id=image_a, then=V(1)),
                default=V(0),
                output_field=IntegerField(),
            )
        )
        .values(
            "a_left",
            "rater_id",
            ca=F("comparison__image_a__config_id"),
            cb=F("comparison__image_b__config_id"),
            prompt=F("comparison__prompt_id"),
        )
        .annotate(
            a=Count("id", filter=Q(winner_id=image_a)),
            b=Count("id", filter=Q(winner_id=image_b)),
            t=Count("id", filter=Q(outcome=Judgment.Outcome.TIE)),
            bb=Count("id", filter=Q(outcome=Judgment.Outcome.BOTH_BAD)),
        )
        .order_by()
    )
    return [
        CountRow(
            config_a=r["ca"],
            config_b=r["cb"],
            rater=r["rater_id"],
            prompt=r["prompt"],
            a_left=bool(r["a_left"]),
            a_wins=r["a"],
            b_wins=r["b"],
            ties=r["t"],
            both_bad=r["bb"],
        )
        for r in rows
    ]


def _choice_expr() -> Case:
    """A judgment's outcome as a code: 0 = image a won, 1 = image b, 2 = tie, 3 = both bad."""
    return Case(
        When(winner_id=F("comparison__image_a_id"), then=V(0)),
        When(winner_id=F("comparison__image_b_id"), then=V(1)),
        When(outcome=Judgment.Outcome.TIE, then=V(2)),
        default=V(3),
        output_field=IntegerField(),
    )


def _version(study: Study) -> str:
    """Changes whenever a vote lands or the set of excluded raters changes."""
    stats = Judgment.objects.filter(comparison__study=study).aggregate(n=Count("id"), m=Max("id"))
    excluded = sorted(study.excluded_raters.values_list("id", flat=True))
    return f"{stats['n']}.{stats['m']}.{'-'.join(map(str, excluded))}"


def _cached(kind: str, study: Study, criterion: Criterion | None, compute: Callable[[], T]) -> T:
    key = (
        f"loupe:analysis:{kind}:{study.pk}:{criterion.pk if criterion else 'all'}:{_version(study)}"
    )
    found = cache.get(key)
    if found is None:
        found = compute()
        cache.set(key, found, CACHE_SECONDS)
    return found  # type: ignore[no-any-return]
