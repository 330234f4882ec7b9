"""SAMPLERS keys -> diffusers schedulers, always built from the pipeline's own scheduler config."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from diffusers import (
    DDIMScheduler,
    DPMSolverMultistepScheduler,
    EulerAncestralDiscreteScheduler,
    EulerDiscreteScheduler,
    HeunDiscreteScheduler,
    LMSDiscreteScheduler,
    PNDMScheduler,
    UniPCMultistepScheduler,
)
from diffusers.schedulers.scheduling_utils import SchedulerMixin

from generation.constants import SAMPLERS

_Factory = Callable[[Mapping[str, Any]], SchedulerMixin]

_FACTORIES: dict[str, _Factory] = {
    "euler_a": lambda c: EulerAncestralDiscreteScheduler.from_config(c),
    "euler": lambda c: EulerDiscreteScheduler.from_config(c),
    # SD 1.5 was trained without sample clipping; DDIM's default clip_sample=True drifts the result.
    "ddim": lambda c: DDIMScheduler.from_config(c, clip_sample=False),
    "dpmpp_2m": lambda c: DPMSolverMultistepScheduler.from_config(
        c, algorithm_type="dpmsolver++", solver_order=2, use_karras_sigmas=False
    ),
    "dpmpp_2m_karras": lambda c: DPMSolverMultistepScheduler.from_config(
        c, algorithm_type="dpmsolver++", solver_order=2, use_karras_sigmas=True
    ),
    "heun": lambda c: HeunDiscreteScheduler.from_config(c),
    "lms": lambda c: LMSDiscreteScheduler.from_config(c),
    "pndm": lambda c: PNDMScheduler.from_config(c),
    "unipc": lambda c: UniPCMultistepScheduler.from_config(c),
}
assert set(_FACTORIES) == set(SAMPLERS), "every SAMPLERS key needs a scheduler"


def make_scheduler(sampler: str, base_config: Mapping[str, Any]) -> SchedulerMixin:
    """A fresh scheduler (they are stateful) for `sampler`, from the pipeline's original config."""
    try:
        factory = _FACTORIES[sampler]
    except KeyError:
        raise ValueError(
            f"unknown sampler {sampler!r}; expected one of {', '.join(sorted(SAMPLERS))}"
        ) from None
    return factory(base_config)
