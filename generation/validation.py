"""Validation rules with the messages users see — the same text in forms, admin and API."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.utils.deconstruct import deconstructible

from generation.constants import COMPEL_WEIGHTS, SAMPLERS

STEPS_MIN, STEPS_MAX = 1, 150
CFG_MIN, CFG_MAX = 1.0, 30.0
SIZE_MIN, SIZE_MAX, SIZE_MULTIPLE = 256, 1024, 8
SCALE_MIN, SCALE_MAX = -2.0, 2.0
SEED_MIN, SEED_MAX = 0, 2**32 - 1


@deconstructible
class InRange:
    """`lo <= value <= hi`, with one message for both ends.

    Deliberately not Min/MaxValueValidator: DRF swaps those for its own wording, and the
    API must say exactly what forms and the admin say.
    """

    def __init__(self, lo: float, hi: float, message: str) -> None:
        self.lo, self.hi, self.message = lo, hi, message

    def __call__(self, value: float) -> None:
        if value is None or not self.lo <= value <= self.hi:
            raise ValidationError(self.message, code="range")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, InRange) and (self.lo, self.hi, self.message) == (
            other.lo,
            other.hi,
            other.message,
        )


steps_validators = [
    InRange(STEPS_MIN, STEPS_MAX, f"Steps must be between {STEPS_MIN} and {STEPS_MAX}.")
]
cfg_validators = [InRange(CFG_MIN, CFG_MAX, "CFG scale must be between 1 and 30.")]
scale_validators = [InRange(SCALE_MIN, SCALE_MAX, "Adapter scale must be between -2 and 2.")]
seed_validators = [
    InRange(SEED_MIN, SEED_MAX, f"Seed must be between 0 and {SEED_MAX} (2^32 - 1).")
]


def validate_size(value: int) -> None:
    if not SIZE_MIN <= value <= SIZE_MAX or value % SIZE_MULTIPLE:
        raise ValidationError(
            f"Width and height must be multiples of {SIZE_MULTIPLE} between "
            f"{SIZE_MIN} and {SIZE_MAX} (got {value}).",
            code="size",
        )


def validate_sampler(value: str) -> None:
    if value not in SAMPLERS:
        raise ValidationError(
            f"Unknown sampler {value!r}: choose one of {', '.join(SAMPLERS)}.", code="sampler"
        )


def validate_compel_level(value: str) -> None:
    if value not in COMPEL_WEIGHTS:
        raise ValidationError(
            f"Compel level must be one of {', '.join(COMPEL_WEIGHTS)} (got {value!r}).",
            code="compel_level",
        )


_CLOSERS = {")": "(", "]": "["}


def compel_syntax_error(text: str) -> str | None:
    """Return why `text` is not valid compel prompt syntax, or None if it is.

    Checks what breaks compel's parser in practice: unbalanced ( ) [ ] and unterminated
    quotes. Positions are 1-based characters so a person can find them.
    """
    stack: list[tuple[str, int]] = []
    quote_at: int | None = None
    for index, char in enumerate(text, start=1):
        if quote_at is not None:
            if char == '"' and text[index - 2] != "\\":
                quote_at = None
            continue
        if char == '"':
            quote_at = index
        elif char in "([":
            stack.append((char, index))
        elif char in _CLOSERS:
            if not stack or stack[-1][0] != _CLOSERS[char]:
                return f"Unbalanced {char!r} at position {index}: nothing open to close."
            stack.pop()
    if quote_at is not None:
        return f"Unterminated quote opened at position {quote_at}."
    if stack:
        char, index = stack[-1]
        return f"Unbalanced {char!r} at position {index}: it is never closed."
    return None


def validate_prompt_text(value: str) -> None:
    if not value or not value.strip():
        raise ValidationError("The prompt must not be empty.", code="empty")
    problem = compel_syntax_error(value)
    if problem:
        raise ValidationError(f"Prompt syntax: {problem}", code="compel_syntax")


def validate_negative_prompt(value: str) -> None:
    problem = compel_syntax_error(value or "")
    if problem:
        raise ValidationError(f"Negative prompt syntax: {problem}", code="compel_syntax")


def validate_key_terms(value: object) -> None:
    if not isinstance(value, list) or not all(isinstance(t, str) and t.strip() for t in value):
        raise ValidationError("Key terms must be a list of non-empty phrases.", code="key_terms")
