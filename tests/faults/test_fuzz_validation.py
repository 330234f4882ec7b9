"""Hypothesis fuzzing of configuration validation and of compel prompt-syntax checking.

`config_create` either creates a valid configuration or raises ValidationError naming a
field, and never leaves a row behind when it refuses. `compel_syntax_error` agrees with
compel's own parser: whatever it accepts, compel parses; whatever it rejects, it explains
with a 1-based position that points at the character to fix.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from compel.prompt_parser import PromptParser
from django.core.exceptions import ValidationError
from django.db import transaction
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from generation.models import PARAM_FIELDS, ConfigAdapter, GenerationConfig, LoraAdapter
from generation.services.adapters import active_adapters
from generation.services.configs import config_create
from generation.validation import compel_syntax_error

FUZZ = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# --- compel prompt syntax --------------------------------------------------------------------

PARSER = PromptParser()
WEIGHTS = st.one_of(
    st.sampled_from(["1", "0.5", "-1.5", "+2.", ".5", "1e3", "x", "no_normalize", "k=1", " 2 "]),
    st.text(max_size=3),
)
WORDS = st.sampled_from(
    ["ring", "gold", "channel-set", "huggie hoops", "1.2", "-", "+", "++", ",", ".", "=", ",x",
     "\\(", "\\)", '\\"', "\\,", "\\", " ", "\t", "\n", "no_normalize", "s_start=0.2"]
)  # fmt: skip
SYNTAX = st.sampled_from(
    [*'()[]"', ".blend(", ".and(", ".add(", ".swap(", ".attend(", "withLora(", "\x0b", "\x0c",
     ")1.2", ")+", ")-", ") .blend(", ")\t.and ("]
)  # fmt: skip
ATOM = st.one_of(WORDS, SYNTAX, st.text(max_size=3))


def _operator(parts: list[str], weights: list[str], name: str, comma: str) -> str:
    return f"({comma.join(parts)}).{name}({comma.join(weights)})"


def _constructs(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Compel's constructs around smaller prompts: weights, quotes, blends, swaps, loras."""
    return st.one_of(
        st.builds("({}){}".format, inner, st.sampled_from(["", "1.2", "+", "--", " 1.1"])),
        st.builds('"{}"'.format, inner),
        st.builds(
            _operator,
            st.lists(inner, min_size=1, max_size=3),
            st.lists(WEIGHTS, max_size=4),
            st.sampled_from(["blend", "and", "add"]),
            st.sampled_from([", ", ",", " , "]),
        ),
        st.builds("{}.swap({})".format, inner, inner),
        st.builds("({}).attend({})".format, inner, WEIGHTS),
        st.builds("withLora({}, {})".format, st.sampled_from(["phol", "a b"]), WEIGHTS),
    )


PIECE = st.recursive(
    ATOM, lambda inner: st.one_of(_constructs(inner), st.lists(inner, max_size=4).map("".join))
)
# A whole prompt that is one .blend()/.and(), with what people put around it.
TOP_OPERATOR = st.builds(
    "{}{}{}".format,
    st.sampled_from(["", " ", "\n", "withLora(x) "]),
    st.builds(
        _operator,
        st.lists(PIECE, min_size=1, max_size=3),
        st.lists(WEIGHTS, max_size=4),
        st.sampled_from(["blend", "and", "add"]),
        st.sampled_from([", ", ","]),
    ),
    st.sampled_from(["", " ", " x", " withLora(y, 1)"]),
)
PROMPTS = st.one_of(
    TOP_OPERATOR,
    st.lists(PIECE, max_size=5).map("".join),
    st.lists(PIECE, max_size=5).map(" ".join),
    st.text(max_size=30),
)
POSITION = re.compile(r"position (\d+)")
# What a rejection may point at: syntax characters, or a character compel cannot read.
POINTABLE = set('()[]"') | {"\x0b", "\x0c"}


@FUZZ
@given(text=PROMPTS)
@example(text="(gold, silver).blend(1)")
@example(text="(gold, silver).blend(heavy, light)")
@example(text="(gold, silver).blend(1, 1) studio")
@example(text="huggie hoops\x0cwhite background")
@example(text='("a.swap(b)", c).blend(1, 1)')
@example(text="(a\\,, b).blend(1, 1, 1)")
def test_compel_syntax_error_agrees_with_compels_parser(text: str) -> None:
    problem = compel_syntax_error(text)
    if problem is None:
        PARSER.parse_conjunction(text)  # raises if compel cannot parse what we accepted
        return
    found = POSITION.search(problem)
    assert found, f"no position in {problem!r}"
    position = int(found.group(1))
    assert 1 <= position <= len(text), problem
    assert text[position - 1] in POINTABLE, (problem, text)


@pytest.mark.parametrize(
    ("text", "position"),
    [
        ("(gold, silver).blend(1)", 21),
        ("(gold, silver).and(x, 1)", 19),
        ("(gold, silver).blend(1, 1) studio", 26),
        ("studio (gold, silver).blend(1, 1)", 8),
        ("huggie hoops\x0bwhite", 13),
    ],
)
def test_compel_syntax_error_names_the_place_to_fix(text: str, position: int) -> None:
    problem = compel_syntax_error(text)
    assert problem is not None and f"position {position}" in problem, problem


@pytest.mark.parametrize(
    "text",
    [
        "(gold, silver).blend(1, 2)",
        "(gold, silver).blend(0.7, 0.3, no_normalize)",
        '("gold ring", "silver ring").and()',
        "(channel-set)1.2 diamond band, (white background)-",
        'escaped \\( paren and \\" quote',
    ],
)
def test_compel_syntax_error_accepts_what_compel_parses(text: str) -> None:
    assert compel_syntax_error(text) is None
    PARSER.parse_conjunction(text)


# --- configuration validation ----------------------------------------------------------------

ANY = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.just(10**400),  # an int no float can hold
)
VALID = {
    "name": st.text(max_size=130),
    "base_model": st.sampled_from(["tiny-random", "runwayml/stable-diffusion-v1-5", ""]),
    "vae": st.sampled_from(["", "stabilityai/sd-vae-ft-mse"]),
    "sampler": st.sampled_from(["euler_a", "ddim", "dpmpp_2m", "nope"]),
    "steps": st.integers(min_value=-5, max_value=200),
    "cfg": st.floats(min_value=-1, max_value=40),
    "compel_level": st.sampled_from(["none", "low", "medium", "high", "max"]),
    "negative_prompt": PROMPTS,
    "width": st.integers(min_value=200, max_value=1100),
    "height": st.sampled_from([256, 512, 513, 1024, 2048]),
    "insert_trigger": st.booleans(),
}
# Each field gets a plausible value or anything at all.
FIELDS = st.fixed_dictionaries({}, optional={k: st.one_of(v, ANY) for k, v in VALID.items()})
SCALES = st.lists(st.one_of(st.floats(min_value=-3, max_value=3), ANY), max_size=2)


@pytest.fixture
def adapters(db: Any) -> list[LoraAdapter]:
    return [
        LoraAdapter.objects.create(name=f"fuzz-{i}", weights=f"/w/{i}.safetensors", sha256=str(i))
        for i in range(2)
    ]


@FUZZ
@given(fields=FIELDS, scales=SCALES)
@example(fields={"cfg": 10**400}, scales=[])
@example(fields={"steps": 10**30, "width": "512"}, scales=[10**400])
@example(fields={"name": "x" * 121, "negative_prompt": "(a"}, scales=[float("nan")])
@example(fields={"base_model": "tiny\x00random", "vae": "a\x00"}, scales=[])
@example(fields={"negative_prompt": "low quality\x00"}, scales=[])
def test_config_create_creates_a_valid_config_or_names_the_field(
    adapters: list[LoraAdapter], fields: dict[str, Any], scales: list[Any]
) -> None:
    chosen = list(zip(adapters, scales, strict=False))
    before = (GenerationConfig.objects.count(), ConfigAdapter.objects.count())
    # A savepoint per example: what one example creates must not turn the next into a reuse.
    with transaction.atomic():
        try:
            config, created = config_create(adapters=chosen, **fields)
        except ValidationError as error:
            assert hasattr(error, "error_dict"), f"no field named: {error.messages}"
            named = set(error.message_dict)
            assert named <= set(PARAM_FIELDS) | {"name", "scale"}, named
            if "scale" in named:
                assert chosen, named
            assert (GenerationConfig.objects.count(), ConfigAdapter.objects.count()) == before
        else:
            assert created
            stored = GenerationConfig.objects.get(pk=config.pk)
            stored.full_clean()  # what was saved passes the same rules
            assert stored.fingerprint == config.fingerprint
            # An adapter at scale 0 is no adapter: it is not linked.
            assert stored.adapter_links.count() == len(active_adapters(chosen))
        transaction.set_rollback(True)
