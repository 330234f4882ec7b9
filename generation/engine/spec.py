"""Plain data passed into and out of the engine (no torch here)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL.Image import Image


class RenderError(Exception):
    """A readable, user-facing reason why an image (or a group of images) could not be rendered."""


@dataclass(frozen=True)
class AdapterSpec:
    path: str  # local .safetensors file, or a folder holding pytorch_lora_weights.safetensors
    sha256: str  # hex digest of the weights; the adapter's name in the pipeline derives from it
    scale: float

    @property
    def adapter_name(self) -> str:
        return "lora_" + self.sha256[:16].lower()


@dataclass(frozen=True)
class RenderSpec:
    """Fully resolved parameters of one image; JSON-able through `dataclasses.asdict`."""

    base_model: str
    vae: str
    sampler: str
    steps: int
    cfg: float
    width: int
    height: int
    prompt: str
    key_terms: tuple[str, ...]
    compel_level: str
    negative_prompt: str
    seed: int
    adapters: tuple[AdapterSpec, ...] = ()

    def model_key(self) -> tuple[str, str, tuple[tuple[str, float], ...]]:
        """Everything that forces a model change: base model, VAE, adapters with their scales."""
        return (self.base_model, self.vae, self.adapter_state())

    def adapter_state(self) -> tuple[tuple[str, float], ...]:
        return tuple((a.adapter_name, float(a.scale)) for a in self.adapters)

    def batch_key(self) -> tuple[str, int, float, int, int]:
        """Specs sharing this (and the model key) can go through one pipeline call."""
        return (self.sampler, self.steps, float(self.cfg), self.width, self.height)


@dataclass
class RenderResult:
    image: Image | None
    error: str | None
    # Wall time attributed to this image: its share of loading, encoding and its batch.
    seconds: float


@dataclass
class EngineStats:
    text_encoder_calls: int = 0  # forward passes of the text encoder (counted by a hook)
    images: int = 0  # images rendered successfully
    pipeline_loads: int = 0
    scheduler_swaps: int = 0
    lora_loads: int = 0
    pipeline_calls: int = 0  # pipeline invocations (batches, OOM retries included)
    oom_splits: int = 0  # batches split in half after running out of memory
