"""Streaming export of judgments as CSV and JSON lines, in constant memory.

Rows are read from the database in chunks and written one at a time; configurations,
prompts and criteria (a few hundred rows at most) are looked up from small dictionaries.
Excluded raters are left out, as everywhere in the analysis. Raters appear under a
pseudonym that is stable within a study and reveals nothing without the server's key.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import json
from collections.abc import Iterable, Iterator
from typing import Any

from django.conf import settings

from generation.models import PARAM_FIELDS, Prompt
from ratings.models import Comparison, Criterion, Study
from ratings.reports import ConfigInfo, study_configs, study_judgments

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CHUNK = 2000
PARAM_COLUMNS = (*PARAM_FIELDS, "adapters")
COLUMNS: tuple[str, ...] = (
    "study_id",
    "study",
    "comparison_id",
    "is_gold",
    "prompt_id",
    "prompt",
    "seed",
    "criterion",
    "rater",
    "config_a_id",
    "config_a_label",
    *(f"config_a_{p}" for p in PARAM_COLUMNS),
    "config_b_id",
    "config_b_label",
    *(f"config_b_{p}" for p in PARAM_COLUMNS),
    "image_a_id",
    "image_b_id",
    "left",
    "left_image_id",
    "left_config_id",
    "outcome",
    "winner",
    "winner_config_id",
    "tags",
    "response_ms",
    "flagged_fast",
    "is_repeat",
    "created_at",
)


def rater_pseudonym(*, study_id: int, rater_id: int) -> str:
    """Stable within a study, different across studies, not reversible without SECRET_KEY."""
    digest = hmac.new(
        settings.SECRET_KEY.encode(), f"loupe-rater:{study_id}:{rater_id}".encode(), hashlib.sha256
    ).hexdigest()
    return f"r-{digest[:12]}"


def neutralise(value: Any) -> Any:
    """Defuse spreadsheet formulas: text cells starting with = + - @ (or tab/CR) get a quote."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _adapters_text(adapters: list[dict[str, Any]]) -> str:
    return "; ".join(f"{a['adapter']}×{a['scale']:g}" for a in adapters)


def judgment_records(
    *, study: Study, criterion: Criterion | None = None
) -> Iterator[dict[str, Any]]:
    """One plain dict per judgment (first votes and repeats), oldest first."""
    configs: dict[int, ConfigInfo] = study_configs(study=study)
    prompts = dict(
        Prompt.objects.filter(
            pk__in=Comparison.objects.filter(study=study).values("prompt_id")
        ).values_list("pk", "text")
    )
    criteria = dict(Criterion.objects.filter(study=study).values_list("pk", "key"))
    rows = (
        study_judgments(study=study, criterion=criterion, repeats=True)
        .values_list(
            "comparison_id",
            "comparison__is_gold",
            "comparison__prompt_id",
            "comparison__seed",
            "criterion_id",
            "rater_id",
            "comparison__image_a_id",
            "comparison__image_a__config_id",
            "comparison__image_b_id",
            "comparison__image_b__config_id",
            "presentation__left_id",
            "outcome",
            "winner_id",
            "tags",
            "response_ms",
            "flagged_fast",
            "is_repeat",
            "created_at",
        )
        .order_by("id")
    )
    pseudonyms: dict[int, str] = {}
    for (
        comparison_id,
        is_gold,
        prompt_id,
        seed,
        criterion_id,
        rater_id,
        image_a,
        config_a,
        image_b,
        config_b,
        left_id,
        outcome,
        winner_id,
        tags,
        response_ms,
        flagged_fast,
        is_repeat,
        created_at,
    ) in rows.iterator(chunk_size=CHUNK):
        if rater_id not in pseudonyms:
            pseudonyms[rater_id] = rater_pseudonym(study_id=study.pk, rater_id=rater_id)
        side = {image_a: "a", image_b: "b"}
        yield {
            "study_id": study.pk,
            "study": study.name,
            "comparison_id": comparison_id,
            "is_gold": is_gold,
            "prompt_id": prompt_id,
            "prompt": prompts.get(prompt_id, ""),
            "seed": seed,
            "criterion": criteria.get(criterion_id, ""),
            "rater": pseudonyms[rater_id],
            "config_a": configs[config_a],
            "config_b": configs[config_b],
            "image_a_id": image_a,
            "image_b_id": image_b,
            "left": side.get(left_id, ""),
            "left_image_id": left_id,
            "left_config_id": config_a if left_id == image_a else config_b,
            "outcome": outcome,
            "winner": side.get(winner_id, ""),
            "winner_config_id": {image_a: config_a, image_b: config_b}.get(winner_id),
            "tags": list(tags or []),
            "response_ms": response_ms,
            "flagged_fast": flagged_fast,
            "is_repeat": is_repeat,
            "created_at": created_at.isoformat(),
        }


def _flat(record: dict[str, Any]) -> list[Any]:
    out: list[Any] = []
    for column in COLUMNS:
        if column.startswith(("config_a_", "config_b_")):
            info: ConfigInfo = record[column[:8]]
            key = column[9:]
            if key == "id":
                out.append(info.id)
            elif key == "label":
                out.append(info.label)
            elif key == "adapters":
                out.append(_adapters_text(info.params["adapters"]))
            else:
                out.append(info.params[key])
        elif column == "tags":
            out.append("; ".join(map(str, record["tags"])))
        else:
            out.append(record[column])
    return [neutralise(v) for v in out]


class _Line:
    """A file-like object whose write() hands back what csv.writer wrote."""

    def write(self, value: str) -> str:
        return value


def csv_lines(records: Iterable[dict[str, Any]]) -> Iterator[str]:
    writer = csv.writer(_Line())
    yield writer.writerow(COLUMNS)
    for record in records:
        yield writer.writerow(_flat(record))


def jsonl_lines(records: Iterable[dict[str, Any]]) -> Iterator[str]:
    for record in records:
        out = dict(record)
        for side in ("config_a", "config_b"):
            info: ConfigInfo = out.pop(side)
            out[side] = {"id": info.id, "label": info.label, **info.params}
        yield json.dumps(out, ensure_ascii=False, default=str) + "\n"


def export_filename(study: Study, criterion: Criterion | None, ext: str) -> str:
    suffix = f"-{criterion.key}" if criterion else ""
    return f"loupe-study-{study.pk}-judgments{suffix}.{ext}"
