"""Render a study's pending images in this process, without Celery, with a progress bar."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import CommandParser
from tqdm import tqdm

from generation.models import Image
from generation.services.rendering import (
    images_render,
    images_reset_failed,
    render_batch_key,
)
from ratings.management.study_command import StudyCommand
from ratings.selectors import study_images


class Command(StudyCommand):
    help = "Render the pending (and failed, with --retry-failed) images of a study in-process."

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("--retry-failed", action="store_true")

    def handle(self, *args: Any, study: int, retry_failed: bool, **options: Any) -> None:
        self.study_get(study)
        statuses = [Image.Status.PENDING, Image.Status.QUEUED]
        images = study_images(study_id=study)
        if retry_failed:
            images_reset_failed(images=images)
        todo = list(images.filter(status__in=statuses).select_related("config", "prompt"))
        todo.sort(key=render_batch_key)
        size = max(1, settings.LOUPE_RENDER_BATCH)
        done = 0
        with tqdm(total=len(todo), unit="img", desc=f"study {study}") as bar:
            for start in range(0, len(todo), size):
                batch = [image.pk for image in todo[start : start + size]]
                done += images_render(image_ids=batch, on_image=lambda _i, _ok: bar.update(1))
        failed = images.filter(status=Image.Status.FAILED).count()
        self.stdout.write(f"Rendered {done} of {len(todo)} images; {failed} failed in this study.")
