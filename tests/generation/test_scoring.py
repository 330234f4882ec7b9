"""Automatic metrics: tiny CLIP and aesthetic scorers saved locally, the scoring service, its
task after a render batch, and the management command. No render engine: done images get small
PIL files written to default_storage."""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command
from PIL import Image as PILImage
from safetensors.torch import save_file

from generation.engine.scorers import (
    AestheticScorer,
    ClipSimilarityScorer,
    Scorer,
    ScorerError,
    load_scorer,
)
from generation.engine.testing_scorers import save_tiny_aesthetic, save_tiny_clip, tiny_head_state
from generation.models import Image, ImageScore
from generation.services import rendering, scoring
from ratings.services.studies import study_launch
from tests.factories import PromptFactory, make_config, make_image, make_study

PROMPT = "threader earrings, white background, studio lighting"


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_clip(tmp_path_factory.mktemp("scorers") / "clip", seed=0)


@pytest.fixture(scope="module")
def aesthetic_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_aesthetic(tmp_path_factory.mktemp("scorers") / "laion-aesthetic", seed=0)


def pictures() -> list[PILImage.Image]:
    gold = PILImage.new("RGB", (64, 64), (212, 175, 55))
    white = PILImage.new("RGB", (64, 64), (250, 250, 250))
    gradient = PILImage.linear_gradient("L").resize((64, 64)).convert("RGB")
    return [gold, white, gradient]


# --------------------------------------------------------------------------- scorers


def test_clip_scorer_loads_from_the_saved_folder_with_finite_distinct_scores(
    clip_dir: Path,
) -> None:
    assert {"config.json", "model.safetensors", "preprocessor_config.json"} <= {
        p.name for p in clip_dir.iterdir()
    }
    scorer = ClipSimilarityScorer(clip_dir, device="cpu")
    assert isinstance(scorer, Scorer) and scorer.name == "clip"
    images = pictures()
    scores = scorer.score(images, [PROMPT] * 3)
    assert len(scores) == 3 and all(math.isfinite(s) and -100 <= s <= 100 for s in scores)
    assert len({round(s, 4) for s in scores}) == 3
    # Same weights on a fresh load; the prompt matters.
    again = ClipSimilarityScorer(clip_dir, device="cpu").score(images, [PROMPT] * 3)
    assert again == pytest.approx(scores, abs=1e-5)
    other = scorer.score(images[:1], ["huggie hoops on a marble slab"])
    assert other[0] != pytest.approx(scores[0], abs=1e-4)
    assert scorer.score([], []) == []
    with pytest.raises(ValueError, match="one prompt per image"):
        scorer.score(images, [PROMPT])


def test_aesthetic_head_loads_from_safetensors_or_pth_beside_the_clip_folder(
    aesthetic_dir: Path, tmp_path: Path
) -> None:
    scorer = AestheticScorer(aesthetic_dir, device="cpu")
    assert scorer.name == "aesthetic" and len(scorer.head) == 5
    images = pictures()
    scores = scorer.score(images, ["", "", ""])
    assert all(math.isfinite(s) for s in scores) and len({round(s, 6) for s in scores}) == 3
    pth = save_tiny_aesthetic(tmp_path / "as-pth", seed=0, fmt="pth")
    from_pth = AestheticScorer(pth / "aesthetic_head.pth", device="cpu").score(images, [""] * 3)
    assert from_pth == pytest.approx(scores, abs=1e-6)


def test_aesthetic_head_errors_are_readable(aesthetic_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ScorerError, match="does not exist"):
        AestheticScorer(tmp_path / "missing")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ScorerError, match="exactly one aesthetic head"):
        AestheticScorer(empty)
    # A head trained on a wider CLIP (ViT-L/14 is 768 wide) does not fit the tiny one.
    wide = tmp_path / "wide"
    save_tiny_clip(wide / "clip")
    save_file(
        {"weight": torch.zeros(1, 768), "bias": torch.zeros(1)}, str(wide / "head.safetensors")
    )
    with pytest.raises(ScorerError, match="768-wide"):
        AestheticScorer(wide)
    with pytest.raises(ScorerError, match="not a CLIP model folder"):
        ClipSimilarityScorer(tmp_path / "nothing")


def test_load_scorer_picks_the_kind_from_the_name_and_shares_clip(
    clip_dir: Path, aesthetic_dir: Path
) -> None:
    shared: dict[str, Any] = {}
    clip = load_scorer("clip-tiny", aesthetic_dir / "clip", device="cpu", backbones=shared)
    aesthetic = load_scorer("aesthetic", aesthetic_dir, device="cpu", backbones=shared)
    assert isinstance(clip, ClipSimilarityScorer) and clip.name == "clip-tiny"
    assert isinstance(aesthetic, AestheticScorer) and len(shared) == 1
    assert clip.backbone is aesthetic.backbone
    with pytest.raises(ScorerError, match="Unknown metric 'sharpness'"):
        load_scorer("sharpness", clip_dir)
    assert set(tiny_head_state()) == {
        f"layers.{i}.{p}" for i in (0, 2, 4, 6, 7) for p in ("weight", "bias")
    }


# --------------------------------------------------------------------------- service


def done_image(picture: PILImage.Image, **fields: Any) -> Image:
    """A done image whose master file is `picture`, written to default_storage."""
    image = make_image(**fields)
    return mark_done(image, picture)


def mark_done(image: Image, picture: PILImage.Image) -> Image:
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    name = default_storage.save(f"masters/test-{image.pk}.png", ContentFile(buffer.getvalue()))
    Image.objects.filter(pk=image.pk).update(status=Image.Status.DONE, file=name)
    image.refresh_from_db()
    return image


@pytest.fixture
def scorers_on(settings: Any, clip_dir: Path, aesthetic_dir: Path) -> dict[str, str]:
    settings.LOUPE_SCORERS = {"clip": str(clip_dir), "aesthetic": str(aesthetic_dir)}
    settings.LOUPE_RENDER_DEVICE = "cpu"
    return settings.LOUPE_SCORERS  # type: ignore[no-any-return]


@pytest.mark.django_db
def test_images_score_stores_one_score_per_image_and_metric_and_is_idempotent(
    scorers_on: dict[str, str],
) -> None:
    prompt = PromptFactory(text=PROMPT)
    config = make_config(sampler="euler_a")
    images = [
        done_image(p, config=config, prompt=prompt, seed=seed) for seed, p in enumerate(pictures())
    ]
    pending = make_image(config=config, prompt=prompt, seed=99)
    ids = [i.pk for i in images] + [pending.pk]

    assert scoring.images_score(image_ids=ids) == 6
    rows = list(ImageScore.objects.order_by("image_id", "metric"))
    assert len(rows) == 6 and {r.image_id for r in rows} == {i.pk for i in images}
    assert {r.model_path for r in rows} == set(scorers_on.values())
    assert all(math.isfinite(r.value) for r in rows)
    clip_values = [r.value for r in rows if r.metric == "clip"]
    direct = ClipSimilarityScorer(scorers_on["clip"], device="cpu").score(pictures(), [PROMPT] * 3)
    assert clip_values == pytest.approx(direct, abs=1e-4)

    assert scoring.images_score(image_ids=ids) == 0  # safe to run twice
    assert ImageScore.objects.count() == 6
    # A newly finished image is scored, and only for the metric asked.
    mark_done(pending, pictures()[0])
    assert scoring.images_score(image_ids=ids, metrics=["aesthetic"]) == 1
    assert list(ImageScore.objects.filter(image=pending).values_list("metric", flat=True)) == [
        "aesthetic"
    ]


@pytest.mark.django_db
def test_images_score_refuses_an_unconfigured_metric_and_skips_missing_files(
    scorers_on: dict[str, str],
) -> None:
    image = done_image(pictures()[0])
    with pytest.raises(ValueError, match="Metric sharpness is not configured"):
        scoring.images_score(image_ids=[image.pk], metrics=["sharpness"])
    default_storage.delete(image.file.name)
    assert scoring.images_score(image_ids=[image.pk]) == 0
    assert not ImageScore.objects.exists()


@dataclass
class FakeResult:
    image: PILImage.Image | None
    seconds: float = 0.01
    error: str = ""


class FakeEngine:
    """Stands in for the render engine: one flat picture per spec."""

    def render(self, specs: list[Any]) -> list[FakeResult]:
        return [
            FakeResult(PILImage.new("RGB", (64, 64), (10 * i, 90, 200))) for i in range(len(specs))
        ]

    def describe_device(self) -> str:
        return "fake"

    def loaded_models(self) -> list[str]:
        return []


@pytest.mark.django_db
def test_a_finished_render_batch_enqueues_scoring_only_when_scorers_are_configured(
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
    scorers_on: dict[str, str],
) -> None:
    monkeypatch.setattr(rendering, "get_engine", lambda: FakeEngine())
    prompt = PromptFactory(text=PROMPT)
    config = make_config(sampler="euler_a")
    first = [make_image(config=config, prompt=prompt, seed=s) for s in (1, 2)]
    with django_capture_on_commit_callbacks(execute=True):
        assert rendering.images_render(image_ids=[i.pk for i in first]) == 2
    assert ImageScore.objects.filter(image__in=first).count() == 4  # Celery eager in tests

    settings.LOUPE_SCORERS = {}
    second = make_image(config=config, prompt=prompt, seed=3)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert rendering.images_render(image_ids=[second.pk]) == 1
    assert callbacks == [] and not ImageScore.objects.filter(image=second).exists()


@pytest.mark.django_db
def test_score_images_command_scores_a_study(scorers_on: dict[str, str], settings: Any) -> None:
    study = make_study(n_configs=2)
    study_launch(study=study)  # on_commit never runs here: images stay pending
    images = list(Image.objects.order_by("pk"))
    for image, picture in zip(images, pictures(), strict=False):
        mark_done(image, picture)
    out = io.StringIO()
    call_command("score_images", study=study.pk, stdout=out)
    assert ImageScore.objects.count() == 4
    assert "Scored 4 new" in out.getvalue() and "2 rendered images" in out.getvalue()
    call_command("score_images", study=study.pk, metric=["clip"], stdout=out)
    assert "Scored 0 new" in out.getvalue()
    with pytest.raises(CommandError, match="No study with id"):
        call_command("score_images", study=999999)
    with pytest.raises(CommandError, match="not configured"):
        call_command("score_images", study=study.pk, metric=["clipx"])
    settings.LOUPE_SCORERS = {}
    with pytest.raises(CommandError, match="No scorer is configured"):
        call_command("score_images", study=study.pk)


def test_images_score_enqueue_never_fails_the_render_for_a_lost_message(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def refuse(ids: list[int]) -> None:
        raise ConnectionError("broker down")

    monkeypatch.setattr("generation.tasks.score_images.delay", refuse)
    scoring.images_score_enqueue(image_ids=[1, 2])
    assert "could not enqueue scoring for images [1, 2]" in caplog.text
