"""A checklist study's answers as CSV or JSON lines: people's (under their study pseudonym)
and automatic labellers' (source `labeller:<name>`), one line per image × item × source.
Excluded raters are left out, as in the results."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from typing import Any

from django.http import StreamingHttpResponse

from generation.models import Image
from ratings.checklists.models import ChecklistAnswer, ChecklistLabel
from ratings.checklists.services import items_of, study_fields
from ratings.export import encoded_chunks, neutralise, rater_pseudonym
from ratings.export.cells import CHUNK, LineWriter
from ratings.models import Study
from ratings.reports import study_configs

COLUMNS: tuple[str, ...] = (
    "study_id", "study", "image_id", "prompt_id", "prompt", "seed", "config_id", "config_label",
    "item", "item_kind", "item_label", "expected", "source", "answer", "response_ms",
    "created_at",
)  # fmt: skip
FORMATS = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson; charset=utf-8"}


def answer_records(study: Study) -> Iterator[dict[str, Any]]:
    """One dict per answer, people first, then labellers, in the order they were stored."""
    configs = {cid: info.label for cid, info in study_configs(study=study).items()}
    fields = study_fields(study)
    images: dict[int, Image] = {}
    items: dict[int, dict[str, Any]] = {}

    def base(image_id: int) -> dict[str, Any]:
        if image_id not in images:
            image = Image.objects.select_related("prompt").get(pk=image_id)
            images[image_id] = image
            items[image_id] = {i.key: i for i in items_of(image.prompt, fields)}
        image = images[image_id]
        return {
            "study_id": study.pk,
            "study": study.name,
            "image_id": image.pk,
            "prompt_id": image.prompt_id,
            "prompt": image.prompt.text,
            "seed": image.seed,
            "config_id": image.config_id,
            "config_label": configs.get(image.config_id, ""),
        }

    def record(
        image_id: int, key: str, source: str, answer: str, ms: Any, at: Any
    ) -> dict[str, Any]:
        out = base(image_id)
        item = items[image_id].get(key)
        out.update(
            item=key,
            item_kind=item.kind if item else "",
            item_label=item.label if item else "",
            expected=item.expected if item else "",
            source=source,
            answer=answer,
            response_ms=ms,
            created_at=at.isoformat(),
        )
        return out

    people = (
        ChecklistAnswer.objects.filter(study=study)
        .exclude(rater__in=study.excluded_raters.values("pk"))
        .order_by("id")
        .values_list("image_id", "item", "rater_id", "answer", "response_ms", "created_at")
    )
    for image_id, key, rater_id, answer, ms, at in people.iterator(chunk_size=CHUNK):
        who = rater_pseudonym(study_id=study.pk, rater_id=rater_id)
        yield record(image_id, key, who, answer, ms, at)
    labels = (
        ChecklistLabel.objects.filter(study=study)
        .order_by("id")
        .values_list("image_id", "item", "labeller", "answer", "created_at")
    )
    for image_id, key, name, answer, at in labels.iterator(chunk_size=CHUNK):
        yield record(image_id, key, f"labeller:{name}", answer, None, at)


def csv_lines(records: Iterator[dict[str, Any]]) -> Iterator[str]:
    writer = csv.writer(LineWriter())
    yield writer.writerow(COLUMNS)
    for record in records:
        yield writer.writerow([neutralise(record[c]) for c in COLUMNS])


def jsonl_lines(records: Iterator[dict[str, Any]]) -> Iterator[str]:
    for record in records:
        yield json.dumps(record, ensure_ascii=False, default=str) + "\n"


def answers_response(study: Study, fmt: str) -> StreamingHttpResponse:
    """The streamed download (fmt: csv or jsonl; anything else is a ValueError)."""
    if fmt not in FORMATS:
        raise ValueError(f"Unknown export format {fmt!r}: use csv or jsonl.")
    records = answer_records(study)
    lines = csv_lines(records) if fmt == "csv" else jsonl_lines(records)
    response = StreamingHttpResponse(encoded_chunks(lines), content_type=FORMATS[fmt])
    response["Content-Disposition"] = (
        f'attachment; filename="loupe-study-{study.pk}-checklist.{fmt}"'
    )
    response["Cache-Control"] = "no-store"
    return response
