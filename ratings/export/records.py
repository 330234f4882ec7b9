"""The judgments to export, read in chunks: one plain dict per judgment when iterated."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any, NamedTuple

from django.db.models import Q, TextField
from django.db.models.functions import Cast

from generation.models import Image, Prompt
from ratings.export.cells import CHUNK, rater_pseudonym, recipe_cells, tags_of
from ratings.models import Comparison, Criterion, Study
from ratings.reports import ConfigInfo, study_configs, study_judgments


class Row(NamedTuple):
    """One judgment as JudgmentRecords._rows reads it (the order of its values_list)."""

    comparison_id: int
    is_gold: bool
    prompt_id: int
    seed: int
    criterion_id: int
    rater_id: int
    image_a: int
    image_b: int
    left_id: int
    outcome: str
    winner_id: int | None
    tags: str | None
    response_ms: int | None
    flagged_fast: bool
    is_repeat: bool
    created_at: datetime
    a_prompt: str | None
    a_negative_prompt: str | None
    a_seed: int | None
    a_versions: dict[str, str] | None
    b_prompt: str | None
    b_negative_prompt: str | None
    b_seed: int | None
    b_versions: dict[str, str] | None


class JudgmentRecords:
    """The judgments to export (first votes and repeats), oldest first; read when iterated.

    Iterating gives one plain dict per judgment. csv_lines and jsonl_lines read the rows
    underneath instead and write each line straight from them, with what repeats from row to
    row (configurations, prompts, criteria, pseudonyms) rendered once: the same text as
    writing the dicts, several times faster.
    """

    def __init__(self, *, study: Study, criterion: Criterion | None = None) -> None:
        self.study = study
        self.criterion = criterion

    def lookups(
        self,
    ) -> tuple[dict[int, ConfigInfo], dict[int, str], dict[int, str], dict[int, int]]:
        """Configurations, prompt texts, criterion keys, and each image's configuration."""
        comparisons = Comparison.objects.filter(study=self.study)
        configs = study_configs(study=self.study)
        prompts = dict(
            Prompt.objects.filter(pk__in=comparisons.values("prompt_id")).values_list("pk", "text")
        )
        criteria = dict(Criterion.objects.filter(study=self.study).values_list("pk", "key"))
        images = dict(
            Image.objects.filter(
                Q(pk__in=comparisons.values("image_a_id"))
                | Q(pk__in=comparisons.values("image_b_id"))
            ).values_list("pk", "config_id")
        )
        return configs, prompts, criteria, images

    def rows(self) -> Iterator[tuple[Any, ...]]:
        rows = (
            study_judgments(study=self.study, criterion=self.criterion, repeats=True)
            # Tags as their JSON text: almost all are "[]", which needs no parsing.
            .annotate(tags_text=Cast("tags", TextField()))
            .values_list(
                "comparison_id",
                "comparison__is_gold",
                "comparison__prompt_id",
                "comparison__seed",
                "criterion_id",
                "rater_id",
                "comparison__image_a_id",
                "comparison__image_b_id",
                "presentation__left_id",
                "outcome",
                "winner_id",
                "tags_text",
                "response_ms",
                "flagged_fast",
                "is_repeat",
                "created_at",
                "comparison__image_a__params__prompt",
                "comparison__image_a__params__negative_prompt",
                "comparison__image_a__params__seed",
                "comparison__image_a__versions",
                "comparison__image_b__params__prompt",
                "comparison__image_b__params__negative_prompt",
                "comparison__image_b__params__seed",
                "comparison__image_b__versions",
            )
            .order_by("id")
        )
        return rows.iterator(chunk_size=CHUNK)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        study = self.study
        configs, prompts, criteria, images = self.lookups()
        pseudonyms: dict[int, str] = {}
        for row in map(Row._make, self.rows()):
            if row.rater_id not in pseudonyms:
                pseudonyms[row.rater_id] = rater_pseudonym(study_id=study.pk, rater_id=row.rater_id)
            image_a, image_b = row.image_a, row.image_b
            config_a, config_b = images[image_a], images[image_b]
            side: dict[int | None, str] = {image_a: "a", image_b: "b"}
            configs_of: dict[int | None, int] = {image_a: config_a, image_b: config_b}
            yield {
                "study_id": study.pk,
                "study": study.name,
                "comparison_id": row.comparison_id,
                "is_gold": row.is_gold,
                "prompt_id": row.prompt_id,
                "prompt": prompts.get(row.prompt_id, ""),
                "seed": row.seed,
                "criterion": criteria.get(row.criterion_id, ""),
                "rater": pseudonyms[row.rater_id],
                "config_a": configs[config_a],
                "config_b": configs[config_b],
                "image_a_id": image_a,
                "image_b_id": image_b,
                **recipe_cells(
                    "a", row.a_prompt, row.a_negative_prompt, row.a_seed, row.a_versions
                ),
                **recipe_cells(
                    "b", row.b_prompt, row.b_negative_prompt, row.b_seed, row.b_versions
                ),
                "left": side.get(row.left_id, ""),
                "left_image_id": row.left_id,
                "left_config_id": config_a if row.left_id == image_a else config_b,
                "outcome": row.outcome,
                "winner": side.get(row.winner_id, ""),
                "winner_config_id": configs_of.get(row.winner_id),
                "tags": tags_of(row.tags),
                "response_ms": row.response_ms,
                "flagged_fast": row.flagged_fast,
                "is_repeat": row.is_repeat,
                "created_at": row.created_at.isoformat(),
            }


def judgment_records(*, study: Study, criterion: Criterion | None = None) -> JudgmentRecords:
    """One plain dict per judgment (first votes and repeats), oldest first, when iterated."""
    return JudgmentRecords(study=study, criterion=criterion)
