from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from generation.validation import compel_syntax_error, validate_prompt_text, validate_size


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("(channel-set)1.2 diamond band", None),
        ("a [vintage] ring", None),
        ('"huggie hoops" small', None),
        ("((threader earrings)", "Unbalanced '(' at position 1: it is never closed."),
        ("threader earrings)", "Unbalanced ')' at position 18: nothing open to close."),
        ("a (ring]", "Unbalanced ']' at position 8: nothing open to close."),
        ('a "ring', "Unterminated quote opened at position 3."),
    ],
)
def test_compel_syntax_error_reports_position(text: str, expected: str | None) -> None:
    assert compel_syntax_error(text) == expected


def test_validate_prompt_text_rejects_empty_and_unbalanced() -> None:
    with pytest.raises(ValidationError, match="must not be empty"):
        validate_prompt_text("   ")
    with pytest.raises(ValidationError, match="position 6"):
        validate_prompt_text("ring (gold")


@pytest.mark.parametrize("value", [255, 1032, 300, 0])
def test_validate_size_rejects(value: int) -> None:
    with pytest.raises(ValidationError, match="multiples of 8 between 256 and 1024"):
        validate_size(value)


@pytest.mark.parametrize("value", [256, 512, 1024, 768])
def test_validate_size_accepts(value: int) -> None:
    validate_size(value)
