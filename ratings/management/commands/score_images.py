"""Compute the configured automatic metrics for a study's rendered images, in this process."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser

from generation.models import Image, ImageScore
from generation.services.scoring import configured_metrics, images_score
from ratings.management.study_command import StudyCommand
from ratings.selectors import study_images


class Command(StudyCommand):
    help = (
        "Score the rendered images of a study with the scorers in LOUPE_SCORERS "
        "(images already scored are skipped)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument(
            "--metric",
            action="append",
            dest="metrics",
            help="Only this metric (repeatable); default: every configured one.",
        )

    def handle(self, *args: Any, study: int, metrics: list[str] | None, **options: Any) -> None:
        self.study_get(study)
        if not configured_metrics():
            raise CommandError(
                "No scorer is configured: set LOUPE_SCORERS, e.g. "
                "clip=/models/clip-vit-l14,aesthetic=/models/laion-aesthetic."
            )
        ids = list(
            study_images(study_id=study)
            .filter(status=Image.Status.DONE)
            .values_list("pk", flat=True)
        )
        try:
            stored = images_score(image_ids=ids, metrics=metrics)
        except ValueError as exc:  # unknown metric, or a scorer that cannot load
            raise CommandError(str(exc)) from exc
        total = ImageScore.objects.filter(image_id__in=ids).count()
        self.stdout.write(
            f"Scored {stored} new image × metric pairs; {total} scores on {len(ids)} rendered "
            f"images of study {study}."
        )
