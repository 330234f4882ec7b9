"""Validation rules with the messages users see — the same text in forms, admin and API."""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Collection

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files import File
from django.db import models
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
cfg_validators = [
    InRange(CFG_MIN, CFG_MAX, f"CFG scale must be between {CFG_MIN:g} and {CFG_MAX:g}.")
]
scale_validators = [
    InRange(SCALE_MIN, SCALE_MAX, f"Adapter scale must be between {SCALE_MIN:g} and {SCALE_MAX:g}.")
]
#: Seeds per prompt of a study (and of the builder's preview of one).
SEEDS_PER_PROMPT_MAX = 64
seeds_per_prompt_validators = [
    InRange(
        1, SEEDS_PER_PROMPT_MAX, f"Seeds per prompt must be between 1 and {SEEDS_PER_PROMPT_MAX}."
    )
]
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


# Also the models' `invalid_choice` messages, so a choice field says what the validator says.
UNKNOWN_SAMPLER = f"Unknown sampler %(value)r: choose one of {', '.join(SAMPLERS)}."
UNKNOWN_COMPEL_LEVEL = f"Compel level must be one of {', '.join(COMPEL_WEIGHTS)} (got %(value)r)."


def validate_sampler(value: str) -> None:
    if value not in SAMPLERS:
        raise ValidationError(UNKNOWN_SAMPLER, code="sampler", params={"value": value})


def validate_compel_level(value: str) -> None:
    if value not in COMPEL_WEIGHTS:
        raise ValidationError(UNKNOWN_COMPEL_LEVEL, code="compel_level", params={"value": value})


_CLOSERS = {")": "(", "]": "["}
# Characters compel's parser reads neither as text nor as a separator (pyparsing skips only
# " \t\r\n"; compel's words stop at every character of string.whitespace).
_UNREADABLE = {"\x0b": "vertical tab", "\x0c": "form feed"}
# Compel's syntax characters: a backslash before one of them makes it plain text.
_ESCAPABLE = frozenset('()",.+-=')
# `(targets).blend(weights)` and `(targets).and(weights)`; pyparsing allows spaces between.
_OPERATOR = re.compile(r"\)[ \t\r\n]*\.(blend|and|add)[ \t\r\n]*\(")
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def compel_syntax_error(text: str) -> str | None:
    """Return why `text` is not valid compel prompt syntax, or None if it is.

    Checks what breaks compel's parser in practice: unbalanced ( ) [ ], unterminated quotes,
    characters it cannot read, and `.blend()` / `.and()` whose weights compel cannot use.
    Positions are 1-based characters so a person can find them.
    """
    stack: list[tuple[str, int]] = []
    partner: dict[int, int] = {}  # 0-based index of each paren of syntax -> its partner
    commas: list[int] = []  # 0-based indexes of commas of syntax (outside quotes, unescaped)
    quote_at: int | None = None
    escaped = False
    for index, char in enumerate(text, start=1):
        if char in _UNREADABLE:
            return (
                f"Unreadable {_UNREADABLE[char]} character at position {index}: "
                "compel cannot parse it; use a space."
            )
        if quote_at is not None:
            if char == '"' and text[index - 2] != "\\":
                quote_at = None
            continue
        if escaped:
            escaped = False
            continue
        if char == "\\" and text[index : index + 1] in _ESCAPABLE:
            escaped = True
        elif char == '"':
            quote_at = index
        elif char == ",":
            commas.append(index - 1)
        elif char in "([":
            stack.append((char, index))
        elif char in _CLOSERS:
            if not stack or stack[-1][0] != _CLOSERS[char]:
                return f"Unbalanced {char!r} at position {index}: nothing open to close."
            _, opened = stack.pop()
            partner[opened - 1], partner[index - 1] = index - 1, opened - 1
    if quote_at is not None:
        return f"Unterminated quote opened at position {quote_at}."
    if stack:
        char, index = stack[-1]
        return f"Unbalanced {char!r} at position {index}: it is never closed."
    for match in _OPERATOR.finditer(text):
        problem = _operator_error(text, match, partner, commas)
        if problem:
            return problem
    return None


def _top_level_parts(
    text: str, start: int, end: int, partner: dict[int, int], commas: list[int]
) -> list[str]:
    """The comma-separated parts of text[start:end], not counting commas in nested ( )."""
    cuts = [start - 1]
    index = start
    while index < end:
        if text[index] in "([" and index in partner:
            index = partner[index]
        elif index in commas:
            cuts.append(index)
        index += 1
    cuts.append(end)
    parts = [text[a + 1 : b].strip() for a, b in zip(cuts, cuts[1:], strict=False)]
    return [] if parts == [""] else parts


def _operator_error(
    text: str, match: re.Match[str], partner: dict[int, int], commas: list[int]
) -> str | None:
    close, operator_open = match.start(), match.end() - 1
    if close not in partner or operator_open not in partner:
        return None  # inside quotes or escaped: plain text to compel
    operator = match.group(1)
    opened, closed = partner[close], partner[operator_open]
    if text[:opened].strip():
        return (
            f"Compel's .{operator}() must be the whole prompt: the list it combines opens at "
            f"position {opened + 1}, after other text."
        )
    if text[closed + 1 :].strip():
        return (
            f"Compel's .{operator}() must be the whole prompt: nothing may follow the ')' at "
            f"position {closed + 1}."
        )
    targets = _top_level_parts(text, opened + 1, close, partner, commas)
    weights = _top_level_parts(text, operator_open + 1, closed, partner, commas)
    if operator == "blend" and weights and weights[-1] == "no_normalize":
        weights = weights[:-1]
    if operator == "blend" and ".swap" in text[opened:close]:
        return (
            f"Compel cannot .swap() inside a .blend(): see the list opening at position "
            f"{opened + 1}."
        )
    if not all(_NUMBER.fullmatch(w) for w in weights):
        extra = " (optionally ending in no_normalize)" if operator == "blend" else ""
        return (
            f"The weights of .{operator}() at position {operator_open + 1} must be numbers"
            f"{extra}, separated by commas."
        )
    if weights and len(weights) != len(targets):
        return (
            f"The .{operator}() at position {operator_open + 1} gives {len(weights)} weight(s) "
            f"for {len(targets)} prompt(s): give one per prompt, or none."
        )
    return None


#: Longest prompt or negative prompt: SD 1.5 reads 77 tokens at a time (compel joins chunks),
#: so a thousand characters is several chunks more than any prompt in the research used.
PROMPT_MAX_CHARS = 1000
KEY_TERMS_MAX, KEY_TERM_MAX_CHARS = 32, 100
#: Any other free text kept in a TextField (study instructions, reasons).
FREE_TEXT_MAX_CHARS = 20_000


def _at_most(value: str, limit: int, what: str) -> None:
    if len(value) > limit:
        raise ValidationError(
            f"{what} must be at most {limit} characters (it has {len(value)}).", code="max_length"
        )


def validate_prompt_text(value: str) -> None:
    if not value or not value.strip():
        raise ValidationError("The prompt must not be empty.", code="empty")
    _at_most(value, PROMPT_MAX_CHARS, "The prompt")
    problem = compel_syntax_error(value)
    if problem:
        raise ValidationError(f"Prompt syntax: {problem}", code="compel_syntax")


def validate_negative_prompt(value: str) -> None:
    _at_most(value or "", PROMPT_MAX_CHARS, "The negative prompt")
    problem = compel_syntax_error(value or "")
    if problem:
        raise ValidationError(f"Negative prompt syntax: {problem}", code="compel_syntax")


def split_key_terms(value: str) -> list[str]:
    """Key terms as typed in a form or a CSV cell: separated by ';' or new lines, trimmed."""
    return [t.strip() for t in value.replace("\n", ";").split(";") if t.strip()]


def validate_key_terms(value: object) -> None:
    if not isinstance(value, list) or not all(isinstance(t, str) and t.strip() for t in value):
        raise ValidationError("Key terms must be a list of non-empty phrases.", code="key_terms")
    if len(value) > KEY_TERMS_MAX:
        raise ValidationError(
            f"Give at most {KEY_TERMS_MAX} key terms (there are {len(value)}).", code="max_length"
        )
    for term in value:
        _at_most(term, KEY_TERM_MAX_CHARS, f"Key term {term[:20]!r}…")


# The wording forms and DRF use for the same two problems.
NULL_CHARACTERS = "Null characters are not allowed."
FLOAT_OVERFLOW = "Integer value too large to convert to float."


def _has_null(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_null(k) or _has_null(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_has_null(v) for v in value)
    return False


def clean_fields_strictly(
    instance: models.Model,
    exclude: Collection[str] | None,
    clean_fields: Callable[[Collection[str] | None], None],
) -> None:
    """`Model.clean_fields`, plus the inputs Django lets through to crash later: None in a
    blank-but-not-null field, an int too large for a float (FloatField.to_python raises
    OverflowError) and NUL characters in text or JSON, which PostgreSQL refuses on save.
    All become field errors instead.
    """
    skip = set(exclude or ())
    errors: dict[str, list[ValidationError]] = {}
    for field in instance._meta.concrete_fields:
        if field.name in skip or field.primary_key:
            continue
        value = getattr(instance, field.attname)
        if value is None and field.blank and not field.null and field.editable:
            # Django skips blank fields holding None, and the NOT NULL constraint fails on save.
            errors[field.name] = [ValidationError(field.error_messages["null"], code="null")]
        elif isinstance(field, models.FloatField) and isinstance(value, int):
            try:
                float(value)
            except OverflowError:
                errors[field.name] = [ValidationError(FLOAT_OVERFLOW, code="overflow")]
        elif isinstance(field, models.CharField | models.TextField | models.JSONField):
            if _has_null(value):
                errors[field.name] = [ValidationError(NULL_CHARACTERS, code="null_characters")]
            elif (
                isinstance(field, models.TextField)
                and isinstance(value, str)
                and len(value) > FREE_TEXT_MAX_CHARS
            ):
                errors[field.name] = [ValidationError(
                    f"At most {FREE_TEXT_MAX_CHARS} characters (it has {len(value)}).",
                    code="max_length",
                )]  # fmt: skip
    try:
        clean_fields(skip | set(errors))
    except ValidationError as error:
        errors = error.update_error_dict(errors)
    if errors:
        raise ValidationError(errors)


def validate_upload_size(upload: File) -> None:
    """Refuse a file over LOUPE_MAX_UPLOAD_MB, from the size Django measured: nothing is read."""
    if getattr(upload, "_committed", False):
        return  # a file stored earlier, checked when it came in
    limit_mb = settings.LOUPE_MAX_UPLOAD_MB
    size = upload.size
    if size is not None and size > limit_mb * 1024 * 1024:
        raise ValidationError(
            f"The file is {size / 2**20:.1f} MB; uploads are limited to {limit_mb} MB "
            "(LOUPE_MAX_UPLOAD_MB).",
            code="file_too_large",
        )


def validate_image_pixels(image: File) -> None:
    """Refuse an image over LOUPE_MAX_IMAGE_PIXELS from its header alone (nothing is decoded),
    so that a decompression bomb is turned away with a message. Files Pillow cannot identify
    are left to the image field's own check.
    """
    if getattr(image, "_committed", False):
        return  # a file stored earlier, checked when it came in
    from PIL import Image

    limit = settings.LOUPE_MAX_IMAGE_PIXELS
    size: tuple[int, int] | None = None
    try:
        image.seek(0)
        with warnings.catch_warnings():
            # Pillow warns past its own bound and raises past twice that; we decide here.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(image) as opened:
                size = opened.size
    except Image.DecompressionBombError:
        pass  # larger than Pillow will even describe: far past any sane limit
    except Exception:  # noqa: BLE001 - not an image Pillow knows: the field's check says so
        return
    finally:
        image.seek(0)
    if size is not None and size[0] * size[1] <= limit:
        return
    shown = f"{size[0]} × {size[1]} pixels" if size else "larger than Pillow will open"
    raise ValidationError(
        f"The image is {shown}; images are limited to {limit / 1e6:g} megapixels "
        "(LOUPE_MAX_IMAGE_PIXELS), which also keeps out decompression bombs.",
        code="image_too_large",
    )
