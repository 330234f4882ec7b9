"""Writes for studies: creation, launch, comparisons."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from generation.models import GenerationConfig, Image, Prompt
from ratings.designs import design_pairs
from ratings.models import DEFAULT_CRITERIA, Comparison, Criterion, Study


def study_create(
    *,
    name: str,
    prompts: Sequence[Prompt],
    configs: Sequence[GenerationConfig],
    baseline: GenerationConfig | None = None,
    criteria: Sequence[tuple[str, str, str]] = DEFAULT_CRITERIA,
    **fields: Any,
) -> Study:
    with transaction.atomic():
        study = Study(name=name, baseline=baseline, **fields)
        study.full_clean()
        study.save()
        study.prompts.set(prompts)
        study.configs.set(configs)
        Criterion.objects.bulk_create(
            Criterion(study=study, key=key, label=label, question=question, order=i)
            for i, (key, label, question) in enumerate(criteria)
        )
    return study


def comparison_create(*, study: Study, first: Image, second: Image) -> tuple[Comparison, bool]:
    """Get or create the comparison of two images of the same prompt and seed. Safe to rerun."""
    if first.pk == second.pk:
        raise ValidationError("A comparison needs two different images.", code="same_image")
    if first.prompt_id != second.prompt_id or first.seed != second.seed:
        raise ValidationError(
            "Both images of a comparison must share prompt and seed (only the config differs).",
            code="unpaired",
        )
    low, high = sorted((first, second), key=lambda image: image.pk)
    return Comparison.objects.get_or_create(
        study=study,
        image_a=low,
        image_b=high,
        defaults={"prompt_id": low.prompt_id, "seed": low.seed},
    )


def study_launch_problems(study: Study) -> list[str]:
    problems = []
    if not study.prompts.exists():
        problems.append("The study has no prompts: add at least one.")
    if study.configs.count() < 2:
        problems.append("The study needs at least two configurations to compare.")
    if study.seeds_per_prompt < 1:
        problems.append("The study needs at least one seed per prompt.")
    if study.design == Study.Design.VS_BASELINE and (
        study.baseline_id is None or not study.configs.filter(pk=study.baseline_id).exists()
    ):
        problems.append("The 'each vs baseline' design needs a baseline among its configurations.")
    if study.status == Study.Status.CLOSED:
        problems.append("The study is closed.")
    return problems


@dataclass(frozen=True)
class LaunchResult:
    images_created: int
    images_reused: int
    comparisons_created: int


def study_launch(*, study: Study) -> LaunchResult:
    """Create the study's Images and Comparisons and enqueue rendering after commit.

    Safe to run twice: existing images and comparisons are reused, nothing is duplicated.
    """
    problems = study_launch_problems(study)
    if problems:
        raise ValidationError(problems)
    configs = list(study.configs.prefetch_related("adapter_links__adapter"))
    params = {
        c.pk: {
            **c.params(),
            "adapters": tuple((a.adapter.sha256, a.scale) for a in c.adapter_links.all()),
        }
        for c in configs
    }
    pairs = design_pairs(
        design=study.design,
        config_ids=[c.pk for c in configs],
        params=params,
        baseline_id=study.baseline_id,
    )
    wanted_configs = sorted({cid for pair in pairs for cid in pair})
    created = reused = comparisons = 0
    with transaction.atomic():
        for prompt in study.prompts.all():
            for seed in study.seeds():
                images: dict[int, Image] = {}
                for config_id in wanted_configs:
                    image, was_created = Image.objects.get_or_create(
                        config_id=config_id, prompt=prompt, seed=seed
                    )
                    images[config_id] = image
                    created += was_created
                    reused += not was_created
                for a, b in pairs:
                    _, was_created = comparison_create(
                        study=study, first=images[a], second=images[b]
                    )
                    comparisons += was_created
        if study.status == Study.Status.DRAFT:
            study.status = Study.Status.RENDERING
            study.launched_at = timezone.now()
            study.save(update_fields=["status", "launched_at"])
        transaction.on_commit(_enqueue_rendering)
    return LaunchResult(created, reused, comparisons)


def _enqueue_rendering() -> None:
    from generation.services.rendering import images_dispatch

    images_dispatch()
