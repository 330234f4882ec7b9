"""Best-of-N candidates (one prompt and configuration, N seeds) render in batches of the
engine's max_batch, encoding the prompt once, whatever N is."""

from __future__ import annotations

import math

import numpy as np

from generation.engine import Engine
from generation.engine.testing import pixels, same_render, tiny_spec


def test_n_candidates_of_one_prompt_encode_it_once_and_batch_the_seeds() -> None:
    engine = Engine(device="cpu", max_batch=8)
    one = [tiny_spec(seed=1000, prompt="huggie hoops, gold", compel_level="medium")]
    engine.render(one)  # load the pipeline
    engine.clear_prompt_cache()
    before = (engine.stats.text_encoder_calls, engine.stats.pipeline_calls)
    engine.render(one)
    encode_one = engine.stats.text_encoder_calls - before[0]

    n = 20
    candidates = [
        tiny_spec(seed=1000 + k, prompt="huggie hoops, gold", compel_level="medium")
        for k in range(n)
    ]
    engine.clear_prompt_cache()
    before = (engine.stats.text_encoder_calls, engine.stats.pipeline_calls)
    results = engine.render(candidates)
    assert all(r.error is None for r in results)
    # The text encoder runs as often for 20 candidates as for one: embeddings are reused.
    assert engine.stats.text_encoder_calls - before[0] == encode_one
    assert engine.stats.pipeline_calls - before[1] == math.ceil(n / 8)
    # Seeds make different candidates, and a candidate is the same rendered in its batch or alone.
    assert not np.array_equal(pixels(results[0]), pixels(results[1]))
    assert same_render(engine.render([candidates[13]])[0], results[13])
