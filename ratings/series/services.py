"""Writes for series studies: a pairwise study whose configurations are a series' checkpoints."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.core.exceptions import ValidationError

from generation.models import CheckpointSeries, Prompt
from generation.services.series import series_configs
from ratings.models import Study
from ratings.services.studies import study_create


def series_study_create(
    *,
    series: CheckpointSeries,
    name: str,
    prompts: Sequence[Prompt],
    **fields: Any,
) -> Study:
    """A draft pairwise study comparing every pair of the series' checkpoints, on the same
    prompts and seeds, linked to the series (its result plots strength against step).
    The first checkpoint is the baseline. Not safe to run twice: each run is a new study."""
    configs = series_configs(series)
    if len(configs) < 2:
        raise ValidationError({"series": "The series needs at least two checkpoints."})
    if not prompts:
        raise ValidationError({"prompts": "Choose at least one prompt."})
    fields.setdefault("design", Study.Design.ALL_PAIRS)
    return study_create(
        name=name,
        prompts=prompts,
        configs=configs,
        baseline=configs[0],
        series=series,
        kind=Study.Kind.PAIRWISE,
        **fields,
    )
