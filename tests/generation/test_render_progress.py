"""Rendering progress: done, failed and remaining apart; the ETA from like-for-like renders."""

from __future__ import annotations

import pytest
from django.test import Client

from generation.models import Image
from generation.selectors import DEFAULT_SECONDS_PER_IMAGE, render_progress
from ratings.selectors import study_images, study_render_progress
from ratings.services.studies import study_launch
from tests.factories import (
    PromptFactory,
    make_config,
    make_image,
    make_study,
    rendered_in,
    researcher,
)

pytestmark = pytest.mark.django_db


def _launched(**fields: object) -> tuple[list[Image], int]:
    study = make_study(n_configs=3, n_prompts=1, seeds_per_prompt=2, **fields)
    study_launch(study=study)
    return list(study_images(study_id=study.pk).order_by("pk")), study.pk


def test_render_progress_never_reads_100_percent_with_a_failure() -> None:
    images, study_id = _launched()
    assert len(images) == 6
    for image in images[:5]:
        rendered_in(image, 1.0)
    Image.objects.filter(pk=images[5].pk).update(status=Image.Status.FAILED, error="boom")
    progress = study_render_progress(study_id=study_id)
    assert (progress.done, progress.failed, progress.remaining, progress.total) == (5, 1, 0, 6)
    assert progress.percent == 83 and progress.failed_percent == 17


def test_progress_page_shows_done_failed_and_remaining_apart(client: Client) -> None:
    images, study_id = _launched()
    for image in images[:4]:
        rendered_in(image, 1.0)
    Image.objects.filter(pk=images[4].pk).update(status=Image.Status.FAILED, error="boom")
    client.force_login(researcher())
    page = client.get(f"/studies/{study_id}/progress/").content.decode()
    assert '<strong class="big" id="percent">66 %</strong>' in page
    assert "4 done" in page and "1 failed" in page and "1 remaining" in page
    assert 'class="failed"' in page  # the bar draws failures apart from done
    Image.objects.filter(pk=images[5].pk).update(status=Image.Status.FAILED, error="boom")
    page = client.get(f"/studies/{study_id}/progress/").content.decode()
    assert "100 %" not in page and "Every image is rendered" not in page
    assert "Rendering has stopped with 2 failed images" in page


def test_render_progress_eta_comes_from_renders_of_the_same_model_size_and_steps() -> None:
    slow = make_config(sampler="ddim", steps=50, width=512, height=512)
    prompt = PromptFactory()
    # Done earlier, elsewhere: 4-step 256² images take 0.2 s, 50-step 512² ones 9–11 s.
    fast = make_config(sampler="euler_a", steps=4)
    for seed in range(1, 4):
        rendered_in(make_image(config=fast, prompt=prompt, seed=seed), 0.2)
    for seed, seconds in zip(range(1, 4), (9.0, 10.0, 11.0), strict=True):
        rendered_in(
            make_image(config=slow, prompt=prompt, seed=seed), seconds, host=f"gpu-{seed % 2}"
        )
    other = make_config(sampler="heun", steps=50, width=512, height=512)
    for seed in range(4):
        make_image(config=other, prompt=PromptFactory(), seed=seed)
    progress = render_progress()
    assert progress.remaining == 4
    # Measured on the 50-step 512² renders only (median 10 s), split over 2 active workers.
    assert progress.seconds_per_image == pytest.approx(10.0)
    assert progress.measured and progress.active_workers == 2
    assert progress.eta_seconds == pytest.approx(4 * 10.0 / 2)


def test_render_progress_eta_falls_back_to_the_model_default_and_says_so(client: Client) -> None:
    images, study_id = _launched()
    # Renders exist, but of another size: they must not time this study.
    rendered_in(make_image(config=make_config(sampler="ddim", width=512, height=512), seed=9), 7.0)
    progress = study_render_progress(study_id=study_id)
    assert not progress.measured
    assert progress.unmeasured == ("tiny-random 256×256, 4 steps",)
    assert progress.seconds_per_image == DEFAULT_SECONDS_PER_IMAGE["tiny-random"]
    client.force_login(researcher())
    page = client.get(f"/studies/{study_id}/progress/").content.decode()
    assert "a guess: nothing has been rendered yet as tiny-random 256×256, 4 steps" in page
