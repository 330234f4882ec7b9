"""Loupe's render engine: the only package that imports torch, diffusers, transformers, compel and peft.

The web process never imports it; Celery render workers create one `Engine` per process.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from .builders import build_sd15_random_pipeline, build_tiny_random_pipeline
from .engine import Engine, validate_spec
from .prompts import weighted_prompt
from .samplers import make_scheduler
from .spec import AdapterSpec, EngineStats, RenderError, RenderResult, RenderSpec

__all__ = [
    "AdapterSpec",
    "Engine",
    "EngineStats",
    "RenderError",
    "RenderResult",
    "RenderSpec",
    "build_sd15_random_pipeline",
    "build_tiny_random_pipeline",
    "library_versions",
    "make_scheduler",
    "validate_spec",
    "weighted_prompt",
]

_LIBRARIES = ("torch", "diffusers", "transformers", "compel", "peft")


def library_versions() -> dict[str, str]:
    """Versions of the libraries that determine the pixels, recorded with every image."""
    versions: dict[str, str] = {}
    for name in _LIBRARIES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = "missing"
    return versions
