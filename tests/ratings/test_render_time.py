"""A study's page and its progress page time images with the one per-kind estimate."""

from __future__ import annotations

import pytest
from django.test import Client

from generation.selectors import DEFAULT_SECONDS_PER_IMAGE, design_counts, render_estimate
from ratings.models import Study
from ratings.selectors import study_images, study_render_progress
from ratings.services.studies import study_create, study_launch
from tests.factories import PromptFactory, make_config, make_image, rendered_in, researcher

pytestmark = pytest.mark.django_db
GUESS = (
    "a guess: nothing has been rendered yet as tiny-random 256×256, 50 steps, so the model's "
    "default time per image is used."
)


def _fifty_step_study_after_four_step_renders() -> Study:
    fast = make_config(sampler="lms", steps=4)
    for seed in range(1, 4):
        rendered_in(make_image(config=fast, prompt=PromptFactory(), seed=seed), 0.2)
    configs = [make_config(sampler=s, steps=50) for s in ("euler_a", "ddim", "dpmpp_2m")]
    study = study_create(
        prompts=[PromptFactory()],
        configs=configs,
        baseline=configs[0],
        name="Fifty steps",
        seeds_per_prompt=2,
        design="all_pairs",
    )
    study_launch(study=study)
    return study


def _pages(client: Client, study: Study) -> tuple[str, str]:
    client.force_login(researcher())
    detail = client.get(f"/studies/{study.pk}/").content.decode()
    progress = client.get(f"/studies/{study.pk}/progress/").content.decode()
    return detail, progress


def test_study_pages_agree_a_50_step_study_is_unmeasured_after_4_step_renders(
    client: Client,
) -> None:
    study = _fifty_step_study_after_four_step_renders()
    configs = list(study.configs.all())
    estimate = render_estimate(params={c.pk: c.design_params() for c in configs})
    progress = study_render_progress(study_id=study.pk)
    default = DEFAULT_SECONDS_PER_IMAGE["tiny-random"]
    assert estimate.seconds_per_image == progress.seconds_per_image == default
    assert not estimate.measured and not progress.measured
    assert estimate.unmeasured == progress.unmeasured == ("tiny-random 256×256, 50 steps",)
    rows = design_counts(
        params={c.pk: c.design_params() for c in configs},
        prompts=1,
        seeds=2,
        baseline_id=study.baseline_id,
        estimate=estimate,
    )
    # Six images at the 50-step default on one worker, not at the 4-step median (0.2 s).
    assert next(r for r in rows if r.design == "all_pairs").seconds == pytest.approx(6 * default)
    detail, progress_page = _pages(client, study)
    assert GUESS in detail and GUESS in progress_page
    assert "≈ 3 s" in detail


def test_study_pages_agree_once_the_kind_is_measured(client: Client) -> None:
    study = _fifty_step_study_after_four_step_renders()
    rendered_in(study_images(study_id=study.pk).order_by("pk").first(), 9.0)  # type: ignore[arg-type]
    detail, progress = _pages(client, study)
    said = "measured: 9.00 s per image, from recent renders with the same model, size and steps."
    assert said in detail and said in progress
    assert "a guess" not in detail and "a guess" not in progress
