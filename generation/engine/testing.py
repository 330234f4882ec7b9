"""Helpers that make model files locally (no hub): LoRA adapters, saved pipelines, single-file checkpoints.

Used by the engine's tests and the bench; nothing here is needed to render.
"""

from __future__ import annotations

import dataclasses
import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
from diffusers.models.unets.unet_2d_condition import UNet2DConditionModel
from diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion import StableDiffusionPipeline
from diffusers.utils import convert_state_dict_to_diffusers
from peft import LoraConfig, get_peft_model_state_dict, inject_adapter_in_model
from safetensors.torch import save_file
from transformers import CLIPTextModel

from generation.constants import TINY_RANDOM
from generation.files import file_sha256

from .lora import LORA_WEIGHT_NAME
from .spec import AdapterSpec, RenderResult, RenderSpec

UNET_LORA_TARGETS = ["to_q", "to_k", "to_v", "to_out.0"]
TEXT_LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "out_proj"]


def make_test_lora(
    pipe: StableDiffusionPipeline,
    path: str | Path,
    rank: int = 4,
    seed: int = 0,
    *,
    text_encoder: bool = False,
) -> Path:
    """Save a seeded LoRA with non-zero weights that fits `pipe`; returns the .safetensors file.

    `path` is the file to write, or a folder (then pytorch_lora_weights.safetensors inside it).
    peft lays the adapter out on a weight-less ("meta") copy of the UNet / text encoder, so `pipe`
    is untouched and SD 1.5-sized adapters take no time; both lora_A and lora_B are then drawn
    like nn.Linear's default init (uniform, bound 1/sqrt(fan_in)), since peft's default zero
    lora_B would make an adapter that changes nothing.
    """
    target = Path(path)
    if target.suffix != ".safetensors":
        target = target / LORA_WEIGHT_NAME
    target.parent.mkdir(parents=True, exist_ok=True)
    generator = torch.Generator().manual_seed(seed)
    with torch.device("meta"):
        unet = UNet2DConditionModel.from_config(pipe.unet.config)
        encoder = CLIPTextModel(pipe.text_encoder.config) if text_encoder else None
    unet_layers = _random_lora(unet, UNET_LORA_TARGETS, rank, generator)
    text_layers = _random_lora(encoder, TEXT_LORA_TARGETS, rank, generator) if encoder else None
    layers: dict[str, Any] = {
        "unet_lora_layers": unet_layers,
        "text_encoder_lora_layers": text_layers,
    }
    StableDiffusionPipeline.save_lora_weights(
        save_directory=str(target.parent),
        weight_name=target.name,
        safe_serialization=True,
        **layers,
    )
    return target


def _random_lora(
    model: torch.nn.Module, targets: list[str], rank: int, generator: torch.Generator
) -> dict[str, torch.Tensor]:
    config = LoraConfig(r=rank, lora_alpha=rank, target_modules=targets)
    inject_adapter_in_model(config, model, adapter_name="default")
    shapes = get_peft_model_state_dict(model, adapter_name="default")
    layers: dict[str, torch.Tensor] = {}
    for key in sorted(shapes):
        shape = shapes[key].shape
        bound = 1.0 / math.sqrt(shape[1])
        layers[key] = (torch.rand(shape, generator=generator) * 2 - 1) * bound
    return dict(convert_state_dict_to_diffusers(layers))


def pixels(result: RenderResult) -> np.ndarray:
    """The result's image as a uint8 array; fails loudly with the engine's reason if it has none."""
    assert result.error is None, result.error
    assert result.image is not None
    return np.asarray(result.image)


# A batch renders each image bit for bit as it renders alone only where the CPU's BLAS and
# oneDNN kernels allow it (engine.CPU_ROW_MULTIPLE): measured on AVX-512 (MKL 2024.2, oneDNN
# 3.12) and on AVX2 (AMD EPYC, the same libraries). On any other CPU capability the batch-vs-
# alone tests compare within RENDER_TOLERANCE: each uint8 value off by at most 1, on at most
# 0.1 % of the values (the drift the padding removes on the CPUs above was that size).
BIT_IDENTICAL_CPUS = frozenset({"AVX512", "AVX2"})
RENDER_TOLERANCE = (1, 0.001)  # largest difference per value, share of values that differ


def same_render(a: RenderResult, b: RenderResult, *, capability: str | None = None) -> bool:
    """Whether two renders match: bit for bit on BIT_IDENTICAL_CPUS (on CPU; CUDA is not
    checked here), else within RENDER_TOLERANCE. `capability` defaults to this machine's."""
    x, y = pixels(a).astype(np.int16), pixels(b).astype(np.int16)
    if x.shape != y.shape:
        return False
    if capability is None:
        capability = torch.backends.cpu.get_cpu_capability()
    if capability in BIT_IDENTICAL_CPUS:
        return bool(np.array_equal(x, y))
    largest, share = RENDER_TOLERANCE
    diff = np.abs(x - y)
    return int(diff.max(initial=0)) <= largest and float(np.mean(diff > 0)) <= share


def adapter_for(path: Path, scale: float = 1.0) -> AdapterSpec:
    return AdapterSpec(path=str(path), sha256=file_sha256(path), scale=scale)


def tiny_spec(**overrides: Any) -> RenderSpec:
    """A cheap tiny-random spec (64 px, few steps); override any field."""
    base = RenderSpec(
        base_model=TINY_RANDOM,
        vae="",
        sampler="euler_a",
        steps=6,
        cfg=7.0,
        width=64,
        height=64,
        prompt="channel-set diamond band, white background, studio lighting",
        key_terms=("channel-set", "diamond band"),
        compel_level="medium",
        negative_prompt="low quality, clutter",
        seed=1,
    )
    return dataclasses.replace(base, **overrides)


def save_pipeline(pipe: StableDiffusionPipeline, folder: str | Path) -> Path:
    """Save a pipeline as a diffusers folder (what a local base-model path points at)."""
    pipe.save_pretrained(str(folder), safe_serialization=True)
    return Path(folder)


def save_single_file(
    pipe: StableDiffusionPipeline, path: str | Path, *, with_config: bool = True
) -> Path:
    """Save a pipeline as one LDM-layout .safetensors file (as SD checkpoints are shared).

    With `with_config`, a weight-less diffusers config folder named like the file is written beside
    it, which is what lets `from_single_file` work offline (see loading.py).
    """
    target = Path(path)
    state: dict[str, torch.Tensor] = {}
    for key, value in unet_to_ldm(pipe.unet.state_dict(), dict(pipe.unet.config)).items():
        state["model.diffusion_model." + key] = value
    for key, value in vae_to_ldm(pipe.vae.state_dict(), dict(pipe.vae.config)).items():
        state["first_stage_model." + key] = value
    for key, value in pipe.text_encoder.state_dict().items():
        key = key if key.startswith("text_model.") else "text_model." + key
        state["cond_stage_model.transformer." + key] = value
    target.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().to("cpu").contiguous() for k, v in state.items()}, str(target))
    if with_config:
        folder = target.with_suffix("")
        if folder.exists():
            shutil.rmtree(folder)
        pipe.save_pretrained(str(folder), safe_serialization=True)
        for weights in folder.rglob("*.safetensors"):
            weights.unlink()
    return target


_RESNET_TO_LDM = {
    "norm1": "in_layers.0",
    "conv1": "in_layers.2",
    "norm2": "out_layers.0",
    "conv2": "out_layers.3",
    "time_emb_proj": "emb_layers.1",
    "conv_shortcut": "skip_connection",
}


def unet_to_ldm(state: dict[str, torch.Tensor], config: dict[str, Any]) -> dict[str, torch.Tensor]:
    """Inverse of diffusers' convert_ldm_unet_checkpoint, for any block count / layers per block."""
    per = config["layers_per_block"] + 1
    blocks = len(config["block_out_channels"])
    prefixes: list[tuple[str, str, bool]] = [
        ("time_embedding.linear_1.", "time_embed.0.", False),
        ("time_embedding.linear_2.", "time_embed.2.", False),
        ("conv_in.", "input_blocks.0.0.", False),
        ("conv_norm_out.", "out.0.", False),
        ("conv_out.", "out.2.", False),
        ("mid_block.resnets.0.", "middle_block.0.", True),
        ("mid_block.attentions.0.", "middle_block.1.", False),
        ("mid_block.resnets.1.", "middle_block.2.", True),
    ]
    for i in range(blocks):
        for j in range(per - 1):
            prefixes.append(
                (f"down_blocks.{i}.resnets.{j}.", f"input_blocks.{1 + i * per + j}.0.", True)
            )
            prefixes.append(
                (f"down_blocks.{i}.attentions.{j}.", f"input_blocks.{1 + i * per + j}.1.", False)
            )
        if i < blocks - 1:
            prefixes.append(
                (
                    f"down_blocks.{i}.downsamplers.0.conv.",
                    f"input_blocks.{(i + 1) * per}.0.op.",
                    False,
                )
            )
        for j in range(per):
            prefixes.append(
                (f"up_blocks.{i}.resnets.{j}.", f"output_blocks.{i * per + j}.0.", True)
            )
            prefixes.append(
                (f"up_blocks.{i}.attentions.{j}.", f"output_blocks.{i * per + j}.1.", False)
            )
        if i < blocks - 1:
            slot = 2 if "CrossAttn" in config["up_block_types"][i] else 1
            prefixes.append(
                (
                    f"up_blocks.{i}.upsamplers.0.conv.",
                    f"output_blocks.{i * per + per - 1}.{slot}.conv.",
                    False,
                )
            )
    return _rename(state, prefixes, _RESNET_TO_LDM)


def vae_to_ldm(state: dict[str, torch.Tensor], config: dict[str, Any]) -> dict[str, torch.Tensor]:
    """Inverse of diffusers' convert_ldm_vae_checkpoint (attention projections become 1x1 convs)."""
    blocks = len(config["block_out_channels"])
    prefixes: list[tuple[str, str, bool]] = []
    for part in ("encoder", "decoder"):
        prefixes += [
            (f"{part}.conv_norm_out.", f"{part}.norm_out.", False),
            (f"{part}.mid_block.resnets.0.", f"{part}.mid.block_1.", True),
            (f"{part}.mid_block.resnets.1.", f"{part}.mid.block_2.", True),
            (f"{part}.mid_block.attentions.0.", f"{part}.mid.attn_1.", False),
        ]
    for i in range(blocks):
        prefixes.append((f"encoder.down_blocks.{i}.resnets.", f"encoder.down.{i}.block.", True))
        prefixes.append(
            (f"encoder.down_blocks.{i}.downsamplers.0.", f"encoder.down.{i}.downsample.", False)
        )
        up = blocks - 1 - i
        prefixes.append((f"decoder.up_blocks.{i}.resnets.", f"decoder.up.{up}.block.", True))
        prefixes.append(
            (f"decoder.up_blocks.{i}.upsamplers.0.", f"decoder.up.{up}.upsample.", False)
        )
    renamed = _rename(state, prefixes, {"conv_shortcut": "nin_shortcut"})
    attention = {
        "group_norm": "norm",
        "to_q": "q",
        "to_k": "k",
        "to_v": "v",
        "to_out.0": "proj_out",
    }
    out: dict[str, torch.Tensor] = {}
    for key, value in renamed.items():
        if ".mid.attn_1." in key:
            head, tail = key.split(".mid.attn_1.")
            for old, new in attention.items():
                if tail.startswith(old + "."):
                    tail = new + tail[len(old) :]
                    break
            key = f"{head}.mid.attn_1.{tail}"
            if value.ndim == 2:
                value = value[:, :, None, None]
        out[key] = value
    return out


def _rename(
    state: dict[str, torch.Tensor],
    prefixes: list[tuple[str, str, bool]],
    resnet_map: dict[str, str],
) -> dict[str, torch.Tensor]:
    ordered = sorted(prefixes, key=lambda p: len(p[0]), reverse=True)
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        new_key = key
        for old, new, is_resnet in ordered:
            if key.startswith(old):
                rest = key[len(old) :]
                if is_resnet:
                    # "resnets." prefixes without an index keep the index at the head of `rest`.
                    index, _, inner = (
                        rest.partition(".") if rest.split(".")[0].isdigit() else ("", "", rest)
                    )
                    for d_name, l_name in resnet_map.items():
                        if inner.startswith(d_name + "."):
                            inner = l_name + inner[len(d_name) :]
                            break
                    rest = f"{index}.{inner}" if index else inner
                new_key = new + rest
                break
        out[new_key] = value
    return out
