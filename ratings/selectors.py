"""Reads for studies."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Q, QuerySet

from generation.models import Image
from generation.selectors import RenderProgress, render_progress
from ratings.models import (
    ChecklistAnswer,
    ChecklistImage,
    Comparison,
    Judgment,
    RerankCandidate,
    Study,
)

#: Where a study lists its images: (model with a `study` key, its image field).
_IMAGE_SOURCES = (
    (Comparison, "image_a"),
    (Comparison, "image_b"),
    (RerankCandidate, "image"),
    (ChecklistImage, "image"),
)


def study_images(*, study_id: int) -> QuerySet[Image]:
    """The images a study's comparisons show, a best-of-N study's candidates and a checklist
    study's images."""
    listed = Q()
    for model, field in _IMAGE_SOURCES:
        listed |= Q(pk__in=model.objects.filter(study_id=study_id).values(field))
    return Image.objects.filter(listed)


def study_render_progress(*, study_id: int) -> RenderProgress:
    """The render progress and ETA of one study's images."""
    return render_progress(images=study_images(study_id=study_id))


@dataclass(frozen=True)
class StudyRow:
    study: Study
    prompts: int
    configs: int
    comparisons: int
    judgments: int
    answers: int  # a checklist study's answers (its judgments are 0)
    #: Image counts by status only: no ETA (the study's own page times what remains).
    progress: RenderProgress


def studies_status_counts(study_ids: Collection[int]) -> dict[int, dict[str, int]]:
    """Per study, its images (study_images) counted by status, in one query for all studies:
    a UNION of (study, image, status) rows from each place a study lists images."""
    ids = list(study_ids)
    first, *rest = (
        model.objects.filter(study_id__in=ids)
        .values_list("study_id", f"{field}_id", f"{field}__status")
        .order_by()
        for model, field in _IMAGE_SOURCES
    )
    counts: dict[int, dict[str, int]] = {pk: {} for pk in ids}
    # UNION (not ALL) keeps each image once per study, wherever the study lists it.
    for study_id, _, status in first.union(*rest):
        counts[study_id][status] = counts[study_id].get(status, 0) + 1
    return counts


def _per_study(rows: QuerySet[Any], study: str = "study_id") -> dict[int, int]:
    """How many of `rows` each study has (one grouped query)."""
    return dict(rows.values_list(study).annotate(n=Count("pk")).values_list(study, "n"))


def studies_listed() -> QuerySet[Study]:
    """Every study, newest first (page it; studies_overview counts the page's)."""
    return Study.objects.order_by("-created_at", "-pk")


def studies_overview(studies: Iterable[Study] | None = None) -> list[StudyRow]:
    """Studies of studies_listed (default: all of them) with their counts, for the
    researchers' home page: a fixed number of queries, however many studies there are."""
    studies = list(studies_listed() if studies is None else studies)
    ids = [s.pk for s in studies]
    prompts = _per_study(Study.prompts.through.objects.filter(study_id__in=ids))
    configs = _per_study(Study.configs.through.objects.filter(study_id__in=ids))
    comparisons = _per_study(Comparison.objects.filter(study_id__in=ids))
    judgments = _per_study(
        Judgment.objects.filter(comparison__study_id__in=ids), "comparison__study_id"
    )
    answers = _per_study(ChecklistAnswer.objects.filter(study_id__in=ids))
    statuses = studies_status_counts(ids)
    return [
        StudyRow(
            study=study,
            prompts=prompts.get(study.pk, 0),
            configs=configs.get(study.pk, 0),
            comparisons=comparisons.get(study.pk, 0),
            judgments=judgments.get(study.pk, 0),
            answers=answers.get(study.pk, 0),
            progress=RenderProgress.from_counts(statuses[study.pk]),
        )
        for study in studies
    ]


#: The rater access rule as paths from a study to users: a named rater, or a member of one of
#: its rater groups; and not one of its excluded raters.
_GRANTED_BY = ("raters", "rater_groups__user")
_EXCLUDED_BY = "excluded_raters"


def studies_accessible_by(*, user: Any) -> QuerySet[Study]:
    """Studies the user may judge while they are open, whatever their status now.

    The one rater access rule: a named rater or a member of a rater group, and not excluded.
    Every other check (the rating pages and API, the media files, the vote services, the
    team page) asks it through the functions below; ratings.rater_sql.rater_study is its
    one-query copy for the rating page's hot path, tested against it.
    """
    if not user.is_authenticated:
        return Study.objects.none()
    granted = Q()
    for path in _GRANTED_BY:
        granted |= Q(**{path: user})
    return Study.objects.filter(granted).exclude(**{_EXCLUDED_BY: user}).distinct()


def access_by_user(*, user_ids: Collection[int]) -> dict[int, set[int]]:
    """studies_accessible_by for many users at once: user id → ids of the studies they may
    judge while open. A fixed number of queries (one per path of the rule, one for the
    exclusions), however many users: the team page asks it for everyone."""
    granted: dict[int, set[int]] = {uid: set() for uid in user_ids}
    for path in _GRANTED_BY:
        rows = Study.objects.filter(**{f"{path}__in": granted}).values_list(path, "pk")
        for user_id, study_id in rows:
            granted[user_id].add(study_id)
    rows = Study.objects.filter(**{f"{_EXCLUDED_BY}__in": granted}).values_list(_EXCLUDED_BY, "pk")
    for user_id, study_id in rows:
        granted[user_id].discard(study_id)
    return granted


def studies_for_rater(*, user: Any, closed_too: bool = False) -> QuerySet[Study]:
    """Studies this user may judge now (open); `closed_too` adds the closed ones they could."""
    statuses = Study.rater_statuses(closed_too=closed_too)
    return studies_accessible_by(user=user).filter(status__in=statuses)


def rater_may_judge(*, user: Any, study_id: int, closed_too: bool = False) -> bool:
    """Whether the user may judge this study now (`closed_too`: or could, before it closed)."""
    return studies_for_rater(user=user, closed_too=closed_too).filter(pk=study_id).exists()
