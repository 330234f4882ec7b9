"""Fixtures for the render engine's tests: tiny seeded models only, nothing downloaded."""

from __future__ import annotations

import os

# Before anything imports huggingface_hub, which reads this once.
os.environ["HF_HUB_OFFLINE"] = "1"

from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from generation.engine import Engine  # noqa: E402
from generation.engine.testing import make_test_lora  # noqa: E402


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    """One CPU engine per test module: the tiny pipeline is built once and kept warm."""
    yield Engine(device="cpu")


@pytest.fixture(scope="module")
def lora_files(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two seeded LoRA files for the tiny pipeline: `unet_te` (UNet + text encoder) and `unet`."""
    folder = tmp_path_factory.mktemp("loras")
    pipe = engine.pipeline("tiny-random")
    return {
        "unet_te": make_test_lora(
            pipe, folder / "unet_te.safetensors", rank=4, seed=1, text_encoder=True
        ),
        "unet": make_test_lora(pipe, folder / "unet_only", rank=4, seed=2),
    }


# The root conftest's autouse fixtures configure Django; the engine never touches Django, and
# these overrides (same names) let its tests run without it:
# pytest -p no:django -o addopts="" tests/generation/engine (addopts names --reuse-db).
@pytest.fixture(autouse=True)
def _media_root() -> None:
    """No media: the engine returns PIL images and writes nothing."""


@pytest.fixture(autouse=True)
def _empty_cache() -> None:
    """No Django cache: the engine's caches are per Engine instance."""
