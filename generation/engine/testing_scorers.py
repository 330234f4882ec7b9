"""Tiny seeded scorer models saved to local folders, for tests and the embedded demo (no hub).

The CLIP model reuses the render engine's character-level tokenizer (builders.py): the real
CLIP BPE vocabulary would have to be downloaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file
from transformers import CLIPConfig, CLIPImageProcessorPil, CLIPModel

from .builders import TOKENIZER_MAX_LENGTH, build_char_tokenizer

TINY_CLIP_IMAGE_SIZE = 32
TINY_CLIP_WIDTH = 32
TINY_CLIP_TEXT_CONFIG: dict[str, Any] = {
    "hidden_size": TINY_CLIP_WIDTH,
    "intermediate_size": 37,
    "num_attention_heads": 4,
    "num_hidden_layers": 2,
    "max_position_embeddings": TOKENIZER_MAX_LENGTH,
}
TINY_CLIP_VISION_CONFIG: dict[str, Any] = {
    "hidden_size": TINY_CLIP_WIDTH,
    "intermediate_size": 37,
    "num_attention_heads": 4,
    "num_hidden_layers": 2,
    "image_size": TINY_CLIP_IMAGE_SIZE,
    "patch_size": 8,
}
#: Widths of the tiny head's linear layers, LAION v2's shape (768→1024→128→64→16→1) scaled down;
#: keys `layers.0/2/4/6/7` as in the original, where the odd gaps are dropout layers.
TINY_HEAD_WIDTHS = (TINY_CLIP_WIDTH, 16, 8, 4, 2, 1)
TINY_HEAD_INDICES = (0, 2, 4, 6, 7)
HEAD_FILE_NAME = "aesthetic_head.safetensors"


def build_tiny_clip(*, seed: int = 0) -> CLIPModel:
    """A seeded random CLIP (text + vision, width 32, 32 px images): same weights on every machine."""
    tokenizer = build_char_tokenizer()
    text = dict(TINY_CLIP_TEXT_CONFIG)
    text.update(
        vocab_size=len(tokenizer.get_vocab()),
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    config = CLIPConfig(
        text_config=text,
        vision_config=dict(TINY_CLIP_VISION_CONFIG),
        projection_dim=TINY_CLIP_WIDTH,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = CLIPModel(config)
    return model.eval()


def build_tiny_image_processor() -> CLIPImageProcessorPil:
    size = TINY_CLIP_IMAGE_SIZE
    # The PIL backend needs no torchvision; its saved config loads as a CLIPImageProcessor.
    return CLIPImageProcessorPil(
        size={"shortest_edge": size}, crop_size={"height": size, "width": size}
    )


def save_tiny_clip(folder: str | Path, *, seed: int = 0) -> Path:
    """Save the tiny CLIP with its image processor and tokenizer, as a real CLIP folder is laid out."""
    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    build_tiny_clip(seed=seed).save_pretrained(target)
    build_tiny_image_processor().save_pretrained(target)
    build_char_tokenizer().save_pretrained(target)
    return target


def tiny_head_state(*, seed: int = 0) -> dict[str, torch.Tensor]:
    """A seeded LAION-v2-shaped head over the tiny CLIP's embeddings."""
    generator = torch.Generator().manual_seed(seed)
    state: dict[str, torch.Tensor] = {}
    for index, (n_in, n_out) in zip(
        TINY_HEAD_INDICES, zip(TINY_HEAD_WIDTHS, TINY_HEAD_WIDTHS[1:], strict=False), strict=True
    ):
        state[f"layers.{index}.weight"] = torch.randn(n_out, n_in, generator=generator) / n_in**0.5
        state[f"layers.{index}.bias"] = torch.randn(n_out, generator=generator) * 0.1
    return state


def save_tiny_aesthetic(folder: str | Path, *, seed: int = 0, fmt: str = "safetensors") -> Path:
    """An aesthetic folder: the tiny CLIP in `clip/` and a head file beside it (.safetensors or .pth)."""
    if fmt not in {"safetensors", "pth"}:
        raise ValueError(f"fmt must be 'safetensors' or 'pth', got {fmt!r}.")
    target = Path(folder)
    save_tiny_clip(target / "clip", seed=seed)
    state = tiny_head_state(seed=seed)
    if fmt == "safetensors":
        save_file(state, str(target / HEAD_FILE_NAME))
    else:
        torch.save(state, target / "aesthetic_head.pth")
    return target
