"""Prompts once rendered: immutable, like configurations (edit = copy)."""

from __future__ import annotations

from typing import Any

from django.forms.models import model_to_dict

from generation.models import PROMPT_RENDER_FIELDS, Prompt, PromptImmutableError

#: Fields a copy takes over; everything else (id, dates) is the copy's own.
COPIED_FIELDS = (
    "text", "category", "key_terms", "material", "setting", "stone", "background", "style",
    "trigger_token",
)  # fmt: skip


def prompt_copy_fields(*, prompt: Prompt) -> dict[str, Any]:
    """The fields of a new prompt that starts as a copy of `prompt`. Pure read."""
    return model_to_dict(prompt, fields=COPIED_FIELDS)


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


__all__ = ["PromptImmutableError", "prompt_check_editable", "prompt_copy_fields"]
