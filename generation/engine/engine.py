"""The render engine: warm pipelines, batched calls, per-image errors."""

from __future__ import annotations

import gc
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion import StableDiffusionPipeline
from PIL.Image import Image

from generation.constants import COMPEL_WEIGHTS, SAMPLERS

from .loading import load_base_pipeline, load_vae, short_error
from .lora import load_adapter
from .prompts import PromptEncoder, weighted_prompt
from .samplers import make_scheduler
from .spec import EngineStats, RenderError, RenderResult, RenderSpec

log = logging.getLogger(__name__)

AdapterState = tuple[tuple[str, float], ...]
PipelineKey = tuple[str, str, str, str]  # base model, VAE, device, dtype

# On CPU, MKL/oneDNN pick other kernels for small batches: a GEMM with M in {1,2,3,5,6,7,9,10,11}
# rows (the UNet's time-embedding layers have M = batch rows) and a convolution with batch 1 round
# differently from the same rows inside a bigger batch, so an image rendered alone drifted by ~1e-6
# from the same image in a batch and some uint8 pixels flipped. With every UNet call padded to a
# multiple of 4 rows (padding rows are copies, sliced off afterwards) each row's result no longer
# depends on its batch: alone == batch of 8 or 16 == fresh engine, bit for bit (measured on
# AVX-512 and AVX2 with MKL 2024.2 / oneDNN 3.12, testing.BIT_IDENTICAL_CPUS; another CPU could
# need another multiple, and the tests compare within testing.RENDER_TOLERANCE there). The VAE
# decodes one image at a time (enable_slicing) for the same reason. CUDA gets no padding; whether
# its batched kernels are bit-identical is not verified here (bench/render.py prints it).
CPU_ROW_MULTIPLE = 4


@dataclass
class _Loaded:
    pipe: StableDiffusionPipeline
    scheduler_config: dict[str, Any]
    encoder: PromptEncoder
    adapters: set[str] = field(default_factory=set)
    active: AdapterState | None = ()  # None: unknown (a switch failed half-way)


@dataclass
class _Item:
    index: int
    spec: RenderSpec
    positive: torch.Tensor
    negative: torch.Tensor


class Engine:
    """Renders RenderSpecs; one instance per worker process keeps its pipelines warm."""

    def __init__(
        self,
        *,
        device: str | None = None,
        dtype: torch.dtype | None = None,
        compile: bool = False,
        max_batch: int = 16,
        max_pipelines: int = 2,
    ) -> None:
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.dtype = dtype or (torch.float16 if self.device.type == "cuda" else torch.float32)
        self.compile = compile
        self.max_batch = max_batch
        self.max_pipelines = max_pipelines
        self.row_multiple = CPU_ROW_MULTIPLE if self.device.type == "cpu" else 1
        self.stats = EngineStats()
        self._pipelines: OrderedDict[PipelineKey, _Loaded] = OrderedDict()
        # The one place a batch reaches diffusers; tests replace it to inject failures such as OOM.
        self.call_pipeline: Callable[
            [StableDiffusionPipeline, list[RenderSpec], dict[str, Any]], list[Image]
        ] = _call_pipeline

    # ----------------------------------------------------------------- pipelines
    def pipeline(self, base_model: str, vae: str = "") -> StableDiffusionPipeline:
        """The warm pipeline for (base model, VAE), loading it if needed (raises RenderError)."""
        return self._load(base_model, vae).pipe

    def _load(self, base_model: str, vae: str) -> _Loaded:
        key = (base_model, vae, str(self.device), str(self.dtype))
        loaded = self._pipelines.get(key)
        if loaded is not None:
            self._pipelines.move_to_end(key)
            return loaded
        # Evict before loading: on a GPU two SD pipelines plus activations may not fit at once.
        while len(self._pipelines) >= self.max_pipelines:
            self._pipelines.popitem(last=False)
            self._free_memory()
        pipe = load_base_pipeline(base_model, device=self.device, dtype=self.dtype)
        if vae:
            pipe.vae = load_vae(vae, device=self.device, dtype=self.dtype)
        self._prepare(pipe)
        loaded = _Loaded(
            pipe=pipe,
            scheduler_config=dict(pipe.scheduler.config),
            encoder=PromptEncoder(pipe.tokenizer, pipe.text_encoder, dtype=self.dtype),
        )
        self._pipelines[key] = loaded
        self.stats.pipeline_loads += 1
        return loaded

    def _prepare(self, pipe: StableDiffusionPipeline) -> None:
        pipe.set_progress_bar_config(disable=True)
        pipe.vae.enable_slicing()
        pipe.text_encoder.register_forward_pre_hook(self._count_text_encoder_call)
        if self.device.type == "cuda":
            pipe.unet.to(memory_format=torch.channels_last)
        if self.row_multiple > 1:
            pipe.unet.register_forward_pre_hook(_pad_rows_pre(self.row_multiple), with_kwargs=True)
            pipe.unet.register_forward_hook(_pad_rows_post, with_kwargs=True)
        if self.compile:
            pipe.unet.compile()

    def _count_text_encoder_call(self, module: torch.nn.Module, args: tuple[Any, ...]) -> None:
        self.stats.text_encoder_calls += 1

    def _free_memory(self) -> None:
        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    def describe_device(self) -> str:
        """Short human-readable description of where this engine renders (for worker heartbeats)."""
        precision = str(self.dtype).removeprefix("torch.")
        if self.device.type == "cuda":
            index = (
                self.device.index if self.device.index is not None else torch.cuda.current_device()
            )
            name = torch.cuda.get_device_name(index)
            return f"cuda:{index} {name}, {precision}, torch {torch.__version__}"
        return f"{self.device.type}, {precision}, {torch.get_num_threads()} threads, torch {torch.__version__}"

    def loaded_models(self) -> list[str]:
        """The warm pipelines, most recently used last: base model, VAE override and LoRA count."""
        described = []
        for (base_model, vae, _device, _dtype), loaded in self._pipelines.items():
            text = base_model + (f" + VAE {vae}" if vae else "")
            if loaded.adapters:
                text += f" + {len(loaded.adapters)} LoRA"
            described.append(text)
        return described

    def clear_prompt_cache(self) -> None:
        """Forget cached prompt embeddings (the bench measures a study from a cold cache)."""
        for loaded in self._pipelines.values():
            loaded.encoder = PromptEncoder(
                loaded.pipe.tokenizer, loaded.pipe.text_encoder, dtype=self.dtype
            )

    # ----------------------------------------------------------------- adapters
    def _activate(self, loaded: _Loaded, spec: RenderSpec) -> AdapterState:
        state = spec.adapter_state()
        if state == loaded.active:
            return state
        pipe = loaded.pipe
        loaded.active = None
        if not spec.adapters:
            if loaded.adapters:
                pipe.disable_lora()
            loaded.active = ()
            return state
        names = [a.adapter_name for a in spec.adapters]
        if len(set(names)) != len(names):
            raise RenderError("the same adapter is listed twice")
        for adapter in spec.adapters:
            if adapter.adapter_name not in loaded.adapters:
                load_adapter(pipe, adapter)
                loaded.adapters.add(adapter.adapter_name)
                self.stats.lora_loads += 1
        pipe.enable_lora()
        pipe.set_adapters(names, adapter_weights=[float(a.scale) for a in spec.adapters])
        loaded.active = state
        return state

    def activate_adapters(self, spec: RenderSpec) -> None:
        """Put the spec's pipeline in the spec's adapter state (used by the bench to time switches)."""
        self._activate(self._load(spec.base_model, spec.vae), spec)

    # ----------------------------------------------------------------- rendering
    def render(self, specs: Sequence[RenderSpec]) -> list[RenderResult]:
        """Render specs, same order; a per-image or per-group problem becomes that result's error."""
        results: list[RenderResult | None] = [None] * len(specs)
        groups: OrderedDict[tuple[Any, ...], list[int]] = OrderedDict()
        for index, spec in enumerate(specs):
            problem = validate_spec(spec)
            if problem is not None:
                results[index] = RenderResult(None, problem, 0.0)
                continue
            groups.setdefault(spec.model_key(), []).append(index)

        for indices in groups.values():
            started = time.perf_counter()
            try:
                loaded, items, prompt_errors = self._prepare_group(specs, indices)
            except Exception as exc:
                if not isinstance(exc, RenderError):
                    log.exception("could not prepare %s", specs[indices[0]].model_key())
                message = (
                    str(exc)
                    if isinstance(exc, RenderError)
                    else f"could not prepare the model: {short_error(exc)}"
                )
                share = (time.perf_counter() - started) / len(indices)
                for index in indices:
                    results[index] = RenderResult(None, message, share)
                continue
            for index, message in prompt_errors.items():
                results[index] = RenderResult(None, message, 0.0)
            setup_share = (time.perf_counter() - started) / max(len(items), 1)
            for batch in _batches(items, self.max_batch):
                for index, image, error, seconds in self._render_batch(loaded, batch):
                    results[index] = RenderResult(image, error, seconds + setup_share)
                    if image is not None:
                        self.stats.images += 1
        assert all(r is not None for r in results)
        return [r for r in results if r is not None]

    def _prepare_group(
        self, specs: Sequence[RenderSpec], indices: list[int]
    ) -> tuple[_Loaded, list[_Item], dict[int, str]]:
        first = specs[indices[0]]
        loaded = self._load(first.base_model, first.vae)
        state = self._activate(loaded, first)
        items: list[_Item] = []
        errors: dict[int, str] = {}
        for index in indices:
            spec = specs[index]
            try:
                text = weighted_prompt(spec.prompt, spec.key_terms, spec.compel_level)
                positive, negative = loaded.encoder.pair(text, spec.negative_prompt, state)
            except Exception as exc:  # noqa: BLE001 - a prompt compel cannot parse fails only itself
                errors[index] = f"could not encode the prompt: {short_error(exc)}"
                continue
            items.append(_Item(index, spec, positive, negative))
        return loaded, items, errors

    def _render_batch(
        self, loaded: _Loaded, batch: list[_Item]
    ) -> list[tuple[int, Image | None, str | None, float]]:
        """Render one batch; on out-of-memory split it in half and retry each half."""
        started = time.perf_counter()
        first = batch[0].spec
        try:
            images = self._call(loaded, batch)
        except Exception as exc:
            if not _is_oom(exc):
                log.exception("render failed for a batch of %d", len(batch))
                share = (time.perf_counter() - started) / len(batch)
                message = f"render failed: {type(exc).__name__}: {short_error(exc)}"
                return [(item.index, None, message, share) for item in batch]
            images = None
        if images is not None:
            share = (time.perf_counter() - started) / len(batch)
            return [
                (item.index, image.convert("RGB"), None, share)
                for item, image in zip(batch, images, strict=True)
            ]
        # Retried outside the except block, so the failed attempt's traceback (and the activations
        # it references) is already gone when the halves run.
        self._free_memory()
        wasted = (time.perf_counter() - started) / len(batch)
        if len(batch) == 1:
            message = f"out of GPU memory even for one image at {first.width}x{first.height}"
            return [(batch[0].index, None, message, wasted)]
        self.stats.oom_splits += 1
        half = len(batch) // 2
        out = self._render_batch(loaded, batch[:half]) + self._render_batch(loaded, batch[half:])
        return [(i, img, err, s + wasted) for i, img, err, s in out]

    def _call(self, loaded: _Loaded, batch: list[_Item]) -> list[Image]:
        first = batch[0].spec
        kwargs: dict[str, Any] = {
            "prompt_embeds": torch.cat([item.positive for item in batch]),
            "negative_prompt_embeds": torch.cat([item.negative for item in batch]),
            "num_inference_steps": first.steps,
            "guidance_scale": first.cfg,
            "width": first.width,
            "height": first.height,
            # One CPU generator per image: latents and ancestral noise depend on the seed only.
            "generator": [torch.Generator("cpu").manual_seed(item.spec.seed) for item in batch],
            "output_type": "pil",
        }
        # Schedulers are stateful: a fresh one per call, from the config cached at load time.
        loaded.pipe.scheduler = make_scheduler(first.sampler, loaded.scheduler_config)
        self.stats.scheduler_swaps += 1
        self.stats.pipeline_calls += 1
        return self.call_pipeline(loaded.pipe, [item.spec for item in batch], kwargs)


def validate_spec(spec: RenderSpec) -> str | None:
    """A readable reason why this spec cannot be rendered at all, or None."""
    if spec.sampler not in SAMPLERS:
        return f"unknown sampler {spec.sampler!r}"
    if spec.compel_level not in COMPEL_WEIGHTS:
        return f"unknown compel level {spec.compel_level!r}"
    if spec.steps < 1:
        return f"steps must be at least 1 (got {spec.steps})"
    if spec.width % 8 or spec.height % 8 or spec.width < 8 or spec.height < 8:
        return f"width and height must be positive multiples of 8 (got {spec.width}x{spec.height})"
    if not math.isfinite(spec.cfg) or spec.cfg < 0:
        return f"cfg must be a finite number >= 0 (got {spec.cfg})"
    if not 0 <= spec.seed < 2**63:
        return f"seed must be in [0, 2**63) (got {spec.seed})"
    return None


def _batches(items: list[_Item], max_batch: int) -> list[list[_Item]]:
    """Items that can share one pipeline call, at most max_batch each, in first-seen order."""
    buckets: OrderedDict[tuple[Any, ...], list[_Item]] = OrderedDict()
    for item in items:
        # Conditioning length is part of the key so no image is ever padded for another's sake.
        key = (*item.spec.batch_key(), item.positive.shape[1])
        buckets.setdefault(key, []).append(item)
    return [
        bucket[i : i + max_batch]
        for bucket in buckets.values()
        for i in range(0, len(bucket), max_batch)
    ]


def _call_pipeline(
    pipe: StableDiffusionPipeline, specs: list[RenderSpec], kwargs: dict[str, Any]
) -> list[Image]:
    with torch.inference_mode():
        return list(pipe(**kwargs).images)


def _is_oom(exc: BaseException) -> bool:
    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def _pad_rows_pre(
    multiple: int,
) -> Callable[
    [torch.nn.Module, tuple[Any, ...], dict[str, Any]],
    tuple[tuple[Any, ...], dict[str, Any]] | None,
]:
    def hook(
        module: torch.nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[tuple[Any, ...], dict[str, Any]] | None:
        sample = args[0] if args else kwargs["sample"]
        rows = sample.shape[0]
        pad = -rows % multiple
        if pad == 0:
            return None

        def grow(value: Any) -> Any:
            if isinstance(value, torch.Tensor) and value.ndim > 0 and value.shape[0] == rows:
                return torch.cat([value, value[:1].expand(pad, *value.shape[1:])])
            return value

        module.__dict__["_loupe_rows"] = rows
        return tuple(grow(a) for a in args), {k: grow(v) for k, v in kwargs.items()}

    return hook


def _pad_rows_post(
    module: torch.nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], output: Any
) -> Any:
    rows = module.__dict__.pop("_loupe_rows", None)
    if rows is None:
        return None
    if isinstance(output, tuple):
        return (output[0][:rows], *output[1:])
    output.sample = output.sample[:rows]
    return output
