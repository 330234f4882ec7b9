"""Loading and activating LoRA adapters on a pipeline (diffusers' peft backend)."""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import transformers
from diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion import StableDiffusionPipeline
from safetensors import safe_open

from .loading import short_error
from .spec import AdapterSpec, RenderError

log = logging.getLogger(__name__)

LORA_WEIGHT_NAME = "pytorch_lora_weights.safetensors"
_HEX = re.compile(r"^[0-9a-fA-F]{16,}$")


def resolve_adapter_file(adapter: AdapterSpec) -> Path:
    """The .safetensors file of an adapter, checked to exist and to hold LoRA tensors."""
    path = Path(adapter.path).expanduser()
    if path.is_dir():
        path = path / LORA_WEIGHT_NAME
    if not path.is_file():
        raise RenderError(f"adapter file not found: {path}")
    try:
        with safe_open(str(path), framework="pt") as handle:
            keys = list(handle.keys())
    except Exception as exc:
        raise RenderError(
            f"adapter file is not a valid LoRA safetensors: {path} ({short_error(exc)})"
        ) from exc
    if not any("lora" in key for key in keys):
        raise RenderError(f"adapter file is not a valid LoRA safetensors: {path} (no LoRA tensors)")
    return path


def present_adapters(pipe: StableDiffusionPipeline) -> set[str]:
    return {name for names in pipe.get_list_adapters().values() for name in names}


def load_adapter(pipe: StableDiffusionPipeline, adapter: AdapterSpec) -> None:
    """Load one adapter under its sha-derived name; on failure leave nothing half-loaded behind."""
    if not _HEX.match(adapter.sha256):
        raise RenderError(f"adapter has no valid sha256 (need a hex digest): {adapter.path}")
    path = resolve_adapter_file(adapter)
    name = adapter.adapter_name
    try:
        with _quiet_transformers():
            pipe.load_lora_weights(str(path.parent), weight_name=path.name, adapter_name=name)
    except Exception as exc:
        try:
            if name in present_adapters(pipe):
                pipe.delete_adapters(name)
        except Exception:  # noqa: BLE001 - cleanup is best effort; the load error is what matters
            log.warning("could not remove half-loaded adapter %s", name, exc_info=True)
        raise RenderError(
            f"adapter file is not a valid LoRA safetensors for this base model: {path} ({short_error(exc)})"
        ) from exc
    if name not in present_adapters(pipe):
        raise RenderError(
            f"adapter file is not a valid LoRA safetensors: {path} (no layers matched the base model)"
        )


@contextmanager
def _quiet_transformers() -> Iterator[None]:
    # Loading a second adapter into the text encoder makes transformers log a "LOAD REPORT" listing
    # every other parameter as MISSING; nothing is re-initialised, so the warning is only noise.
    # peft likewise warns that a model with one adapter gets another, which is the point here.
    previous = transformers.utils.logging.get_verbosity()
    transformers.utils.logging.set_verbosity_error()
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Already found a `peft_config` attribute")
            yield
    finally:
        transformers.utils.logging.set_verbosity(previous)
