"""Turning a base-model / VAE reference into a ready pipeline, with readable errors.

Base model references:
- `tiny-random`, `sd15-random`: built in code (see builders.py), never downloaded.
- a local diffusers folder (has model_index.json): `StableDiffusionPipeline.from_pretrained`.
- a single `.safetensors` checkpoint in the original (LDM) layout (pickled `.ckpt` files are refused:
  unpickling runs code):
  `StableDiffusionPipeline.from_single_file`. The component configs and tokenizer are not in the
  file. Offline this works when either
    * a diffusers folder named like the file without its extension sits beside it
      (`models/foo.safetensors` + `models/foo/model_index.json`, `unet/config.json`, `tokenizer/`,
      ...; weights in that folder are not needed), passed as `config=`; or
    * the Hugging Face cache already holds the configs of the repo diffusers infers from the keys
      (`stable-diffusion-v1-5/stable-diffusion-v1-5` for SD 1.x).
  (diffusers' other route, `original_config=` with the LDM yaml, still fetches the CLIP tokenizer
  from the hub cache, so it does not help offline and is not used.)
- anything else is a hub id, loaded from the local cache; HF_HUB_OFFLINE is respected by
  huggingface_hub itself (and makes single files load with `local_files_only=True`).

VAE references: "" (the pipeline's own), a local folder with config.json (or a pipeline folder
with a `vae/` subfolder), or a hub id.
"""

from __future__ import annotations

import os
from pathlib import Path

import diffusers
import torch
import transformers
from diffusers.models.autoencoders.autoencoder_kl import AutoencoderKL
from diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion import StableDiffusionPipeline

from generation.constants import SD15_RANDOM, TINY_RANDOM

from .builders import build_sd15_random_pipeline, build_tiny_random_pipeline
from .spec import RenderError

SINGLE_FILE_SUFFIXES = (".safetensors",)
PICKLE_SUFFIXES = (".ckpt", ".pt", ".pth", ".bin")


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def _looks_like_path(ref: str) -> bool:
    """Hub ids are `name` or `org/name`; anything else that does not exist locally is a missing path."""
    return (
        ref.startswith(("/", ".", "~"))
        or ref.count("/") > 1
        or ref.endswith(SINGLE_FILE_SUFFIXES + PICKLE_SUFFIXES)
    )


def single_file_config_dir(checkpoint: Path) -> Path | None:
    """The diffusers config folder that goes with a single-file checkpoint, if one sits beside it."""
    candidate = checkpoint.with_suffix("")
    return candidate if (candidate / "model_index.json").is_file() else None


def _quiet() -> None:
    # Workers log to files; per-load progress bars there are noise.
    diffusers.utils.logging.disable_progress_bar()
    transformers.utils.logging.disable_progress_bar()


def load_base_pipeline(
    base_model: str, *, device: torch.device, dtype: torch.dtype
) -> StableDiffusionPipeline:
    _quiet()
    if base_model == TINY_RANDOM:
        # Built on the CPU in fp32 so the seeded weights are identical on every device.
        pipe = build_tiny_random_pipeline()
        return pipe.to(device) if dtype == torch.float32 else pipe.to(device=device, dtype=dtype)
    if base_model == SD15_RANDOM:
        with torch.device(device):
            return build_sd15_random_pipeline(device=device, dtype=dtype)

    path = Path(base_model).expanduser()
    common = {"dtype": dtype, "safety_checker": None, "requires_safety_checker": False}
    if path.is_file() and path.suffix in PICKLE_SUFFIXES:
        raise RenderError(
            f"pickled checkpoints are not loaded (unpickling can run code); convert to .safetensors: {base_model}"
        )
    if path.is_file() and path.suffix in SINGLE_FILE_SUFFIXES:
        config_dir = single_file_config_dir(path)
        try:
            if config_dir is not None:
                pipe = StableDiffusionPipeline.from_single_file(
                    str(path), config=str(config_dir), local_files_only=True, **common
                )
            else:
                pipe = StableDiffusionPipeline.from_single_file(
                    str(path), local_files_only=_offline(), **common
                )
        except Exception as exc:  # diffusers raises many kinds; all mean "this file cannot be used"
            hint = (
                ""
                if config_dir is not None
                else f" (offline, put a diffusers config folder at {path.with_suffix('')}/)"
            )
            raise RenderError(
                f"could not load single-file checkpoint {base_model}{hint}: {short_error(exc)}"
            ) from exc
    elif path.is_dir():
        if not (path / "model_index.json").is_file():
            raise RenderError(f"base model folder has no model_index.json: {base_model}")
        try:
            pipe = StableDiffusionPipeline.from_pretrained(str(path), **common)
        except Exception as exc:
            raise RenderError(
                f"could not load base model folder {base_model}: {short_error(exc)}"
            ) from exc
    elif _looks_like_path(base_model):
        raise RenderError(f"base model not found: {base_model}")
    else:
        try:
            pipe = StableDiffusionPipeline.from_pretrained(base_model, **common)
        except Exception as exc:
            where = " (the hub is offline and it is not in the local cache)" if _offline() else ""
            raise RenderError(
                f"could not load base model {base_model!r}{where}: {short_error(exc)}"
            ) from exc
    return pipe.to(device)  # loaded in `dtype` already; a second cast only warns


def load_vae(vae: str, *, device: torch.device, dtype: torch.dtype) -> AutoencoderKL:
    _quiet()
    path = Path(vae).expanduser()
    try:
        if path.is_dir():
            subfolder = None if (path / "config.json").is_file() else "vae"
            if subfolder and not (path / subfolder / "config.json").is_file():
                raise RenderError(f"VAE folder has no config.json (nor vae/config.json): {vae}")
            model = AutoencoderKL.from_pretrained(str(path), subfolder=subfolder, dtype=dtype)
        elif _looks_like_path(vae) or path.exists():
            raise RenderError(f"VAE not found (expected a diffusers folder): {vae}")
        else:
            model = AutoencoderKL.from_pretrained(vae, dtype=dtype)
    except RenderError:
        raise
    except Exception as exc:
        raise RenderError(f"could not load VAE {vae!r}: {short_error(exc)}") from exc
    return model.to(device)


def short_error(exc: BaseException, limit: int = 300) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"
