from __future__ import annotations

import numpy as np
import pytest
import torch

from generation.constants import COMPEL_WEIGHTS
from generation.engine import Engine, weighted_prompt
from generation.engine.testing import pixels, tiny_spec


def test_weighted_prompt_level_none_leaves_prompt_alone() -> None:
    assert weighted_prompt("gold huggie hoops", ("huggie hoops",), "none") == "gold huggie hoops"


def test_weighted_prompt_wraps_each_key_term_with_the_level_weight() -> None:
    prompt = "channel-set diamond band, white background"
    terms = ("diamond band", "channel-set")
    assert (
        weighted_prompt(prompt, terms, "low")
        == "(channel-set)1.1 (diamond band)1.1, white background"
    )
    assert (
        weighted_prompt(prompt, terms, "medium")
        == "(channel-set)1.21 (diamond band)1.21, white background"
    )
    assert (
        weighted_prompt(prompt, terms, "high")
        == "(channel-set)1.33 (diamond band)1.33, white background"
    )


def test_weighted_prompt_matches_whole_words_case_insensitively_longest_first() -> None:
    prompt = "Diamond Band with diamond accents, bandana-free, golden band"
    assert (
        weighted_prompt(prompt, ("band", "diamond band", "gold"), "medium")
        == "(Diamond Band)1.21 with diamond accents, bandana-free, golden (band)1.21"
    )


def test_weighted_prompt_does_not_double_wrap_weighted_terms() -> None:
    prompt = "(diamond band)1.4, threader earrings++, huggie hoops-, (gold (huggie hoops)) studio"
    terms = ("diamond band", "threader earrings", "huggie hoops", "studio")
    assert (
        weighted_prompt(prompt, terms, "high")
        == "(diamond band)1.4, threader earrings++, huggie hoops-, (gold (huggie hoops)) (studio)1.33"
    )
    once = weighted_prompt("huggie hoops, gold", ("huggie hoops",), "medium")
    assert weighted_prompt(once, ("huggie hoops",), "medium") == once


def test_weighted_prompt_term_absent_or_empty_changes_nothing() -> None:
    assert weighted_prompt("threader earrings", ("bezel", "", "  "), "high") == "threader earrings"


def test_weighted_prompt_unknown_level_raises() -> None:
    with pytest.raises(ValueError, match="'extreme'"):
        weighted_prompt("ring", ("ring",), "extreme")


def test_compel_levels_move_key_term_embeddings_further_as_weight_grows(engine: Engine) -> None:
    encoder = engine._load("tiny-random", "").encoder
    prompt = "huggie hoops in gold, white background"
    plain = encoder.encode(prompt, ())
    distances = []
    for level in ("low", "medium", "high"):
        weighted = encoder.encode(weighted_prompt(prompt, ("huggie hoops",), level), ())
        assert weighted.shape == plain.shape == (1, 77, 32)
        per_token = (weighted - plain).norm(dim=-1)[0]
        changed = torch.nonzero(per_token).flatten().tolist()
        # Only the key term's tokens move ("huggie hoops" = 11 characters = 11 tokens, after BOS).
        assert changed == list(range(1, 12)), (level, changed)
        distances.append(per_token.sum().item())
    assert distances[0] < distances[1] < distances[2]
    # compel scales the offset from the empty prompt: distance grows linearly with (weight - 1).
    ratios = [
        d / (COMPEL_WEIGHTS[lvl] - 1)
        for d, lvl in zip(distances, ("low", "medium", "high"), strict=True)
    ]
    assert max(ratios) / min(ratios) == pytest.approx(1.0, abs=1e-3)


def test_compel_syntax_in_prompt_is_honoured(engine: Engine) -> None:
    encoder = engine._load("tiny-random", "").encoder
    plain = encoder.encode("gold hoops", ())
    boosted = encoder.encode("gold hoops++", ())
    lowered = encoder.encode("(gold hoops)0.5", ())
    assert not torch.equal(plain, boosted) and not torch.equal(plain, lowered)


def test_embedding_cache_encodes_a_repeated_prompt_once() -> None:
    fresh = Engine(device="cpu")
    specs = [tiny_spec(seed=s, compel_level="none", negative_prompt="clutter") for s in range(4)]
    fresh.render(specs[:1])
    # One call for the prompt, one for the negative prompt.
    assert fresh.stats.text_encoder_calls == 2
    fresh.render(specs)
    assert fresh.stats.text_encoder_calls == 2
    fresh.render([tiny_spec(compel_level="medium", negative_prompt="clutter")])
    # The weighted prompt is new text; compel also encodes the empty prompt once to weight against.
    assert fresh.stats.text_encoder_calls == 4
    assert fresh.stats.images == 6


def test_long_prompts_are_chunked_and_negatives_padded(engine: Engine) -> None:
    long_prompt = ", ".join(["channel-set diamond band"] * 6)  # ~150 characters -> 2 chunks of 77
    encoder = engine._load("tiny-random", "").encoder
    positive, negative = encoder.pair(long_prompt, "clutter", ())
    assert positive.shape == negative.shape == (1, 154, 32)
    short, long = engine.render([tiny_spec(), tiny_spec(prompt=long_prompt)])
    assert pixels(long).shape == (64, 64, 3)
    assert not np.array_equal(pixels(short), pixels(long))


def test_negative_prompt_changes_the_image(engine: Engine) -> None:
    a, b = engine.render(
        [tiny_spec(negative_prompt=""), tiny_spec(negative_prompt="vintage, overly ornate")]
    )
    assert not np.array_equal(pixels(a), pixels(b))
