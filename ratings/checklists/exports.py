"""A checklist study's answers as CSV or JSON lines: people's (under their study pseudonym)
and automatic labellers' (source `labeller:<name>`), one line per image × item × source.
Excluded raters are left out, as in the results."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.http import StreamingHttpResponse

from generation.models import Image
from ratings.checklists.models import ChecklistAnswer, ChecklistImage, ChecklistLabel
from ratings.checklists.services import items_of, study_fields
from ratings.export import EXPORT_FORMATS, column_lines, export_response, rater_pseudonym
from ratings.export.cells import CHUNK
from ratings.models import Study
from ratings.reports import study_configs

COLUMNS: tuple[str, ...] = (
    "study_id", "study", "image_id", "prompt_id", "prompt", "seed", "config_id", "config_label",
    "item", "item_kind", "item_label", "expected", "source", "answer", "response_ms",
    "created_at",
)  # fmt: skip


def answer_records(study: Study) -> Iterator[dict[str, Any]]:
    """One dict per answer, people first, then labellers, in the order they were stored."""
    configs = {cid: info.label for cid, info in study_configs(study=study).items()}
    fields = study_fields(study)
    # The study's images and their items, read once (not once per image as answers arrive).
    images: dict[int, Image] = (
        Image.objects.select_related("prompt")
        .filter(pk__in=ChecklistImage.objects.filter(study=study).values("image_id"))
        .in_bulk()
    )
    items = {pk: {i.key: i for i in items_of(img.prompt, fields)} for pk, img in images.items()}

    def base(image_id: int) -> dict[str, Any]:
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


def answers_response(study: Study, fmt: str) -> StreamingHttpResponse:
    """The streamed download (fmt: csv or jsonl; anything else is a ValueError)."""
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"Unknown export format {fmt!r}: use csv or jsonl.")
    lines = column_lines(answer_records(study), COLUMNS, fmt)
    return export_response(lines, fmt=fmt, filename=f"loupe-study-{study.pk}-checklist.{fmt}")
