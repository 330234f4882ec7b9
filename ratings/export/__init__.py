"""Streaming export of judgments as CSV and JSON lines, in constant memory.

Rows are read from the database in chunks and written one at a time; configurations,
prompts, criteria and each image's configuration (a few hundred rows at most) are looked up
from small dictionaries. csv_lines and jsonl_lines write the lines of judgment_records
straight from the rows, with what repeats between rows rendered once (per configuration,
prompt, rater, and per comparison for at most _COMPARISON_CACHE comparisons at a time), so
memory stays flat whatever the number of judgments. Excluded raters are left out, as
everywhere in the analysis. Raters appear under a pseudonym that is stable within a study
and reveals nothing without the server's key.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from django.http import StreamingHttpResponse

from ratings.export.cells import (
    COLUMNS,
    LineWriter,
    flat_cells,
    neutralise,
    rater_pseudonym,
    versions_text,
)
from ratings.export.fast import fast_lines
from ratings.export.records import JudgmentRecords, judgment_records
from ratings.models import Criterion, Study
from ratings.reports import ConfigInfo

__all__ = [
    "COLUMNS",
    "JudgmentRecords",
    "column_lines",
    "csv_lines",
    "encoded_chunks",
    "export_filename",
    "judgment_records",
    "jsonl_lines",
    "neutralise",
    "rater_pseudonym",
    "versions_text",
]


def csv_lines(records: Iterable[dict[str, Any]]) -> Iterator[str]:
    writer = csv.writer(LineWriter())
    yield writer.writerow(COLUMNS)
    if isinstance(records, JudgmentRecords):
        yield from fast_lines(records, "csv")
        return
    for record in records:
        yield writer.writerow(flat_cells(record))


def jsonl_lines(records: Iterable[dict[str, Any]]) -> Iterator[str]:
    if isinstance(records, JudgmentRecords):
        yield from fast_lines(records, "jsonl")
        return
    for record in records:
        out = dict(record)
        for side in ("config_a", "config_b"):
            info: ConfigInfo = out.pop(side)
            out[side] = {"id": info.id, "label": info.label, **info.params}
        yield json.dumps(out, ensure_ascii=False, default=str) + "\n"


def column_lines(
    records: Iterable[dict[str, Any]], columns: Sequence[str], fmt: str
) -> Iterator[str]:
    """Flat records (best-of-N judgments, checklist answers) as CSV, `columns` as its header
    and formula-like cells neutralised, or as JSON lines holding those keys in that order."""
    if fmt == "jsonl":
        for record in records:
            out = {c: record[c] for c in columns}
            yield json.dumps(out, ensure_ascii=False, default=str) + "\n"
        return
    writer = csv.writer(LineWriter())
    yield writer.writerow(columns)
    for record in records:
        yield writer.writerow([neutralise(record[c]) for c in columns])


def encoded_chunks(lines: Iterable[str], size: int = 64 * 1024) -> Iterator[bytes]:
    """Lines joined into UTF-8 chunks of about `size` characters: a response writes a few
    large pieces instead of one small piece per judgment."""
    batch: list[str] = []
    length = 0
    for line in lines:
        batch.append(line)
        length += len(line)
        if length >= size:
            yield "".join(batch).encode()
            batch.clear()
            length = 0
    if batch:
        yield "".join(batch).encode()


def export_filename(study: Study, criterion: Criterion | None, ext: str) -> str:
    suffix = f"-{criterion.key}" if criterion else ""
    return f"loupe-study-{study.pk}-judgments{suffix}.{ext}"


#: The content type of each export format (judgments, checklist answers, best-of-N judgments).
EXPORT_FORMATS = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson; charset=utf-8"}


def export_response(lines: Iterable[str], *, fmt: str, filename: str) -> StreamingHttpResponse:
    """Export lines streamed as a download in large chunks, never cached (fmt: csv or jsonl)."""
    response = StreamingHttpResponse(
        encoded_chunks(lines), content_type=EXPORT_FORMATS[fmt], charset="utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response
