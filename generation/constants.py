"""Vocabulary shared by the web process and the render engine (no heavy imports here)."""

from __future__ import annotations

import re

# Sampler key -> label. Keys are stored in the database and understood by generation.engine.
SAMPLERS: dict[str, str] = {
    "euler_a": "Euler Ancestral",
    "euler": "Euler",
    "ddim": "DDIM",
    "dpmpp_2m": "DPM++ 2M",
    "dpmpp_2m_karras": "DPM++ 2M Karras",
    "heun": "Heun",
    "lms": "LMS",
    "pndm": "PNDM",
    "unipc": "UniPC",
}

# Compel level -> weight applied to a prompt's key terms ("(term)1.21").
COMPEL_WEIGHTS: dict[str, float] = {"none": 1.0, "low": 1.1, "medium": 1.21, "high": 1.33}

TINY_RANDOM = "tiny-random"
SD15_RANDOM = "sd15-random"
BUILTIN_MODELS = (TINY_RANDOM, SD15_RANDOM)


#: The kinds of automatic scorer, named by the start of a metric's name.
SCORER_KIND_NAMES = ("clip", "aesthetic")


def metric_kind(metric: str) -> str:
    """What a metric's name starts with, before any suffix: `clip-b32` and `clip.l14` are clip,
    `aesthetic_v1` is aesthetic (settings, the workers and the checklist labellers read it)."""
    return re.split(r"[-_.]", metric, maxsplit=1)[0]
