from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import torch
from diffusers import StableDiffusionPipeline
from PIL.Image import Image

from generation.engine import Engine, RenderSpec
from generation.engine.engine import _call_pipeline
from generation.engine.testing import same_render, tiny_spec

Call = Callable[[StableDiffusionPipeline, list[RenderSpec], dict[str, Any]], list[Image]]


def _failing_when(
    predicate: Callable[[list[RenderSpec]], bool], error: Exception, sizes: list[int]
) -> Call:
    def call(
        pipe: StableDiffusionPipeline, specs: list[RenderSpec], kwargs: dict[str, Any]
    ) -> list[Image]:
        sizes.append(len(specs))
        if predicate(specs):
            raise error
        return _call_pipeline(pipe, specs, kwargs)

    return call


@pytest.fixture()
def oom_engine(engine: Engine) -> Iterator[Engine]:
    yield engine
    engine.call_pipeline = _call_pipeline


def test_render_oom_splits_batch_in_half_until_it_fits(oom_engine: Engine) -> None:
    specs = [tiny_spec(seed=s) for s in range(8)]
    reference = oom_engine.render(specs)
    sizes: list[int] = []
    oom = torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
    oom_engine.call_pipeline = _failing_when(lambda b: len(b) > 2, oom, sizes)
    splits = oom_engine.stats.oom_splits

    results = oom_engine.render(specs)

    assert sizes == [8, 4, 2, 2, 4, 2, 2]
    assert oom_engine.stats.oom_splits - splits == 3
    for got, want in zip(results, reference, strict=True):
        assert same_render(got, want)  # halves are smaller batches


def test_render_runtime_error_out_of_memory_counts_as_oom(oom_engine: Engine) -> None:
    sizes: list[int] = []
    error = RuntimeError("DefaultCPUAllocator: not enough memory... out of memory")
    oom_engine.call_pipeline = _failing_when(lambda b: len(b) > 1, error, sizes)
    results = oom_engine.render([tiny_spec(seed=s) for s in range(2)])
    assert sizes == [2, 1, 1]
    assert all(r.error is None for r in results)


def test_render_single_image_oom_fails_only_that_image(oom_engine: Engine) -> None:
    sizes: list[int] = []
    oom = torch.cuda.OutOfMemoryError("CUDA out of memory")
    oom_engine.call_pipeline = _failing_when(lambda b: any(s.seed == 2 for s in b), oom, sizes)
    results = oom_engine.render([tiny_spec(seed=s) for s in range(4)])
    assert [r.error is None for r in results] == [True, True, False, True]
    assert results[2].error == "out of GPU memory even for one image at 64x64"
    assert sizes == [4, 2, 2, 1, 1]


def test_render_other_errors_fail_that_batch_with_a_reason(oom_engine: Engine) -> None:
    sizes: list[int] = []
    oom_engine.call_pipeline = _failing_when(lambda b: b[0].cfg == 3.0, ValueError("boom"), sizes)
    results = oom_engine.render([tiny_spec(cfg=3.0), tiny_spec(cfg=4.0)])
    assert results[0].error == "render failed: ValueError: boom"
    assert results[1].error is None
    assert sizes == [1, 1]
