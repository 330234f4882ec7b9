"""The render path end to end on the tiny model: Celery eager, real engine, real files."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.utils import timezone
from PIL import Image as PILImage

from generation.models import Image, LoraAdapter
from generation.services import rendering
from generation.services.configs import config_create
from ratings.selectors import study_render_progress
from ratings.services.studies import study_launch
from tests.factories import PromptFactory, make_config, make_image, make_study

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[list[int]]:
    """Batches handed to Celery, recorded instead of rendered (for dispatch-only tests)."""
    batches: list[list[int]] = []
    monkeypatch.setattr(
        "generation.tasks.render_batch.delay", lambda ids: batches.append(list(ids))
    )
    return batches


def test_launch_renders_every_image_with_files_and_provenance(
    django_capture_on_commit_callbacks: Any,
) -> None:
    study = make_study(n_configs=3, n_prompts=1, seeds_per_prompt=2)
    with django_capture_on_commit_callbacks(execute=True):
        study_launch(study=study)
    images = list(Image.objects.all())
    assert len(images) == 6
    for image in images:
        assert image.status == Image.Status.DONE, image.error
        assert image.attempts == 1 and image.render_seconds is not None and image.worker_host
        assert set(image.versions) >= {"torch", "diffusers", "transformers", "compel", "peft"}
        assert (
            image.params["sampler"] == image.config.sampler and image.params["seed"] == image.seed
        )
        master = PILImage.open(default_storage.open(image.file.name))
        assert master.format == "PNG" and master.size == (256, 256)
        display = PILImage.open(default_storage.open(image.display_file.name))
        assert display.format == "WEBP"
        # Raters see the display copy: its name and metadata must say nothing about the config.
        assert not display.info.get("exif") and not display.info.get("xmp")
        assert image.config.sampler not in image.display_file.name
        assert Path(image.display_file.name).stem not in (image.token, image.file.name)
    progress = study_render_progress(study_id=study.pk)
    assert (progress.done, progress.total, progress.percent, progress.eta_seconds) == (
        6,
        6,
        100,
        0.0,
    )


def test_same_prompt_and_seed_differ_only_by_config(
    django_capture_on_commit_callbacks: Any,
) -> None:
    study = make_study(n_configs=2, seeds_per_prompt=1)
    with django_capture_on_commit_callbacks(execute=True):
        study_launch(study=study)
    a, b = (
        np.asarray(PILImage.open(default_storage.open(i.file.name))) for i in Image.objects.all()
    )
    assert not np.array_equal(a, b)


def test_dispatch_groups_by_model_state_and_batch_size(
    sent: list[list[int]], settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.LOUPE_RENDER_BATCH = 3
    prompt = PromptFactory()
    euler = make_config(sampler="euler")
    ddim = make_config(sampler="ddim")
    for seed in range(4):
        make_image(config=euler, prompt=prompt, seed=seed)
        make_image(config=ddim, prompt=prompt, seed=seed)
    with django_capture_on_commit_callbacks(execute=True):
        assert rendering.images_dispatch() == 4
    by_config = [{Image.objects.get(pk=pk).config_id for pk in batch} for batch in sent]
    assert all(len(configs) == 1 for configs in by_config)
    assert sorted(len(b) for b in sent) == [1, 1, 3, 3]
    assert set(Image.objects.values_list("status", flat=True)) == {Image.Status.QUEUED}
    assert rendering.images_dispatch() == 0  # nothing pending: safe to run twice


def test_claim_is_exclusive() -> None:
    images = [make_image(seed=s) for s in range(3)]
    ids = [i.pk for i in images]
    claim, mine = rendering.images_claim(image_ids=ids)
    other, theirs = rendering.images_claim(image_ids=ids)
    assert len(mine) == 3 and theirs == [] and claim != other
    assert all(i.status == Image.Status.RENDERING and i.attempts == 1 for i in mine)


def test_result_under_a_lost_claim_is_discarded() -> None:
    image = make_image()
    claim, [mine] = rendering.images_claim(image_ids=[image.pk])
    Image.objects.filter(pk=image.pk).update(claim="someone-else")
    picture = PILImage.new("RGB", (256, 256), "white")
    stored = rendering.image_store_result(
        image=mine, claim=claim, picture=picture, seconds=0.1, params={}, versions={}
    )
    assert stored is False
    assert default_storage.listdir("masters")[1] == [] and default_storage.listdir("img")[1] == []


def test_missing_adapter_fails_after_three_attempts_with_reason(
    django_capture_on_commit_callbacks: Any, tmp_path: Path
) -> None:
    lora = LoraAdapter.objects.create(
        name="phol",
        weights=str(tmp_path / "gone.safetensors"),
        sha256="ab" * 32,
        trigger_token="phol",
    )
    broken, _ = config_create(
        sampler="euler_a", steps=4, width=256, height=256, adapters=[(lora, 1.0)]
    )
    healthy = make_config(sampler="ddim")
    prompt = PromptFactory()
    bad = make_image(config=broken, prompt=prompt)
    good = make_image(config=healthy, prompt=prompt)
    with django_capture_on_commit_callbacks(execute=True):
        rendering.images_dispatch()
    bad.refresh_from_db()
    good.refresh_from_db()
    assert good.status == Image.Status.DONE
    assert bad.status == Image.Status.FAILED and bad.attempts == 3
    assert "gone.safetensors" in bad.error and "attempt 3 of 3" in bad.error
    assert bad.params == {} and not bad.file


def test_trigger_token_is_inserted_when_asked(tmp_path: Path) -> None:
    lora = LoraAdapter.objects.create(
        name="sks", weights="/w.safetensors", sha256="cd" * 32, trigger_token="sks"
    )
    with_trigger, _ = config_create(sampler="ddim", adapters=[(lora, 1.0)])
    without, _ = config_create(sampler="ddim", adapters=[(lora, 1.0)], insert_trigger=False)
    prompt = PromptFactory(text="channel-set diamond band")
    assert rendering.image_resolved_params(make_image(config=with_trigger, prompt=prompt))[
        "prompt"
    ] == ("sks, channel-set diamond band")
    assert rendering.image_resolved_params(make_image(config=without, prompt=prompt))["prompt"] == (
        "channel-set diamond band"
    )


def test_sweeper_requeues_expired_leases_and_fails_after_last_attempt(
    sent: list[list[int]], django_capture_on_commit_callbacks: Any
) -> None:
    alive, expired, exhausted = (make_image(seed=s) for s in range(3))
    past = timezone.now() - timedelta(seconds=5)
    Image.objects.filter(pk=alive.pk).update(
        status="rendering", lease_expires_at=timezone.now() + timedelta(minutes=5)
    )
    Image.objects.filter(pk=expired.pk).update(
        status="rendering", lease_expires_at=past, attempts=1
    )
    Image.objects.filter(pk=exhausted.pk).update(
        status="rendering", lease_expires_at=past, attempts=3
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert rendering.leases_sweep() == 2
    statuses = dict(Image.objects.values_list("pk", "status"))
    assert statuses == {alive.pk: "rendering", expired.pk: "queued", exhausted.pk: "failed"}
    assert sent == [[expired.pk]]
    assert "Lease expired 3 times" in Image.objects.get(pk=exhausted.pk).error


def test_render_command_and_rerender_check(capsys: pytest.CaptureFixture[str]) -> None:
    study = make_study(n_configs=2, seeds_per_prompt=1)
    study_launch(study=study)  # on_commit never fires inside the test transaction: all pending
    call_command("render", "--study", str(study.pk))
    assert set(Image.objects.values_list("status", flat=True)) == {Image.Status.DONE}
    out = capsys.readouterr().out
    assert "Rendered 2 of 2 images" in out
    image = Image.objects.first()
    assert image is not None
    call_command("rerender_check", str(image.pk))
    assert "pixels match" in capsys.readouterr().out
    # A doctored master is noticed.
    buffer = io.BytesIO()
    PILImage.new("RGB", (256, 256), "black").save(buffer, format="PNG")
    default_storage.delete(image.file.name)
    default_storage.save(image.file.name, io.BytesIO(buffer.getvalue()))
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="pixels differ"):
        call_command("rerender_check", str(image.pk))


def test_images_reset_failed_clears_status_attempts_and_error_of_failed_ones_only() -> None:
    failed, done = make_image(seed=1), make_image(seed=2)
    Image.objects.filter(pk=failed.pk).update(status="failed", attempts=3, error="CUDA OOM")
    Image.objects.filter(pk=done.pk).update(status="done", attempts=1, error="")
    assert rendering.images_reset_failed(images=Image.objects.all()) == 1
    assert rendering.images_reset_failed(images=Image.objects.all()) == 0
    rows = dict(Image.objects.values_list("pk", "status"))
    assert rows == {failed.pk: "pending", done.pk: "done"}
    failed.refresh_from_db()
    assert (failed.attempts, failed.error) == (0, "")


def test_render_command_retry_failed_clears_the_old_error(monkeypatch: pytest.MonkeyPatch) -> None:
    study = make_study(n_configs=2, seeds_per_prompt=1)
    study_launch(study=study)
    Image.objects.update(status="failed", attempts=3, error="Lease expired 3 times")
    rendered: list[list[int]] = []

    def render_nothing(*, image_ids: list[int], **kwargs: Any) -> int:
        rendered.append(list(image_ids))
        return 0

    monkeypatch.setattr("ratings.management.commands.render.images_render", render_nothing)
    call_command("render", "--study", str(study.pk), "--retry-failed")
    assert sorted(i for batch in rendered for i in batch) == sorted(
        Image.objects.values_list("pk", flat=True)
    )
    assert set(Image.objects.values_list("status", "attempts", "error")) == {("pending", 0, "")}
