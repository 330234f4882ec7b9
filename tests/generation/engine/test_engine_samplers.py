from __future__ import annotations

import itertools

import numpy as np
import pytest
from diffusers import (
    DDIMScheduler,
    DPMSolverMultistepScheduler,
    EulerAncestralDiscreteScheduler,
    PNDMScheduler,
)

from generation.constants import SAMPLERS
from generation.engine import Engine, make_scheduler
from generation.engine.builders import SD15_SCHEDULER_CONFIG
from generation.engine.testing import pixels, tiny_spec


def test_make_scheduler_unknown_sampler_raises_naming_it() -> None:
    with pytest.raises(ValueError, match="'karras_x'"):
        make_scheduler("karras_x", SD15_SCHEDULER_CONFIG)


def test_make_scheduler_builds_from_the_pipeline_config() -> None:
    ddim = make_scheduler("ddim", SD15_SCHEDULER_CONFIG)
    assert isinstance(ddim, DDIMScheduler)
    assert ddim.config.clip_sample is False
    assert ddim.config.beta_schedule == "scaled_linear"
    assert ddim.config.beta_start == 0.00085 and ddim.config.beta_end == 0.012
    assert ddim.config.steps_offset == 1 and ddim.config.set_alpha_to_one is False

    assert isinstance(
        make_scheduler("euler_a", SD15_SCHEDULER_CONFIG), EulerAncestralDiscreteScheduler
    )
    assert isinstance(make_scheduler("pndm", SD15_SCHEDULER_CONFIG), PNDMScheduler)
    dpm = make_scheduler("dpmpp_2m", SD15_SCHEDULER_CONFIG)
    karras = make_scheduler("dpmpp_2m_karras", SD15_SCHEDULER_CONFIG)
    assert isinstance(dpm, DPMSolverMultistepScheduler) and isinstance(
        karras, DPMSolverMultistepScheduler
    )
    assert dpm.config.algorithm_type == karras.config.algorithm_type == "dpmsolver++"
    assert dpm.config.solver_order == 2
    assert (dpm.config.use_karras_sigmas, karras.config.use_karras_sigmas) == (False, True)


def test_make_scheduler_returns_a_fresh_instance_each_call() -> None:
    assert make_scheduler("euler_a", SD15_SCHEDULER_CONFIG) is not make_scheduler(
        "euler_a", SD15_SCHEDULER_CONFIG
    )


def test_render_each_sampler_gives_a_distinct_image_of_the_requested_size(engine: Engine) -> None:
    loads = engine.stats.pipeline_loads
    specs = [tiny_spec(sampler=name, seed=7, width=64, height=96) for name in SAMPLERS]
    results = engine.render(specs)
    arrays = {spec.sampler: pixels(r) for spec, r in zip(specs, results, strict=True)}
    for name, image in zip(SAMPLERS, results, strict=True):
        assert image.image is not None
        assert image.image.mode == "RGB" and image.image.size == (64, 96), name
        assert image.seconds > 0
    for (a, x), (b, y) in itertools.combinations(arrays.items(), 2):
        assert not np.array_equal(x, y), f"{a} and {b} rendered the same pixels"
    # Swapping samplers never reloads the pipeline.
    assert engine.stats.pipeline_loads - loads <= 1


def test_render_unknown_sampler_fails_only_that_image(engine: Engine) -> None:
    good, bad = engine.render([tiny_spec(), tiny_spec(sampler="nope")])
    assert good.error is None and good.image is not None
    assert bad.image is None and bad.error == "unknown sampler 'nope'"
