"""The pair browser: comparisons with their vote tallies, filtered and paged."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, F, Q

from ratings.models import Comparison, Criterion, Judgment, Study


@dataclass(frozen=True)
class PairItem:
    comparison: Comparison
    config_a: int
    config_b: int
    a_wins: int
    b_wins: int
    ties: int
    both_bad: int


def study_pairs(
    *,
    study: Study,
    criterion: Criterion | None = None,
    config_id: int | None = None,
    outcome: str | None = None,
    limit: int = 24,
    offset: int = 0,
) -> tuple[list[PairItem], int]:
    """Comparisons with their vote tallies, filtered by config and outcome; (page, total).

    outcome: "a" / "b" (that side has more wins), "tie", "both_bad" (at least one such vote),
    "split" (both sides won at least once).
    """
    votes = Q(judgments__is_repeat=False) & ~Q(judgments__rater__in=study.excluded_raters.all())
    if criterion is not None:
        votes &= Q(judgments__criterion=criterion)
    qs = (
        Comparison.objects.filter(study=study)
        .select_related("prompt", "image_a", "image_b")
        .annotate(
            a=Count("judgments", filter=votes & Q(judgments__winner_id=F("image_a_id"))),
            b=Count("judgments", filter=votes & Q(judgments__winner_id=F("image_b_id"))),
            t=Count("judgments", filter=votes & Q(judgments__outcome=Judgment.Outcome.TIE)),
            bb=Count("judgments", filter=votes & Q(judgments__outcome=Judgment.Outcome.BOTH_BAD)),
        )
        .filter(Q(a__gt=0) | Q(b__gt=0) | Q(t__gt=0) | Q(bb__gt=0))
    )
    if config_id is not None:
        qs = qs.filter(Q(image_a__config_id=config_id) | Q(image_b__config_id=config_id))
    if outcome == "a":
        qs = qs.filter(a__gt=F("b"))
    elif outcome == "b":
        qs = qs.filter(b__gt=F("a"))
    elif outcome == "tie":
        qs = qs.filter(t__gt=0)
    elif outcome == "both_bad":
        qs = qs.filter(bb__gt=0)
    elif outcome == "split":
        qs = qs.filter(a__gt=0, b__gt=0)
    total = qs.count()
    page = [
        PairItem(
            comparison=c,
            config_a=c.image_a.config_id,
            config_b=c.image_b.config_id,
            a_wins=c.a,  # type: ignore[attr-defined]
            b_wins=c.b,  # type: ignore[attr-defined]
            ties=c.t,  # type: ignore[attr-defined]
            both_bad=c.bb,  # type: ignore[attr-defined]
        )
        for c in qs.order_by("id")[offset : offset + limit]
    ]
    return page, total
