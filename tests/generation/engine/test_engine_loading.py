from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from generation.engine import (
    Engine,
    build_sd15_random_pipeline,
    build_tiny_random_pipeline,
    library_versions,
)
from generation.engine.testing import pixels, save_pipeline, save_single_file, tiny_spec

# Exact pixel equality here holds on any CPU: each comparison renders the same float32 weights
# with the same batch shapes in one process on one machine, so the arithmetic is the same in the
# same order. Comparisons across batch shapes or machines use same_render, which is exact only on
# the CPUs in BIT_IDENTICAL_CPUS and within RENDER_TOLERANCE elsewhere (test_engine_determinism).


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("models")
    other = build_tiny_random_pipeline(seed=42)
    return {
        "folder": save_pipeline(build_tiny_random_pipeline(), root / "tiny"),
        "single": save_single_file(build_tiny_random_pipeline(), root / "tiny-single.safetensors"),
        "single_no_config": save_single_file(
            build_tiny_random_pipeline(), root / "bare.safetensors", with_config=False
        ),
        "other_vae": Path(other.vae.save_pretrained(str(root / "vae42")) or root / "vae42"),
    }


def test_tiny_random_is_seeded_and_maps_sizes_like_sd15() -> None:
    a, b = build_tiny_random_pipeline(), build_tiny_random_pipeline()
    for name in ("unet", "vae", "text_encoder"):
        sa, sb = getattr(a, name).state_dict(), getattr(b, name).state_dict()
        assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert a.vae_scale_factor == 8
    assert a.tokenizer.model_max_length == 77
    assert a.tokenizer.tokenize("Gold band") == ["g", "o", "l", "d</w>", "b", "a", "n", "d</w>"]


def test_sd15_random_has_sd15_sizes() -> None:
    with torch.device("meta"):
        pipe = build_sd15_random_pipeline(device="meta")
    counts = {
        n: sum(p.numel() for p in getattr(pipe, n).parameters())
        for n in ("unet", "vae", "text_encoder")
    }
    assert counts == {"unet": 859_520_964, "vae": 83_653_863, "text_encoder": 123_060_480}
    assert pipe.vae_scale_factor == 8


def test_engine_renders_at_the_requested_size(engine: Engine) -> None:
    result = engine.render([tiny_spec(width=256, height=256, steps=2)])[0]
    assert pixels(result).shape == (256, 256, 3)


def test_folder_base_model_renders_like_the_built_in_one(
    engine: Engine, saved: dict[str, Path]
) -> None:
    specs = [tiny_spec(sampler=s, seed=9) for s in ("euler_a", "ddim", "dpmpp_2m_karras")]
    builtin = engine.render(specs)
    from_folder = engine.render(
        [tiny_spec(sampler=s.sampler, seed=9, base_model=str(saved["folder"])) for s in specs]
    )
    for a, b in zip(builtin, from_folder, strict=True):
        assert np.array_equal(pixels(a), pixels(b))


def test_single_file_checkpoint_with_config_folder_renders_like_the_built_in_one(
    engine: Engine, saved: dict[str, Path]
) -> None:
    builtin, single = engine.render(
        [tiny_spec(seed=4), tiny_spec(seed=4, base_model=str(saved["single"]))]
    )
    assert np.array_equal(pixels(builtin), pixels(single))


def test_single_file_without_config_offline_fails_readably(
    engine: Engine, saved: dict[str, Path]
) -> None:
    result = engine.render([tiny_spec(base_model=str(saved["single_no_config"]))])[0]
    assert result.image is None and result.error is not None
    assert result.error.startswith(
        f"could not load single-file checkpoint {saved['single_no_config']}"
    )
    assert "put a diffusers config folder at" in result.error


def test_vae_override_from_a_folder(engine: Engine, saved: dict[str, Path]) -> None:
    own_vae = saved["folder"] / "vae"
    default, same, other = engine.render(
        [
            tiny_spec(seed=5),
            tiny_spec(seed=5, vae=str(own_vae)),
            tiny_spec(seed=5, vae=str(saved["other_vae"])),
        ]
    )
    assert np.array_equal(pixels(default), pixels(same))
    assert not np.array_equal(pixels(default), pixels(other))
    # A pipeline folder works as a VAE reference too (its vae/ subfolder is used).
    assert np.array_equal(
        pixels(engine.render([tiny_spec(seed=5, vae=str(saved["folder"]))])[0]), pixels(same)
    )


def test_pipelines_are_cached_per_model_and_vae(saved: dict[str, Path]) -> None:
    fresh = Engine(device="cpu", max_pipelines=2)
    fresh.render([tiny_spec()])
    fresh.render([tiny_spec(seed=2), tiny_spec(seed=3)])
    assert fresh.stats.pipeline_loads == 1
    fresh.render([tiny_spec(vae=str(saved["other_vae"]))])
    assert fresh.stats.pipeline_loads == 2


@pytest.mark.parametrize(
    ("base_model", "vae", "message"),
    [
        ("/nowhere/model", "", "base model not found: /nowhere/model"),
        ("./missing.safetensors", "", "base model not found: ./missing.safetensors"),
        (
            "loupe-test/not-cached",
            "",
            "could not load base model 'loupe-test/not-cached' (the hub is offline",
        ),
        (
            "tiny-random",
            "/nowhere/vae",
            "VAE not found (expected a diffusers folder): /nowhere/vae",
        ),
    ],
)
def test_bad_model_references_fail_their_group_with_a_reason(
    engine: Engine, base_model: str, vae: str, message: str
) -> None:
    bad, good = engine.render([tiny_spec(base_model=base_model, vae=vae), tiny_spec()])
    assert bad.image is None and bad.error is not None and bad.error.startswith(message)
    assert good.error is None


def test_folder_without_model_index_fails_readably(engine: Engine, tmp_path: Path) -> None:
    result = engine.render([tiny_spec(base_model=str(tmp_path))])[0]
    assert result.error == f"base model folder has no model_index.json: {tmp_path}"


def test_library_versions_names_the_pixel_relevant_libraries() -> None:
    versions = library_versions()
    assert set(versions) == {"torch", "diffusers", "transformers", "compel", "peft"}
    assert versions["diffusers"] == "0.42.1" and versions["compel"] == "2.5.1"


def test_pickled_checkpoints_are_refused(engine: Engine, tmp_path: Path) -> None:
    checkpoint = tmp_path / "model.ckpt"
    checkpoint.write_bytes(b"pickle data would run code on load")
    result = engine.render([tiny_spec(base_model=str(checkpoint))])[0]
    assert result.error == (
        "pickled checkpoints are not loaded (unpickling can run code); "
        f"convert to .safetensors: {checkpoint}"
    )
