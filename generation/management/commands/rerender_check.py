"""Render an image again from its recorded parameters and compare the pixels."""

from __future__ import annotations

from typing import Any

import numpy as np
from django.core.management.base import BaseCommand, CommandError, CommandParser
from PIL import Image as PILImage

from generation.models import Image
from generation.services.rendering import get_engine, spec_from_params


class Command(BaseCommand):
    help = "Re-render IMAGE_ID from its recorded parameters and report whether the pixels match."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("image_id", type=int)

    def handle(self, *args: Any, image_id: int, **options: Any) -> None:
        image = Image.objects.filter(pk=image_id).first()
        if image is None:
            raise CommandError(f"No image with id {image_id}.")
        if image.status != Image.Status.DONE or not image.file:
            raise CommandError(f"Image {image_id} is {image.status}: nothing rendered to compare.")
        [result] = get_engine().render([spec_from_params(image.params)])
        if result.image is None:
            raise CommandError(f"Re-render failed: {result.error}")
        with image.file.open("rb") as handle:
            stored = np.asarray(PILImage.open(handle).convert("RGB"))
        fresh = np.asarray(result.image.convert("RGB"))
        if stored.shape == fresh.shape and np.array_equal(stored, fresh):
            self.stdout.write(
                f"Image {image_id}: pixels match ({fresh.shape[1]}x{fresh.shape[0]})."
            )
            return
        diff = (
            int(np.abs(stored.astype(int) - fresh.astype(int)).max())
            if stored.shape == fresh.shape
            else -1
        )
        recorded = image.versions
        raise CommandError(
            f"Image {image_id}: pixels differ (max abs difference {diff}). Rendered with "
            f"{recorded}; a different torch/diffusers version or device explains small drifts."
        )
