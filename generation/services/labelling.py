"""Checklist labellers on the workers: a CLIP scorer of LOUPE_SCORERS answers yes or no to
each item of an image (generation.engine.labellers). Items come in as plain text; what they
mean to a study is the caller's business (ratings.checklists)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from generation.constants import metric_kind
from generation.models import Image
from generation.services.scoring import configured_metrics, get_scorer, readable_chunks

if TYPE_CHECKING:
    from generation.engine.labellers import ClipChecklistLabeller

#: A question: the text that means yes, and the texts it must beat.
LabelQuestion = tuple[str, Sequence[str]]


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
    """A labeller over the CLIP model of the scorer `name` (get_scorer's, loaded once per
    worker process and shared with the scorers)."""
    problem = labeller_problem(name)
    if problem:
        raise ValueError(problem)
    from generation.engine.labellers import ClipChecklistLabeller

    scorer = get_scorer(name, configured_metrics()[name])
    return ClipChecklistLabeller(scorer.backbone, name=name)  # type: ignore[attr-defined]


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
    for ready in readable_chunks(images):
        said = model.answer(
            [picture for _, picture in ready], [list(questions[image.pk]) for image, _ in ready]
        )
        out.update({image.pk: answers for (image, _), answers in zip(ready, said, strict=True)})
    return out
