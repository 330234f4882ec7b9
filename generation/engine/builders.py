"""Pipelines built in code from configs, so nothing is ever downloaded.

`tiny-random` is a seeded, very small Stable Diffusion 1.5-shaped pipeline for tests and the embedded
demo; `sd15-random` has SD 1.5's real layer sizes with random weights, for speed benchmarks on a GPU
(speed does not depend on weight values).

Both use a character-level CLIP tokenizer built here, because the real CLIP BPE vocabulary would
have to be downloaded. The tiny VAE has four blocks like SD 1.5's, so its scale factor is 8 too:
width/height map to latents exactly as they do for the real model (256 px -> 32x32 latents).
"""

from __future__ import annotations

import string
from typing import Any

import torch
from diffusers import PNDMScheduler
from diffusers.models.autoencoders.autoencoder_kl import AutoencoderKL
from diffusers.models.unets.unet_2d_condition import UNet2DConditionModel
from diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion import StableDiffusionPipeline
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

# SD 1.5's own scheduler config (scheduler/scheduler_config.json of stable-diffusion-v1-5), plus
# the two defaults that save_pretrained writes out (timestep_spacing, prediction_type). Left implicit,
# diffusers lets e.g. Euler fall back to its own default spacing ("linspace") while a saved-and-reloaded
# copy carries "leading" explicitly, and the built-in and saved pipelines would render differently.
SD15_SCHEDULER_CONFIG: dict[str, Any] = {
    "timestep_spacing": "leading",
    "prediction_type": "epsilon",
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "num_train_timesteps": 1000,
    "skip_prk_steps": True,
    "set_alpha_to_one": False,
    "steps_offset": 1,
    "clip_sample": False,
    "trained_betas": None,
}

BOS_TOKEN = "<|startoftext|>"
EOS_TOKEN = "<|endoftext|>"
TOKENIZER_MAX_LENGTH = 77


def _levels(
    *,
    channels: int,
    widths: tuple[int, ...],
    down_block_types: tuple[str, ...],
    up_block_types: tuple[str, ...],
    layers: int,
    groups: int,
    size: int,
) -> dict[str, Any]:
    """What diffusers' UNet and VAE configs share: `channels` in and out, one level per entry
    of `widths` (its channels), `layers` blocks per level, GroupNorm in `groups` groups."""
    return {
        "sample_size": size,
        "in_channels": channels,
        "out_channels": channels,
        "layers_per_block": layers,
        "block_out_channels": widths,
        "down_block_types": down_block_types,
        "up_block_types": up_block_types,
        "norm_num_groups": groups,
    }


def unet_config(
    *,
    widths: tuple[int, ...],
    attention: tuple[bool, ...],
    layers: int,
    groups: int,
    size: int,
    text_dim: int,
    head_dim: int,
) -> dict[str, Any]:
    """An SD-style UNet2DConditionModel (4 latent channels in and out), one level per entry of
    `widths` (its channels); the levels whose `attention` is True attend to the text, on the
    way down and back up."""
    return {
        **_levels(
            channels=4,
            widths=widths,
            down_block_types=tuple(
                "CrossAttnDownBlock2D" if a else "DownBlock2D" for a in attention
            ),
            up_block_types=tuple(
                "CrossAttnUpBlock2D" if a else "UpBlock2D" for a in reversed(attention)
            ),
            layers=layers,
            groups=groups,
            size=size,
        ),
        "cross_attention_dim": text_dim,
        "attention_head_dim": head_dim,
    }


def vae_config(
    *, widths: tuple[int, int, int, int], layers: int, groups: int, size: int
) -> dict[str, Any]:
    """An SD-style AutoencoderKL (RGB in and out, 4 latent channels, 4 levels of these widths)."""
    return {
        **_levels(
            channels=3,
            widths=widths,
            down_block_types=("DownEncoderBlock2D",) * 4,
            up_block_types=("UpDecoderBlock2D",) * 4,
            layers=layers,
            groups=groups,
            size=size,
        ),
        "latent_channels": 4,
    }


def clip_text_config(
    *, width: int, mlp: int, heads: int, layers: int, **extra: Any
) -> dict[str, Any]:
    """A CLIP text tower (CLIPTextConfig) of this width, projected to the same width, reading
    TOKENIZER_MAX_LENGTH tokens; `extra` adds or overrides keys (e.g. vocab_size)."""
    return {
        "hidden_size": width,
        "intermediate_size": mlp,
        "num_attention_heads": heads,
        "num_hidden_layers": layers,
        "max_position_embeddings": TOKENIZER_MAX_LENGTH,
        "projection_dim": width,
        "layer_norm_eps": 1e-5,
        **extra,
    }


# Attention only at the 16x16 level and 16/32 channels: on 2 CPU cores full-resolution self-attention
# and 32/64 channels cost 3-4x more, and 256 px images must stay well under 0.3 s at 20 steps.
TINY_UNET_CONFIG = unet_config(
    widths=(16, 32), attention=(False, True), layers=1, groups=8, size=32, text_dim=32, head_dim=2
)
TINY_VAE_CONFIG = vae_config(widths=(8, 8, 16, 16), layers=1, groups=8, size=256)
TINY_TEXT_CONFIG = clip_text_config(width=32, mlp=37, heads=4, layers=5)

SD15_UNET_CONFIG = unet_config(
    widths=(320, 640, 1280, 1280),
    attention=(True, True, True, False),
    layers=2,
    groups=32,
    size=64,
    text_dim=768,
    head_dim=8,
)
SD15_VAE_CONFIG = vae_config(widths=(128, 256, 512, 512), layers=2, groups=32, size=512)
# CLIP ViT-L/14's text tower, as used by SD 1.5.
SD15_TEXT_CONFIG = clip_text_config(
    width=768, mlp=3072, heads=12, layers=12, vocab_size=49408, hidden_act="quick_gelu"
)


def char_vocab() -> dict[str, int]:
    """Vocabulary of the character-level tokenizer: specials, then each printable char alone and word-final."""
    vocab = {BOS_TOKEN: 0, EOS_TOKEN: 1}
    for ch in string.ascii_letters + string.digits + string.punctuation:
        vocab.setdefault(ch.lower(), len(vocab))
        vocab.setdefault(ch.lower() + "</w>", len(vocab))
    return vocab


def build_char_tokenizer() -> CLIPTokenizer:
    """A CLIP tokenizer with no merges: every character is one token (words end in `x</w>`)."""
    return CLIPTokenizer(
        vocab=char_vocab(),
        merges=[],
        bos_token=BOS_TOKEN,
        eos_token=EOS_TOKEN,
        unk_token=EOS_TOKEN,
        pad_token=EOS_TOKEN,
        model_max_length=TOKENIZER_MAX_LENGTH,
    )


def _assemble(
    unet_config: dict[str, Any],
    vae_config: dict[str, Any],
    text_config: dict[str, Any],
    *,
    seed: int,
    device: str | torch.device,
    dtype: torch.dtype,
) -> StableDiffusionPipeline:
    tokenizer = build_char_tokenizer()
    text_kwargs = dict(text_config)
    text_kwargs.setdefault("vocab_size", len(tokenizer.get_vocab()))
    # Ids must match the tokenizer's, or CLIP's pooled output picks the wrong position.
    text_kwargs.update(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    # fork_rng keeps the caller's global RNG untouched; the fixed seed makes the weights reproducible.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        unet = UNet2DConditionModel(**unet_config)
        torch.manual_seed(seed + 1)
        vae = AutoencoderKL(**vae_config)
        torch.manual_seed(seed + 2)
        text_encoder = CLIPTextModel(CLIPTextConfig(**text_kwargs))
    pipe = StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=PNDMScheduler.from_config(SD15_SCHEDULER_CONFIG),
        safety_checker=None,  # type: ignore[arg-type]  # diffusers documents None as valid
        feature_extractor=None,  # type: ignore[arg-type]
        requires_safety_checker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    if dtype != torch.float32:
        pipe.to(dtype=dtype)
    return pipe.to(device)


def build_tiny_random_pipeline(
    *, seed: int = 0, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32
) -> StableDiffusionPipeline:
    """The seeded tiny pipeline: same weights for the same seed on every machine and run."""
    return _assemble(
        TINY_UNET_CONFIG, TINY_VAE_CONFIG, TINY_TEXT_CONFIG, seed=seed, device=device, dtype=dtype
    )


def build_sd15_random_pipeline(
    *, seed: int = 0, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32
) -> StableDiffusionPipeline:
    """SD 1.5's architecture at real sizes with random weights (about 1.1 B parameters)."""
    return _assemble(
        SD15_UNET_CONFIG, SD15_VAE_CONFIG, SD15_TEXT_CONFIG, seed=seed, device=device, dtype=dtype
    )
