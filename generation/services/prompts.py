"""Writes for prompts: create, CSV import, and copy/edit rules once rendered (edit = copy)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.forms.models import model_to_dict

from generation.models import PROMPT_FIELDS, PROMPT_RENDER_FIELDS, Prompt, PromptImmutableError
from generation.validation import split_key_terms


def prompt_copy_fields(*, prompt: Prompt) -> dict[str, Any]:
    """The fields of a new prompt that starts as a copy of `prompt` (everything else, the id
    and dates, is the copy's own). Pure read."""
    return model_to_dict(prompt, fields=PROMPT_FIELDS)


def prompt_check_editable(*, prompt: Prompt, changes: dict[str, Any]) -> None:
    """Raise PromptImmutableError when `changes` touch what a rendered image was made from.
    Read-only: safe to run any number of times."""
    if prompt.pk is None:
        return
    touched = [
        field
        for field, value in changes.items()
        if field in PROMPT_RENDER_FIELDS and getattr(prompt, field) != value
    ]
    if touched and prompt.has_rendered():
        raise prompt.immutable_error()


def prompt_create(
    *, text: str, category: str, key_terms: Iterable[str] = (), **attributes: str
) -> Prompt:
    prompt = Prompt(text=text, category=category, key_terms=list(key_terms), **attributes)
    prompt.full_clean()
    prompt.save()
    return prompt


PROMPT_CSV_COLUMNS = tuple(f for f in PROMPT_FIELDS if f != "trigger_token")

PROMPT_CSV_OPTIONAL = frozenset(PROMPT_CSV_COLUMNS) - {"text", "category"} | {"trigger_token"}

#: The import's columns in words, for the pages that explain it.
PROMPT_CSV_HELP = (
    f"The header row names the columns: {', '.join(PROMPT_CSV_COLUMNS)}, and trigger_token "
    "for a prompt that brings its own LoRA trigger. text and category are required; key terms "
    "are separated by semicolons."
)


def prompts_import_csv(*, text: str) -> list[Prompt]:
    """Create one prompt per CSV row, all or nothing. Safe to run twice only in the sense
    that it never half-imports: running it twice imports the rows twice.

    The header names the columns (text and category required; key terms separated by ';').
    Raises ValidationError listing every bad row as "Line N: field: message".
    """
    if text.startswith("\ufeff"):
        text = text[1:]
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip().lower().replace(" ", "_") for h in (reader.fieldnames or [])]
    missing = [c for c in ("text", "category") if c not in header]
    if missing:
        raise ValidationError(
            f"Line 1: the header must name the columns {', '.join(PROMPT_CSV_COLUMNS)} "
            f"(missing: {', '.join(missing)}).",
            code="csv_header",
        )
    unknown = [h for h in header if h not in PROMPT_CSV_COLUMNS and h not in PROMPT_CSV_OPTIONAL]
    if unknown:
        raise ValidationError(
            f"Line 1: unknown column(s) {', '.join(unknown)}; "
            f"known columns: {', '.join(PROMPT_CSV_COLUMNS)}, trigger_token.",
            code="csv_header",
        )
    reader.fieldnames = header
    prompts: list[Prompt] = []
    errors: list[str] = []
    for row in reader:
        line = reader.line_num
        if None in row:
            errors.append(f"Line {line}: more values than columns in the header.")
            continue
        values = {k: (v or "").strip() for k, v in row.items()}
        if not any(values.values()):
            continue
        prompt = Prompt(
            text=values.pop("text"),
            category=values.pop("category"),
            key_terms=split_key_terms(values.pop("key_terms", "")),
            **values,
        )
        try:
            prompt.full_clean()
        except ValidationError as error:
            for field, messages in error.message_dict.items():
                errors.extend(f"Line {line}: {field}: {m}" for m in messages)
            continue
        prompts.append(prompt)
    if errors:
        raise ValidationError(errors, code="csv_rows")
    if not prompts:
        raise ValidationError("The file has a header but no prompts.", code="csv_empty")
    with transaction.atomic():
        for prompt in prompts:
            prompt.save()
    return prompts


__all__ = [
    "PROMPT_CSV_COLUMNS",
    "PromptImmutableError",
    "prompt_check_editable",
    "prompt_copy_fields",
    "prompt_create",
    "prompts_import_csv",
]
