"""Zero-shot checklist labellers: CLIP answers yes or no to each item of an image.

An item is a text that means "yes" and the texts it must beat (for a key term, the bare
"a photo"; for a schema field, the field's other allowed values). The answer is yes when the
image's embedding is closer to the "yes" text than to every other one.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from PIL.Image import Image

from .scorers import ClipBackbone

#: One item: the text that means yes, and the texts it must beat.
Question = tuple[str, Sequence[str]]


class ClipChecklistLabeller:
    """Answers checklists with a CLIP model's image–text similarity (no training)."""

    def __init__(self, backbone: ClipBackbone, *, name: str = "clip") -> None:
        self.name = name
        self.backbone = backbone

    def answer(self, images: list[Image], questions: list[list[Question]]) -> list[list[bool]]:
        """One list of yes (True) / no (False) per image, one per question, in order."""
        if len(images) != len(questions):
            raise ValueError(
                f"Got {len(images)} images but {len(questions)} question lists: one per image."
            )
        if not images:
            return []
        texts = sorted({t for qs in questions for yes, others in qs for t in (yes, *others)})
        if not texts:
            return [[] for _ in images]
        index = {t: i for i, t in enumerate(texts)}
        with torch.inference_mode():
            similarity = (
                self.backbone.image_embeddings(images) @ self.backbone.text_embeddings(texts).T
            )
        out: list[list[bool]] = []
        for row, qs in zip(similarity, questions, strict=True):
            out.append(
                [bool(all(row[index[yes]] > row[index[o]] for o in others)) for yes, others in qs]
            )
        return out
