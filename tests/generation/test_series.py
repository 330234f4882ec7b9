"""LoRA checkpoint series: registration (steps, loss log, errors, all or nothing), the grid
and its rendering with the tiny model, the loupe, the pages and the API."""

from __future__ import annotations

import io
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.test import Client
from PIL import Image as PILImage
from safetensors import safe_open
from safetensors.numpy import save_file

from generation.models import (
    Checkpoint,
    CheckpointSeries,
    GenerationConfig,
    Image,
    LoraAdapter,
    Prompt,
)
from generation.series_demo import DEMO_STEPS, demo_series_write, tiny_lora_tensors
from generation.series_selectors import series_grid, series_images, series_loupe
from generation.services.series import (
    loss_log_parse,
    series_grid_render,
    series_register,
    step_from_name,
)
from tests.factories import PromptFactory, make_config, paint_done, researcher

pytestmark = pytest.mark.django_db


def _root(settings: Any) -> Path:
    root = Path(settings.LOUPE_ADAPTER_ROOTS[0])
    root.mkdir(parents=True, exist_ok=True)
    return root


def _folder(settings: Any, name: str = "run", steps: tuple[int, ...] = (100, 200, 300)) -> Path:
    folder = _root(settings) / name
    demo_series_write(folder, steps=steps)
    return folder


def _base() -> GenerationConfig:
    return make_config(sampler="euler_a", steps=4)


def _messages(error: pytest.ExceptionInfo[ValidationError]) -> dict[str, list[str]]:
    return error.value.message_dict


# --- steps and the loss log ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stem", "step"),
    [
        ("name-000500", 500),
        ("step_500", 500),
        ("checkpoint-500", 500),
        ("lora_step1200", 1200),
        ("ckpt30", 30),
        ("750", 750),
        ("epoch-2.250", 250),
        ("lora_v2", None),
        ("model500", None),
        ("final", None),
    ],
)
def test_step_from_name_reads_the_trailing_step(stem: str, step: int | None) -> None:
    assert step_from_name(stem) == step


def test_loss_log_parse_sorts_rows_and_takes_columns_by_name() -> None:
    text = "\ufeffepoch,Loss,step\n1,0.20,200\n1,0.25,100\n\n2,0.1e0,300\n"
    assert loss_log_parse(text) == [(100, 0.25), (200, 0.2), (300, 0.1)]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a,b\n1,2\n", "The first line must name the columns, with “step” and “loss” among them."),
        ("step,loss\n", "The loss log has a header but no rows."),
        ("step,loss\n10,0.5\nten,0.4\n", "Line 3: step 'ten' is not a whole number."),
        ("step,loss\n10,nan\n", "Line 2: loss 'nan' is not a finite number."),
        ("step,loss\n10,low\n", "Line 2: loss 'low' is not a number."),
        ("step,loss\n-5,0.3\n", "Line 2: step -5 is negative."),
        ("step,loss\n10,0.3\n10,0.2\n", "Line 3: step 10 appears twice."),
        ("step,loss\n10\n", "Line 2: needs a step and a loss."),
    ],
)
def test_loss_log_parse_names_the_line_and_the_rule(text: str, message: str) -> None:
    with pytest.raises(ValidationError) as error:
        loss_log_parse(text)
    assert _messages(error) == {"loss_log": [message]}


# --- registration -----------------------------------------------------------------------------


def test_series_register_makes_one_adapter_and_config_per_checkpoint(settings: Any) -> None:
    folder = _folder(settings)
    base = _base()
    series = series_register(name="run A", folder=str(folder), base_config=base, scale=0.8,
                             trigger_token="phol")  # fmt: skip
    checkpoints = list(series.checkpoints.select_related("adapter", "config"))
    assert [c.step for c in checkpoints] == [100, 200, 300]
    for checkpoint in checkpoints:
        links = list(checkpoint.config.adapter_links.all())
        assert [(link.adapter_id, link.scale) for link in links] == [(checkpoint.adapter_id, 0.8)]
        assert checkpoint.config.params() == base.params()
        assert checkpoint.adapter.trigger_token == "phol"
        assert Path(checkpoint.adapter.weights).name.endswith(f"{checkpoint.step:06d}.safetensors")
        assert len(checkpoint.adapter.sha256) == 64
    assert len({c.config.fingerprint for c in checkpoints}) == 3
    # loss.csv beside the checkpoints was read (every 25 steps from 0 to 300).
    assert [row[0] for row in series.loss_log] == list(range(0, 301, 25))
    assert series.folder == str(folder.resolve())


def test_series_register_prefers_the_given_loss_log(settings: Any) -> None:
    _folder(settings)
    series = series_register(name="run", folder="run", base_config=_base(),
                             loss_csv="step,loss\n100,0.3\n300,0.1\n")  # fmt: skip
    assert series.loss_log == [[100, 0.3], [300, 0.1]]


def test_series_register_reads_the_step_from_metadata(settings: Any) -> None:
    folder = _root(settings) / "meta"
    folder.mkdir()
    for step in (40, 80):
        save_file(tiny_lora_tensors(rank=2, seed=1, size=step / 80), str(folder / f"lora-{chr(96 + step // 40)}x.safetensors"),
                  metadata={"ss_steps": str(step)})  # fmt: skip
    series = series_register(name="meta", folder=str(folder), base_config=_base())
    assert list(series.checkpoints.values_list("step", flat=True)) == [40, 80]


def _nothing_saved() -> None:
    assert not CheckpointSeries.objects.exists()
    assert not Checkpoint.objects.exists()
    assert not LoraAdapter.objects.exists()
    assert GenerationConfig.objects.count() == 1  # the base only


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        ("no_step", "final.safetensors: no training step in its name"),
        ("not_lora", "zz-000400.safetensors: Not a LoRA adapter file"),
        ("same_step", "demo-jewelry-lora-000200.safetensors and run-000200.safetensors are both step 200."),
        ("same_bytes", "demo-jewelry-lora-000100.safetensors and zz-000999.safetensors are the same file."),
        ("bad_loss", "Line 3: step 'x' is not a whole number."),
    ],
)  # fmt: skip
def test_series_register_refuses_a_bad_folder_and_saves_nothing(
    settings: Any, breakage: str, message: str
) -> None:
    folder = _folder(settings)
    if breakage == "no_step":
        # No step in the name, none in the metadata.
        save_file(tiny_lora_tensors(rank=2, seed=3, size=1), str(folder / "final.safetensors"))
    elif breakage == "not_lora":
        save_file({"weight": np.zeros((4, 4), np.float32)}, str(folder / "zz-000400.safetensors"))
    elif breakage == "same_step":
        save_file(tiny_lora_tensors(rank=2, seed=3, size=1), str(folder / "run-000200.safetensors"))
    elif breakage == "same_bytes":
        shutil.copy(
            folder / "demo-jewelry-lora-000100.safetensors", folder / "zz-000999.safetensors"
        )
    else:
        (folder / "loss.csv").write_text("step,loss\n1,0.2\nx,0.1\n")
    base = _base()
    with pytest.raises(ValidationError) as error:
        series_register(name="run", folder="run", base_config=base)
    messages = _messages(error)
    field = "loss_log" if breakage == "bad_loss" else "folder"
    assert list(messages) == [field] and messages[field][0].startswith(message), messages
    _nothing_saved()


def test_series_register_saves_nothing_when_a_late_checkpoint_fails(settings: Any) -> None:
    """The third checkpoint's adapter name is taken: the first two are rolled back too."""
    _folder(settings)
    base = _base()
    LoraAdapter.objects.create(name="run · step 300", weights="x.safetensors", sha256="0" * 64)
    with pytest.raises(ValidationError) as error:
        series_register(name="run", folder="run", base_config=base)
    assert _messages(error) == {
        "folder": ["demo-jewelry-lora-000300.safetensors: Lora adapter with this Name already "
                   "exists."]
    }  # fmt: skip
    assert not CheckpointSeries.objects.exists() and not Checkpoint.objects.exists()
    assert LoraAdapter.objects.count() == 1 and GenerationConfig.objects.count() == 1


def test_series_register_refuses_paths_outside_the_adapter_folders(
    settings: Any, tmp_path: Path
) -> None:
    _root(settings)
    outside = tmp_path / "elsewhere"
    demo_series_write(outside, steps=(1, 2))
    for raw in (str(outside), "../elsewhere", ""):
        with pytest.raises(ValidationError) as error:
            series_register(name="x", folder=raw, base_config=_base())
        assert _messages(error) == {
            "folder": ["Give a path inside the adapter folders (LOUPE_ADAPTER_ROOTS)."]
        }
    (Path(settings.LOUPE_ADAPTER_ROOTS[0]) / "link").symlink_to(outside)
    with pytest.raises(ValidationError):
        series_register(name="x", folder="link", base_config=_base())


def test_series_register_names_each_field_rule(settings: Any) -> None:
    _folder(settings)
    (_root(settings) / "one").mkdir()
    demo_series_write(_root(settings) / "one", steps=(5,))
    with_adapter = series_register(name="first", folder="run", base_config=_base())
    adapted = with_adapter.checkpoints.first().config  # type: ignore[union-attr]
    cases = [
        ({"name": "first"}, "name", "A series with this name already exists; choose another name."),
        ({"scale": 9.0}, "scale", None),
        ({"base_config": adapted}, "base_config", "Choose a base configuration without adapters: each checkpoint is added to it."),
        ({"folder": "one"}, "folder", "The folder holds 1 .safetensors file(s); a series needs at least two checkpoints."),
        ({"folder": "missing"}, "folder", "No folder at that path in the adapter folders."),
    ]  # fmt: skip
    for change, field, message in cases:
        kwargs: dict[str, Any] = {"name": "second", "folder": "run", "base_config": _base()}
        kwargs.update(change)
        with pytest.raises(ValidationError) as error:
            series_register(**kwargs)
        assert field in _messages(error), (change, _messages(error))
        if message:
            assert _messages(error)[field] == [message]
    assert CheckpointSeries.objects.count() == 1


# --- the demo's files ---------------------------------------------------------------------------


def test_demo_series_files_have_the_layout_of_a_lora_made_by_peft(tmp_path: Path) -> None:
    """The numpy writer against generation.engine.testing.make_test_lora (the oracle): the
    same tensor names and shapes for the tiny-random model."""
    from generation.engine.builders import build_tiny_random_pipeline
    from generation.engine.testing import make_test_lora

    oracle = make_test_lora(build_tiny_random_pipeline(), tmp_path / "oracle.safetensors", rank=4)
    written = demo_series_write(tmp_path / "demo")
    assert len(written) == len(DEMO_STEPS)

    def layout(path: Path) -> dict[str, list[int]]:
        with safe_open(str(path), framework="numpy") as handle:
            return {k: list(handle.get_slice(k).get_shape()) for k in handle.keys()}

    assert layout(written[0]) == layout(oracle)


# --- the grid -----------------------------------------------------------------------------------


def test_series_grid_render_renders_every_checkpoint_on_the_same_seeds(
    settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    """Real rendering: eager Celery and the tiny-random engine; each checkpoint changes the
    picture more than the one before (the demo run's LoRA grows with the step)."""
    _folder(settings)
    series = series_register(name="run", folder="run", base_config=_base())
    prompt = PromptFactory(text="huggie hoops, gold, white background")
    with django_capture_on_commit_callbacks(execute=True):
        created, reused = series_grid_render(series=series, prompts=[prompt], seeds=[7, 8])
    assert (created, reused) == (6, 0)
    assert series_grid_render(series=series, prompts=[prompt], seeds=[8]) == (0, 3)
    grid = series_grid(series=series)
    assert [c.step for c in grid.checkpoints] == [100, 200, 300]
    assert [(row.prompt.pk, row.seed) for row in grid.rows] == [(prompt.pk, 7), (prompt.pk, 8)]
    assert grid.progress.done == 6 and not grid.rendering
    for row in grid.rows:
        images = [cell for cell in row.cells if cell is not None]
        assert [i.config_id for i in images] == [c.config_id for c in grid.checkpoints]
        assert all(i.status == Image.Status.DONE and i.display_file for i in images)
        assert {i.seed for i in images} == {row.seed}
    # Training shows: the picture moves further from the first checkpoint's at each step.
    first, *later = [_pixels(cell) for cell in grid.rows[0].cells]
    moved = [float(np.abs(first - other).mean()) for other in later]
    assert 0 < moved[0] < moved[1], moved
    view = series_loupe(series=series, image_id=grid.rows[0].cells[1].pk)  # type: ignore[union-attr]
    assert view is not None and view.checkpoint.step == 200
    assert view.previous == grid.rows[0].cells[0] and view.next == grid.rows[0].cells[2]
    assert series_loupe(series=series, image_id=PromptFactory().pk + 10_000) is None


def _pixels(image: Image | None) -> np.ndarray:
    assert image is not None
    with image.display_file.open("rb") as handle:
        return np.asarray(PILImage.open(handle).convert("RGB"), dtype=np.int16)


def test_series_grid_render_names_bad_choices(settings: Any) -> None:
    _folder(settings)
    series = series_register(name="run", folder="run", base_config=_base())
    with pytest.raises(ValidationError) as error:
        series_grid_render(series=series, prompts=[], seeds=[-1])
    assert set(_messages(error)) == {"prompts", "seeds"}
    assert not Image.objects.exists()


def test_demo_series_renders_with_the_demo_model(
    settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    """Starting from the demo: its series is registered, with its loss, and renders."""
    call_command("loupe_bootstrap", "--demo", stdout=io.StringIO())
    series = CheckpointSeries.objects.get()
    assert list(series.checkpoints.values_list("step", flat=True)) == list(DEMO_STEPS)
    assert len(series.loss_log) == 41 and series.trigger_token == "phol"
    assert Path(series.folder).is_relative_to(Path(settings.LOUPE_ADAPTER_ROOTS[0]).resolve())
    prompt = Prompt.objects.get(category="threader earrings")
    with django_capture_on_commit_callbacks(execute=True):
        assert series_grid_render(series=series, prompts=[prompt], seeds=[1234]) == (4, 0)
    grid = series_grid(series=series)
    assert grid.progress.done == 4 and grid.progress.total == 4
    # The trigger token goes into the threader prompt of every checkpoint's render.
    assert {i.params["prompt"].split(",")[0] for i in series_images(series=series)} == {"phol"}
    # Idempotent: a second bootstrap leaves the series as it is.
    call_command("loupe_bootstrap", "--demo", stdout=io.StringIO())
    assert CheckpointSeries.objects.count() == 1 and LoraAdapter.objects.count() == 4


# --- pages --------------------------------------------------------------------------------------


@pytest.fixture
def client_r() -> Client:
    client = Client()
    client.force_login(researcher(username="rita"))
    return client


def test_series_pages_register_render_and_show_the_grid(settings: Any, client_r: Client) -> None:
    _folder(settings)
    base = _base()
    page = client_r.get("/series/")
    assert page.status_code == 200 and b"No series yet" in page.content
    bad = client_r.post("/series/", {"name": "run", "folder": "nowhere", "base_config": base.pk,
                                     "scale": "1"})  # fmt: skip
    assert bad.status_code == 200
    assert "No folder at that path in the adapter folders." in bad.content.decode()
    assert not CheckpointSeries.objects.exists()
    bad_loss = SimpleUploadedFile("loss.csv", b"step,loss\n10,0.2\n20,lots\n", "text/csv")
    refused = client_r.post("/series/", {"name": "run", "folder": "run", "base_config": base.pk,
                                         "scale": "1", "loss_file": bad_loss})  # fmt: skip
    assert "Line 3: loss &#x27;lots&#x27; is not a number." in refused.content.decode()
    assert not CheckpointSeries.objects.exists() and not LoraAdapter.objects.exists()
    done = client_r.post("/series/", {"name": "run", "folder": "run", "base_config": base.pk,
                                      "scale": "1"}, follow=True)  # fmt: skip
    series = CheckpointSeries.objects.get()
    assert done.redirect_chain[-1][0] == f"/series/{series.pk}/"
    assert "Registered run: 3 checkpoints and 13 loss rows." in done.content.decode()
    assert "Nothing rendered yet" in done.content.decode()
    # Images waiting: the grid polls; all done: 286 stops the polling.
    prompt = PromptFactory()
    for checkpoint in series.checkpoints.all():
        Image.objects.create(config=checkpoint.config, prompt=prompt, seed=1234)
    polled = client_r.get(f"/series/{series.pk}/", HTTP_HX_REQUEST="true")
    assert polled.status_code == 200 and b'hx-trigger="every' in polled.content
    for image in Image.objects.all():
        paint_done(image)
    final = client_r.get(f"/series/{series.pk}/", HTTP_HX_REQUEST="true")
    assert final.status_code == 286 and final.content.count(b"<img") == 3
    image = Image.objects.order_by("pk")[1]
    loupe = client_r.get(f"/series/{series.pk}/images/{image.pk}/")
    assert loupe.status_code == 200 and b'id="loupe-prev"' in loupe.content
    assert b'id="loupe-next"' in loupe.content
    other = Image.objects.create(config=base, prompt=prompt, seed=1)
    assert client_r.get(f"/series/{series.pk}/images/{other.pk}/").status_code == 404
    refused = client_r.post(f"/series/{series.pk}/render/", {"seeds": "12, x"})
    assert refused.status_code == 400
    assert "&#x27;x&#x27; is not a seed" in refused.content.decode()


# --- API --------------------------------------------------------------------------------------


def test_series_api_registers_lists_and_renders(
    settings: Any, client_r: Client, django_capture_on_commit_callbacks: Any
) -> None:
    _folder(settings)
    base = _base()
    bad = client_r.post("/api/series/", {"name": "run", "folder": "run", "base_config": base.pk,
                                         "loss_csv": "step,loss\n1,x\n"},
                        content_type="application/json")  # fmt: skip
    assert bad.status_code == 400
    assert bad.json() == {"loss_log": ["Line 2: loss 'x' is not a number."]}
    made = client_r.post("/api/series/", {"name": "run", "folder": "run", "base_config": base.pk},
                         content_type="application/json")  # fmt: skip
    assert made.status_code == 201, made.json()
    body = made.json()
    assert [c["step"] for c in body["checkpoints"]] == [100, 200, 300]
    assert len(body["loss_log"]) == 13
    again = client_r.post("/api/series/", {"name": "run", "folder": "run", "base_config": base.pk},
                          content_type="application/json")  # fmt: skip
    assert again.status_code == 400 and "name" in again.json()
    assert [s["name"] for s in client_r.get("/api/series/").json()["results"]] == ["run"]
    prompt = PromptFactory()
    with django_capture_on_commit_callbacks(execute=True):
        rendered = client_r.post(f"/api/series/{body['id']}/render/",
                                 {"prompts": [prompt.pk], "seeds": [3]},
                                 content_type="application/json")  # fmt: skip
    assert rendered.status_code == 201 and rendered.json() == {"created": 3, "reused": 0}
    grid = client_r.get(f"/api/series/{body['id']}/grid/").json()
    assert grid["steps"] == [100, 200, 300] and grid["done"] == 3 and grid["remaining"] == 0
    cells = grid["rows"][0]["cells"]
    assert [c["step"] for c in cells] == [100, 200, 300]
    assert all(c["image"]["status"] == "done" and c["image"]["seed"] == 3 for c in cells)


# --- the grid's seeds: one rule for the page, the API and the service --------------------------

SEED_RANGE = "Seed must be between 0 and 4294967295 (2^32 - 1)."


@pytest.mark.parametrize(
    ("seeds", "message"),
    [
        ([], "Give at least one seed."),
        (list(range(17)), "Give at most 16 seeds."),
        ([1, 2**32], SEED_RANGE),
        ([-1], SEED_RANGE),
    ],
)
def test_series_grid_render_checks_the_seeds(settings: Any, seeds: list[int], message: str) -> None:
    _folder(settings)
    series = series_register(name="run", folder="run", base_config=_base())
    with pytest.raises(ValidationError) as error:
        series_grid_render(series=series, prompts=[PromptFactory()], seeds=seeds)
    assert _messages(error) == {"seeds": [message]}
    assert not Image.objects.exists()


def test_series_grid_render_counts_distinct_seeds(settings: Any) -> None:
    _folder(settings)
    series = series_register(name="run", folder="run", base_config=_base())
    prompt = PromptFactory()
    assert series_grid_render(series=series, prompts=[prompt], seeds=[1] * 17) == (3, 0)
    sixteen = [*range(16), *range(16)]
    assert series_grid_render(series=series, prompts=[prompt], seeds=sixteen) == (45, 3)


def test_series_page_and_api_say_the_same_about_seeds(settings: Any, client_r: Client) -> None:
    _folder(settings)
    series = series_register(name="run", folder="run", base_config=_base())
    prompt = PromptFactory()
    page, api = f"/series/{series.pk}/render/", f"/api/series/{series.pk}/render/"

    def on_page(seeds: str) -> str:
        response = client_r.post(page, {"prompts": [prompt.pk], "seeds": seeds})
        assert response.status_code == 400
        return response.content.decode()

    def on_api(seeds: list[int]) -> Any:
        return client_r.post(api, {"prompts": [prompt.pk], "seeds": seeds},
                             content_type="application/json")  # fmt: skip

    seventeen = list(range(17))
    assert "Give at most 16 seeds." in on_page(", ".join(map(str, seventeen)))
    assert on_api(seventeen).json() == {"seeds": ["Give at most 16 seeds."]}
    assert SEED_RANGE in on_page(str(2**32))
    assert on_api([2**32]).json() == {"seeds": [SEED_RANGE]}
    assert SEED_RANGE in on_page("-1")
    assert "Give at least one seed." in on_page(", ,")
    assert not Image.objects.exists()
    # Seventeen copies of one seed are one seed, on both.
    copies = on_api([1] * 17)
    assert copies.status_code == 201 and copies.json() == {"created": 3, "reused": 0}
    again = client_r.post(page, {"prompts": [prompt.pk], "seeds": ", ".join(["1"] * 17)})
    assert again.status_code == 302 and Image.objects.count() == 3
