"""Render time per image: one estimate per kind (model, size, steps) for previews and ETAs."""

from __future__ import annotations

import pytest

from generation.models import Image
from generation.selectors import (
    DEFAULT_SECONDS_PER_IMAGE,
    builder_preview,
    design_counts,
    render_estimate,
    render_progress,
    seconds_per_image,
)
from generation.services.configs import config_factor_levels_expand
from tests.factories import PromptFactory, make_config, make_image, rendered_in

pytestmark = pytest.mark.django_db
BASE = {"base_model": "tiny-random", "width": 256, "height": 256, "insert_trigger": True}


def _four_step_renders(seconds: float = 0.2) -> None:
    fast = make_config(sampler="lms", steps=4)
    for seed in range(1, 4):
        rendered_in(make_image(config=fast, prompt=PromptFactory(), seed=seed), seconds)


def test_seconds_per_image_is_per_kind_not_per_model() -> None:
    _four_step_renders()
    assert seconds_per_image(kind=("tiny-random", 256, 256, 4)) == (pytest.approx(0.2), True)
    default = DEFAULT_SECONDS_PER_IMAGE["tiny-random"]
    assert seconds_per_image(kind=("tiny-random", 256, 256, 50)) == (default, False)


def test_render_estimate_times_50_step_configs_by_the_default_not_4_step_renders() -> None:
    _four_step_renders()
    slow = [make_config(sampler=s, steps=50) for s in ("euler_a", "ddim")]
    estimate = render_estimate(params={c.pk: c.params() for c in slow})
    assert estimate.seconds_per_image == DEFAULT_SECONDS_PER_IMAGE["tiny-random"]
    assert not estimate.measured
    assert estimate.unmeasured == ("tiny-random 256×256, 50 steps",)


def test_design_counts_sum_images_of_each_config_times_its_kinds_seconds() -> None:
    _four_step_renders(0.2)
    fast, slow = make_config(sampler="euler_a", steps=4), make_config(sampler="ddim", steps=50)
    params = {c.pk: c.design_params() for c in (fast, slow)}
    estimate = render_estimate(params=params)
    assert estimate.workers == 1 and estimate.unmeasured == ("tiny-random 256×256, 50 steps",)
    rows = design_counts(params=params, prompts=1, seeds=2, baseline_id=fast.pk, estimate=estimate)
    all_pairs = next(r for r in rows if r.design == "all_pairs")
    # Two images of each config: 2 × 0.2 s (measured 4-step) + 2 × 0.5 s (50-step default).
    assert all_pairs.images == 4 and all_pairs.seconds == pytest.approx(2 * 0.2 + 2 * 0.5)
    assert estimate.seconds_per_image == pytest.approx((0.2 + 0.5) / 2)


def test_render_estimate_and_render_progress_agree_per_kind() -> None:
    _four_step_renders()
    slow = make_config(sampler="ddim", steps=50)
    for seed in range(3):
        make_image(config=slow, prompt=PromptFactory(), seed=seed)
    progress = render_progress(images=Image.objects.filter(config=slow))
    estimate = render_estimate(params={slow.pk: slow.params()})
    assert progress.seconds_per_image == estimate.seconds_per_image
    assert progress.unmeasured == estimate.unmeasured
    assert progress.measured is estimate.measured is False


def test_builder_preview_times_each_draft_by_its_own_steps() -> None:
    _four_step_renders()
    drafts = config_factor_levels_expand(base=BASE, levels={"steps": [4, 50]}, mode="factorial")
    preview = builder_preview(drafts=drafts, prompts=1, seeds=1)
    assert not preview.estimate.measured
    assert preview.estimate.unmeasured == ("tiny-random 256×256, 50 steps",)
    assert preview.estimate.seconds_per_image == pytest.approx((0.2 + 0.5) / 2)
