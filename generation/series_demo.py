"""A demo LoRA training run for the built-in tiny-random model, written without torch.

The web process has no torch (requirements/web.txt), yet `loupe_bootstrap --demo` must leave a
checkpoint series a researcher can register: so the files are written here with numpy and
safetensors, in diffusers' LoRA layout for the tiny UNet (generation.engine.builders'
TINY_UNET_CONFIG: attention at one level, 32 channels). tests/generation/test_series.py holds
the layout to generation.engine.testing.make_test_lora's (the oracle) and renders with it.

The run: one seeded low-rank direction whose size grows with the step, as a training run's
weights move away from zero, and a loss curve that falls with noise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

#: The tiny UNet's attention blocks and their channel widths (TINY_UNET_CONFIG).
TINY_ATTENTION_BLOCKS = (
    "down_blocks.1.attentions.0",
    "mid_block.attentions.0",
    "up_blocks.0.attentions.0",
    "up_blocks.0.attentions.1",
)
TINY_CHANNELS = 32
TINY_CROSS_DIM = 32
PROJECTIONS = ("to_q", "to_k", "to_v", "to_out.0")
DEMO_STEPS = (250, 500, 750, 1000)


def tiny_lora_tensors(*, rank: int, seed: int, size: float) -> dict[str, np.ndarray]:
    """A LoRA for the tiny UNet: down (rank, in) and up (out, rank) for every attention
    projection, drawn like nn.Linear's init (bound 1/sqrt(fan_in)) and scaled by `size`."""
    rng = np.random.default_rng(seed)
    tensors: dict[str, np.ndarray] = {}
    for block in TINY_ATTENTION_BLOCKS:
        for attention in ("attn1", "attn2"):
            for projection in PROJECTIONS:
                fan_in = TINY_CROSS_DIM if attention == "attn2" and projection in (
                    "to_k", "to_v") else TINY_CHANNELS  # fmt: skip
                key = f"unet.{block}.transformer_blocks.0.{attention}.{projection}"
                down = rng.uniform(-1, 1, (rank, fan_in)) / math.sqrt(fan_in)
                up = rng.uniform(-1, 1, (TINY_CHANNELS, rank)) / math.sqrt(rank)
                tensors[f"{key}.lora.down.weight"] = down.astype(np.float32)
                tensors[f"{key}.lora.up.weight"] = (up * size).astype(np.float32)
    return tensors


def demo_series_write(
    folder: Path, *, steps: Sequence[int] = DEMO_STEPS, seed: int = 7, rank: int = 4
) -> list[Path]:
    """Write the run's checkpoints (name-000250.safetensors, …) and loss.csv into `folder`.
    Safe to run twice: the same files with the same bytes."""
    folder.mkdir(parents=True, exist_ok=True)
    last = max(steps)
    paths = []
    for step in steps:
        path = folder / f"demo-jewelry-lora-{step:06d}.safetensors"
        tensors = tiny_lora_tensors(rank=rank, seed=seed, size=2.0 * step / last)
        save_file(tensors, str(path), metadata={"format": "pt", "step": str(step)})
        paths.append(path)
    noise = np.random.default_rng(seed + 1)
    lines = ["step,loss"]
    for step in range(0, last + 1, 25):
        loss = 0.08 + 0.12 * math.exp(-step / 300) + noise.normal(0, 0.004)
        lines.append(f"{step},{loss:.5f}")
    (folder / "loss.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return paths
