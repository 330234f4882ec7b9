"""Checklist labellers on the workers: a CLIP scorer of LOUPE_SCORERS answers yes or no to
each item of an image (generation.engine.labellers). Items come in as plain text; what they
mean to a study is the caller's business (ratings.checklists)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from django.conf import settings

from generation.constants import metric_kind
from generation.models import Image
from generation.services.scoring import SCORE_CHUNK, _backbones, _open, configured_metrics

if TYPE_CHECKING:
    from generation.engine.labellers import ClipChecklistLabeller

#: A question: the text that means yes, and the texts it must beat.
LabelQuestion = tuple[str, Sequence[str]]
_labellers: dict[tuple[str, str], ClipChecklistLabeller] = {}


def configured_labellers() -> list[str]:
    """The scorers of LOUPE_SCORERS that can answer a checklist (the CLIP ones)."""
    return [m for m in configured_metrics() if metric_kind(m) == "clip"]


def labeller_problem(name: str) -> str | None:
    """Why `name` cannot label a checklist, or None when it can (every entry point asks)."""
    labellers = configured_labellers()
    if name in labellers:
        return None
    return (
        f"Labeller “{name}” is not a CLIP scorer of LOUPE_SCORERS (the CLIP ones: "
        f"{', '.join(labellers) or 'none'}); set e.g. LOUPE_SCORERS=clip=/models/clip-vit-l14."
    )


def get_labeller(name: str) -> ClipChecklistLabeller:
    """One labeller per name and path per worker process, sharing the scorers' CLIP models."""
    problem = labeller_problem(name)
    if problem:
        raise ValueError(problem)
    path = configured_metrics()[name]
    key = (name, path)
    labeller = _labellers.get(key)
    if labeller is None:
        from generation.engine.labellers import ClipChecklistLabeller
        from generation.engine.scorers import shared_backbone

        backbone = shared_backbone(path, backbones=_backbones, device=settings.LOUPE_RENDER_DEVICE)
        labeller = _labellers[key] = ClipChecklistLabeller(backbone, name=name)
    return labeller


def images_label(
    *, labeller: str, questions: Mapping[int, Sequence[LabelQuestion]]
) -> dict[int, list[bool]]:
    """Answers per image id (yes = True), for the done images with a readable file among
    `questions`' keys; others are left out. Reads only: safe to run twice."""
    ids = sorted(questions)
    images = list(Image.objects.filter(pk__in=ids, status=Image.Status.DONE).order_by("pk"))
    if not images:
        return {}
    model = get_labeller(labeller)
    out: dict[int, list[bool]] = {}
    for start in range(0, len(images), SCORE_CHUNK):
        opened = [(image, _open(image)) for image in images[start : start + SCORE_CHUNK]]
        ready = [(image, picture) for image, picture in opened if picture is not None]
        if not ready:
            continue
        said = model.answer(
            [picture for _, picture in ready], [list(questions[image.pk]) for image, _ in ready]
        )
        out.update({image.pk: answers for (image, _), answers in zip(ready, said, strict=True)})
    return out
