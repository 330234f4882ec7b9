"""Automatic metrics on rendered images (CLIP similarity, aesthetic predictor), stored per image.

Scorers are configured by LOUPE_SCORERS (metric name → local model path) and run on the render
workers; the scorer code (torch, transformers) is imported lazily, only in the process that scores.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.files.storage import default_storage
from django.db.models import Exists, OuterRef
from PIL import Image as PILImageModule
from PIL import UnidentifiedImageError

from generation.models import Image, ImageScore

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

    from generation.engine.scorers import ClipBackbone, Scorer

log = logging.getLogger(__name__)

#: Images scored per model call: small enough for any GPU, large enough to batch well.
SCORE_CHUNK = 32

_scorers: dict[tuple[str, str], Scorer] = {}
_backbones: dict[str, ClipBackbone] = {}


def configured_metrics() -> dict[str, str]:
    """Metric name → local model path, from LOUPE_SCORERS (empty: scoring is off)."""
    return dict(settings.LOUPE_SCORERS)


def get_scorer(metric: str, path: str) -> Scorer:
    """One scorer per metric and path per worker process; CLIP models are shared between them."""
    key = (metric, path)
    scorer = _scorers.get(key)
    if scorer is None:
        from generation.engine.scorers import load_scorer

        scorer = load_scorer(
            metric, path, device=settings.LOUPE_RENDER_DEVICE, backbones=_backbones
        )
        _scorers[key] = scorer
    return scorer


def images_score_enqueue(*, image_ids: list[int]) -> None:
    """Send the scoring task (call after commit). A publish failure is logged, never raised:
    the render it follows is already stored, and `manage.py score_images` catches up later."""
    from generation.tasks import score_images

    try:
        score_images.delay(image_ids)
    except Exception:  # noqa: BLE001 - scoring is optional; never fail the render batch for it
        log.exception("could not enqueue scoring for images %s", image_ids)


def readable_chunks(images: Sequence[Image]) -> Iterator[list[tuple[Image, PILImage]]]:
    """The images with their pictures, SCORE_CHUNK at a time; an unreadable file is left out
    (logged), a chunk with none readable skipped."""
    for start in range(0, len(images), SCORE_CHUNK):
        opened = [(image, _open(image)) for image in images[start : start + SCORE_CHUNK]]
        ready = [(image, picture) for image, picture in opened if picture is not None]
        if ready:
            yield ready


def _open(image: Image) -> PILImage | None:
    field = image.file or image.display_file
    if not field:
        return None
    try:
        with default_storage.open(field.name) as handle:
            picture = PILImageModule.open(handle)
            picture.load()
    except (OSError, UnidentifiedImageError) as exc:
        log.warning("cannot score image %s: %s", image.pk, exc)
        return None
    return picture.convert("RGB")


def images_score(*, image_ids: Iterable[int], metrics: Sequence[str] | None = None) -> int:
    """Score the done images among `image_ids` that lack a score for each metric.

    Safe to run twice: images already scored for a metric are skipped, and the unique
    (image, metric) constraint drops a score a concurrent run stored first. `metrics` defaults
    to every configured one; an unconfigured name is a ValueError. Images without a readable file
    are skipped (and logged). Returns the number of scores computed.
    """
    configured = configured_metrics()
    wanted = list(configured) if metrics is None else list(metrics)
    unknown = [m for m in wanted if m not in configured]
    if unknown:
        names = ", ".join(configured) or "none"
        raise ValueError(
            f"Metric {', '.join(unknown)} is not configured (LOUPE_SCORERS has {names})."
        )
    ids = list(image_ids)
    stored = 0
    for metric in wanted:
        todo = list(
            Image.objects.filter(pk__in=ids, status=Image.Status.DONE)
            .exclude(Exists(ImageScore.objects.filter(image=OuterRef("pk"), metric=metric)))
            .select_related("prompt")
            .order_by("pk")
        )
        if not todo:
            continue
        path = configured[metric]
        scorer = get_scorer(metric, path)
        for ready in readable_chunks(todo):
            # The prompt as written, without trigger tokens: the caption people judged against.
            values = scorer.score([p for _, p in ready], [i.prompt.text for i, _ in ready])
            rows = [
                ImageScore(image=image, metric=metric, value=value, model_path=path)
                for (image, _), value in zip(ready, values, strict=True)
                if _finite(value, image, metric)
            ]
            ImageScore.objects.bulk_create(rows, ignore_conflicts=True)
            stored += len(rows)
    return stored


def _finite(value: float, image: Image, metric: str) -> bool:
    if math.isfinite(value):
        return True
    log.warning(
        "metric %s gave image %s a non-finite score (%s): not stored", metric, image.pk, value
    )
    return False
