"""What a rater has done in a study: progress through its ready pairs, and their own record."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from statistics import median
from typing import Any

from django.contrib.auth.models import User
from django.db.models import Count, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce

from generation.models import Image
from ratings.models import (
    ChecklistImage,
    ChecklistShowing,
    Comparison,
    Judgment,
    Presentation,
    Study,
)
from ratings.pairs import Candidate, Shown


@dataclass(frozen=True)
class RaterProgress:
    study: Study
    judged: int  # pairs answered (first presentations)
    ready: int  # ready comparisons in the study

    @property
    def remaining(self) -> int:
        return max(self.ready - self.judged, 0)

    @property
    def percent(self) -> int:
        return round(100 * self.judged / self.ready) if self.ready else 0


def progress_of(
    *, study: Study, shown: Sequence[Shown], pairs: Sequence[Candidate]
) -> RaterProgress:
    """rater_progress from what a deal has read already (rater_shown, ready_pairs): no query."""
    judged = sum(1 for row in shown if not row.is_repeat and (row.answered or row.skipped))
    return RaterProgress(study=study, ready=len(pairs), judged=judged)


def _count(rows: QuerySet[Any], study_path: str) -> Any:
    """Subquery: how many of `rows` belong to the outer study (0 when none)."""
    counted = rows.filter(**{study_path: OuterRef("pk")}).order_by().values(study_path)
    return Coalesce(Subquery(counted.annotate(n=Count("pk")).values("n")), 0)


def raters_progress(*, studies: QuerySet[Study], rater: User) -> list[RaterProgress]:
    """What this rater has done in each study, in one query however many studies: in a
    pairwise study its ready pairs and the ones answered or skipped (first presentations), in
    a checklist study its ready images and the ones answered."""
    rows = studies.annotate(
        pairs_ready=_count(
            Comparison.objects.filter(
                image_a__status=Image.Status.DONE, image_b__status=Image.Status.DONE
            ),
            "study",
        ),
        pairs_judged=_count(
            Presentation.objects.filter(rater=rater, is_repeat=False).filter(
                Q(answered_at__isnull=False) | Q(skipped_at__isnull=False)
            ),
            "comparison__study",
        ),
        images_ready=_count(
            ChecklistImage.objects.filter(image__status=Image.Status.DONE), "study"
        ),
        images_answered=_count(
            ChecklistShowing.objects.filter(rater=rater, answered_at__isnull=False), "study"
        ),
    )
    return [
        RaterProgress(study=s, ready=s.images_ready, judged=s.images_answered)
        if s.kind == Study.Kind.CHECKLIST
        else RaterProgress(study=s, ready=s.pairs_ready, judged=s.pairs_judged)
        for s in rows
    ]


def rater_progress(*, study: Study, rater: User) -> RaterProgress:
    """raters_progress of one study (the object given), in one query."""
    (progress,) = raters_progress(studies=Study.objects.filter(pk=study.pk), rater=rater)
    return RaterProgress(study=study, ready=progress.ready, judged=progress.judged)


@dataclass(frozen=True)
class RaterSummary:
    pairs: int
    skipped: int
    judgments: int
    sides: dict[str, int]  # left / right / tie / both_bad, as the rater saw them
    median_ms: int | None
    flagged_fast: int
    repeats: int
    repeats_consistent: int

    @property
    def median_seconds(self) -> float | None:
        return None if self.median_ms is None else self.median_ms / 1000


def rater_summary(*, study: Study, rater: User) -> RaterSummary:
    """The rater's own record in a study: what they may see about themselves."""
    shown = Presentation.objects.filter(rater=rater, comparison__study=study)
    rows = list(
        Judgment.objects.filter(rater=rater, comparison__study=study).values_list(
            "comparison_id",
            "criterion_id",
            "is_repeat",
            "outcome",
            "winner_id",
            "presentation__left_id",
            "response_ms",
            "flagged_fast",
        )
    )
    sides = {"left": 0, "right": 0, "tie": 0, "both_bad": 0}
    first: dict[tuple[int, int], tuple[str, int | None]] = {}
    again: dict[tuple[int, int], tuple[str, int | None]] = {}
    for cid, crit, is_repeat, outcome, winner, left, _ms, _fast in rows:
        if outcome == Judgment.Outcome.WIN:
            sides["left" if winner == left else "right"] += 1
        else:
            sides[outcome] += 1
        (again if is_repeat else first)[(cid, crit)] = (outcome, winner)
    repeats = [key for key in again if key in first]
    times = [ms for *_, ms, _fast in rows if ms is not None]
    return RaterSummary(
        pairs=shown.filter(is_repeat=False, answered_at__isnull=False).count(),
        skipped=shown.filter(skipped_at__isnull=False).count(),
        judgments=len(rows),
        sides=sides,
        median_ms=int(median(times)) if times else None,
        flagged_fast=sum(1 for row in rows if row[-1]),
        repeats=len(repeats),
        repeats_consistent=sum(1 for key in repeats if first[key] == again[key]),
    )
