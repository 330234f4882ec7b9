"""The study's configurations and their level of each factor, with the labels a researcher reads."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Q

from generation.constants import SAMPLERS
from generation.models import GenerationConfig
from ratings.models import Comparison, Study

#: Factor key → the name a researcher reads.
FACTOR_LABELS: dict[str, str] = {
    "sampler": "Sampler",
    "steps": "Steps",
    "cfg": "CFG",
    "compel_level": "Compel level",
    "negative_prompt": "Negative prompt",
    "adapters": "Adapters and scales",
    "vae": "VAE",
    "base_model": "Base model",
    "size": "Size",
    "insert_trigger": "Trigger token",
}
NO_ADAPTER = "(none)"
OWN_VAE = "(model's own)"
NO_NEGATIVE = "(none)"


@dataclass(frozen=True)
class ConfigInfo:
    id: int
    label: str
    name: str
    params: dict[str, Any]
    levels: dict[str, str]


def config_levels(config: GenerationConfig) -> dict[str, str]:
    """A config's level of each factor, as short strings (adapters must be prefetched)."""
    links = sorted(config.adapter_links.all(), key=lambda link: link.adapter.name)
    return {
        "sampler": config.sampler,
        "steps": str(config.steps),
        "cfg": f"{config.cfg:g}",
        "compel_level": config.compel_level,
        "negative_prompt": " ".join(config.negative_prompt.split()) or NO_NEGATIVE,
        "adapters": " + ".join(f"{link.adapter.name}×{link.scale:g}" for link in links)
        or NO_ADAPTER,
        "vae": config.vae or OWN_VAE,
        "base_model": config.base_model,
        "size": f"{config.width}×{config.height}",
        "insert_trigger": "on" if config.insert_trigger else "off",
    }


def level_label(factor: str, level: str) -> str:
    if factor == "sampler":
        return SAMPLERS.get(level, level)
    return level


def study_configs(*, study: Study) -> dict[int, ConfigInfo]:
    """Every configuration in the study's comparisons, with parameters and factor levels."""
    configs = (
        GenerationConfig.objects.filter(
            Q(studies=study)
            | Q(images__in=Comparison.objects.filter(study=study).values("image_a"))
            | Q(images__in=Comparison.objects.filter(study=study).values("image_b"))
        )
        .distinct()
        .prefetch_related("adapter_links__adapter")
        .order_by("id")
    )
    out = {}
    for c in configs:
        params = {
            **c.params(),
            "adapters": [
                {"adapter": link.adapter.name, "sha256": link.adapter.sha256, "scale": link.scale}
                for link in c.adapter_links.all()
            ],
        }
        out[c.pk] = ConfigInfo(
            id=c.pk, label=c.label, name=c.name, params=params, levels=config_levels(c)
        )
    return out


def varying_levels(configs: dict[int, ConfigInfo]) -> dict[int, dict[str, str]]:
    """Only the factors that take more than one level in the study."""
    factors = [f for f in FACTOR_LABELS if len({info.levels[f] for info in configs.values()}) > 1]
    return {cid: {f: info.levels[f] for f in factors} for cid, info in configs.items()}
