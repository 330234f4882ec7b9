"""Reads for LoRA checkpoint series: the list, and the evolution grid (prompts × checkpoints)."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, QuerySet

from generation.models import Checkpoint, CheckpointSeries, Image, Prompt
from generation.selectors import RenderProgress, render_progress

#: Rows (prompt × seed) one grid page shows.
GRID_MAX_ROWS = 60


def series_list() -> QuerySet[CheckpointSeries]:
    return CheckpointSeries.objects.select_related("base_config").annotate(
        checkpoint_count=Count("checkpoints", distinct=True)
    )


def series_checkpoints(*, series: CheckpointSeries) -> list[Checkpoint]:
    """The checkpoints in step order, with their adapters and configurations."""
    return list(series.checkpoints.select_related("adapter", "config").order_by("step"))


def series_images(*, series: CheckpointSeries) -> QuerySet[Image]:
    """Every image of the series' checkpoints (the grid's and its studies')."""
    return Image.objects.filter(config__in=series.checkpoints.values("config"))


@dataclass(frozen=True)
class GridRow:
    prompt: Prompt
    seed: int
    #: One cell per checkpoint, in step order: the image, or None when not asked for.
    cells: list[Image | None]


@dataclass(frozen=True)
class SeriesGrid:
    checkpoints: list[Checkpoint]
    rows: list[GridRow]
    #: Rows beyond GRID_MAX_ROWS, not shown.
    hidden_rows: int
    progress: RenderProgress

    @property
    def rendering(self) -> bool:
        return self.progress.remaining > 0


def series_grid(*, series: CheckpointSeries) -> SeriesGrid:
    """The evolution grid: one row per prompt × seed that has images, one column per
    checkpoint (step order); the same seed across a row, so only the checkpoint differs."""
    checkpoints = series_checkpoints(series=series)
    column = {c.config_id: i for i, c in enumerate(checkpoints)}
    images = series_images(series=series).select_related("prompt").order_by("prompt_id", "seed")
    rows: dict[tuple[int, int], GridRow] = {}
    for image in images:
        key = (image.prompt_id, image.seed)
        row = rows.get(key)
        if row is None:
            row = rows[key] = GridRow(image.prompt, image.seed, [None] * len(checkpoints))
        row.cells[column[image.config_id]] = image
    ordered = sorted(rows.values(), key=lambda r: (r.prompt.category, r.prompt.pk, r.seed))
    return SeriesGrid(
        checkpoints=checkpoints,
        rows=ordered[:GRID_MAX_ROWS],
        hidden_rows=max(0, len(ordered) - GRID_MAX_ROWS),
        progress=render_progress(images=series_images(series=series)),
    )


@dataclass(frozen=True)
class LoupeView:
    """One image of the grid at full size, with the same prompt and seed at the neighbouring
    checkpoints (for stepping through training)."""

    image: Image
    checkpoint: Checkpoint
    previous: Image | None
    next: Image | None


def series_loupe(*, series: CheckpointSeries, image_id: int) -> LoupeView | None:
    """The grid cell `image_id` with its neighbours in training; None if not the series'."""
    checkpoints = series_checkpoints(series=series)
    image = (
        series_images(series=series).select_related("prompt", "config").filter(pk=image_id).first()
    )
    if image is None:
        return None
    order = [c.config_id for c in checkpoints]
    at = order.index(image.config_id)
    same = {
        i.config_id: i
        for i in Image.objects.filter(
            prompt_id=image.prompt_id, seed=image.seed, config_id__in=order
        )
    }
    return LoupeView(
        image=image,
        checkpoint=checkpoints[at],
        previous=same.get(order[at - 1]) if at > 0 else None,
        next=same.get(order[at + 1]) if at + 1 < len(order) else None,
    )
