"""Vocabulary shared by the web process and the render engine (no heavy imports here)."""

from __future__ import annotations

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
