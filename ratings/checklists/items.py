"""What a checklist asks about one image: pure functions, no ORM.

An image's items are each key term of its prompt ("Does the image show <term>?") and each
schema field whose expected value the prompt states ("<label>: <value>?"). A field is asked only
when the prompt's value of its attribute is one of the field's allowed values: the answer then
says whether the image shows what the prompt asked for, the same yes / no / can't tell as a key
term, so one adherence rate covers both. The allowed values are what an automatic labeller
chooses among.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError

from ratings.checklists.models import FIELD_ATTRIBUTES

TERM = "term"
FIELD = "field"
MAX_FIELDS = 12
MAX_VALUES = 24
MAX_VALUE_CHARS = 80
_LINE = re.compile(
    r"^\s*(?:(?P<label>[^():]+?)\s*\(\s*(?P<attr>[\w-]+)\s*\)|(?P<bare>[\w-]+))\s*:\s*(?P<values>.*)$"
)


@dataclass(frozen=True)
class FieldSpec:
    """A schema field as plain data: the prompt attribute, the label raters read, the values."""

    attribute: str
    label: str
    allowed: tuple[str, ...]


@dataclass(frozen=True)
class Item:
    key: str  # "term:<term>" or "field:<attribute>": the same across images and prompts
    kind: str  # TERM or FIELD
    label: str  # the term, or the field's label
    question: str  # what raters read
    expected: str  # the term, or the value the prompt states
    options: tuple[str, ...] = field(default=())  # a field's allowed values


def term_key(term: str) -> str:
    return f"{TERM}:{' '.join(term.lower().split())}"


def image_items(
    *, key_terms: Sequence[str], attributes: Mapping[str, str], fields: Sequence[FieldSpec]
) -> list[Item]:
    """The items asked about an image whose prompt has these key terms and attribute values."""
    items: list[Item] = []
    seen: set[str] = set()
    for term in key_terms:
        text = " ".join(str(term).split())
        key = term_key(text)
        if not text or key in seen:
            continue
        seen.add(key)
        items.append(Item(key, TERM, text, f"Does the image show {text}?", text))
    for spec in fields:
        stated = " ".join(str(attributes.get(spec.attribute, "")).split()).lower()
        match = next((v for v in spec.allowed if v.lower() == stated), None)
        if not stated or match is None:
            continue
        items.append(
            Item(
                f"{FIELD}:{spec.attribute}",
                FIELD,
                spec.label,
                f"{spec.label}: {match}?",
                match,
                spec.allowed,
            )
        )
    return items


def schema_parse(text: str) -> list[FieldSpec]:
    """Fields from the form's text, one a line: `Metal (material): yellow gold, silver` or
    `background: white, marble`. A ValidationError on "schema" names the line and the rule."""
    specs: list[FieldSpec] = []
    problems: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        match = _LINE.match(raw)
        if match is None:
            problems.append(
                f"Line {number}: write 'Label (attribute): value, value' or "
                "'attribute: value, value'."
            )
            continue
        attribute = (match.group("attr") or match.group("bare")).lower()
        label = (match.group("label") or attribute.capitalize()).strip()
        values = tuple(v.strip() for v in match.group("values").split(",") if v.strip())
        specs.append(FieldSpec(attribute, label, values))
        problems += [f"Line {number}: {p}" for p in field_problems(specs[-1])]
    if problems:
        raise ValidationError({"schema": problems}, code="schema")
    schema_check(specs)
    return specs


def field_problems(spec: FieldSpec) -> list[str]:
    """What is wrong with one field, in words (empty: nothing)."""
    problems = []
    if spec.attribute not in FIELD_ATTRIBUTES:
        problems.append(
            f"'{spec.attribute}' is not a prompt attribute: use one of {', '.join(FIELD_ATTRIBUTES)}."
        )
    if not spec.label or len(spec.label) > 80:
        problems.append("the label must have 1 to 80 characters.")
    if len(spec.allowed) < 2:
        problems.append("give at least two allowed values, separated by commas.")
    if len(spec.allowed) > MAX_VALUES:
        problems.append(f"give at most {MAX_VALUES} allowed values.")
    if any(len(v) > MAX_VALUE_CHARS for v in spec.allowed):
        problems.append(f"each allowed value must have at most {MAX_VALUE_CHARS} characters.")
    if len({v.lower() for v in spec.allowed}) != len(spec.allowed):
        problems.append("an allowed value is listed twice.")
    return problems


def schema_check(specs: Sequence[FieldSpec]) -> None:
    """The schema's rules as a ValidationError on "schema" (fields one by one, then together)."""
    problems = [f"{s.label or s.attribute}: {p}" for s in specs for p in field_problems(s)]
    if len(specs) > MAX_FIELDS:
        problems.append(f"A schema has at most {MAX_FIELDS} fields.")
    attributes = [s.attribute for s in specs]
    twice = sorted({a for a in attributes if attributes.count(a) > 1})
    if twice:
        problems.append(f"Each attribute may appear once: {', '.join(twice)} appears twice.")
    if problems:
        raise ValidationError({"schema": problems}, code="schema")


def schema_text(specs: Sequence[FieldSpec]) -> str:
    """The form's text for these fields (schema_parse reads it back)."""
    return "\n".join(f"{s.label} ({s.attribute}): {', '.join(s.allowed)}" for s in specs)
