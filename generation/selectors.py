"""Reads for the generation app."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from generation.models import Image


@dataclass(frozen=True)
class RenderProgress:
    pending: int
    queued: int
    rendering: int
    done: int
    failed: int
    seconds_per_image: float | None
    active_workers: int

    @property
    def total(self) -> int:
        return self.pending + self.queued + self.rendering + self.done + self.failed

    @property
    def remaining(self) -> int:
        return self.pending + self.queued + self.rendering

    @property
    def percent(self) -> int:
        return 100 if not self.total else int(100 * (self.done + self.failed) / self.total)

    @property
    def eta_seconds(self) -> float | None:
        if not self.remaining:
            return 0.0
        if self.seconds_per_image is None:
            return None
        return self.remaining * self.seconds_per_image / max(1, self.active_workers)


def study_images(*, study_id: int) -> QuerySet[Image]:
    return Image.objects.filter(
        Q(pk__in=_comparison_image_ids(study_id, "image_a"))
        | Q(pk__in=_comparison_image_ids(study_id, "image_b"))
    )


def _comparison_image_ids(study_id: int, field: str) -> QuerySet[Image]:
    from ratings.models import Comparison

    return Comparison.objects.filter(study_id=study_id).values(field)  # type: ignore[return-value]


def render_progress(*, study_id: int | None = None) -> RenderProgress:
    """Counts per status and throughput measured on recent renders (for the ETA)."""
    images = Image.objects.all() if study_id is None else study_images(study_id=study_id)
    counts = dict(images.values_list("status").annotate(n=Count("pk")).values_list("status", "n"))
    recent: list[float] = list(
        Image.objects.filter(status=Image.Status.DONE, render_seconds__isnull=False)
        .order_by("-rendered_at")
        .values_list("render_seconds", flat=True)[:50]  # type: ignore[arg-type]
    )
    since = timezone.now() - timedelta(minutes=5)
    workers = (
        Image.objects.filter(Q(rendered_at__gte=since) | Q(status=Image.Status.RENDERING))
        .exclude(worker_host="")
        .values("worker_host")
        .distinct()
        .count()
    )
    return RenderProgress(
        pending=counts.get(Image.Status.PENDING, 0),
        queued=counts.get(Image.Status.QUEUED, 0),
        rendering=counts.get(Image.Status.RENDERING, 0),
        done=counts.get(Image.Status.DONE, 0),
        failed=counts.get(Image.Status.FAILED, 0),
        seconds_per_image=statistics.median(recent) if recent else None,
        active_workers=workers,
    )
