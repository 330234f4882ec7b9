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
    label: str  # what differs from the study's baseline (study_labels)
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


BASELINE = "baseline"
_NEGATIVE_SHOWN = 40


def _phrase(factor: str, level: str) -> str:
    """One factor's level as a researcher says it: "30 steps", "negative prompt: none"."""
    if factor == "sampler":
        return f"sampler {SAMPLERS.get(level, level)}"
    if factor == "steps":
        return f"{level} steps"
    if factor == "cfg":
        return f"CFG {level}"
    if factor == "compel_level":
        return f"compel {level}"
    if factor == "negative_prompt":
        if level == NO_NEGATIVE:
            return "negative prompt: none"
        shown = level if len(level) <= _NEGATIVE_SHOWN else level[: _NEGATIVE_SHOWN - 1] + "…"
        return f"negative prompt: “{shown}”"
    if factor == "adapters":
        if level == NO_ADAPTER:
            return "no LoRA"
        return " + ".join("LoRA " + part.replace("×", " ×") for part in level.split(" + "))
    if factor == "vae":
        return "VAE: model's own" if level == OWN_VAE else f"VAE {level}"
    if factor == "base_model":
        return f"model {level}"
    if factor == "insert_trigger":
        return f"trigger token {level}"
    return level


def config_difference(levels: dict[str, str], reference: dict[str, str] | None) -> str:
    """What sets a configuration apart from the reference (the study's baseline), in words.

    "negative prompt: none", "LoRA phol ×0.8", "sampler DDIM · CFG 9"; the baseline itself
    is "baseline". Without a reference every factor is named.
    """
    if reference is not None and levels == reference:
        return BASELINE
    return " · ".join(
        _phrase(factor, levels[factor])
        for factor in FACTOR_LABELS
        if reference is None or levels[factor] != reference.get(factor)
    )


def study_labels(levels: dict[int, dict[str, str]], *, baseline_id: int | None) -> dict[int, str]:
    """Each configuration's label in a study: what differs from the baseline, never shared.

    Without a baseline (or with one outside these configurations) the label names the
    factors that vary in the study. Two configurations whose differences read the same
    (a long negative prompt cut short) get their ids added.
    """
    reference = levels.get(baseline_id) if baseline_id is not None else None
    varying = [f for f in FACTOR_LABELS if len({lv[f] for lv in levels.values()}) > 1]
    labels = {}
    for cid, lv in levels.items():
        if reference is not None:
            labels[cid] = config_difference(lv, reference)
        else:
            labels[cid] = " · ".join(_phrase(f, lv[f]) for f in varying) or f"#{cid}"
    seen: dict[str, int] = {}
    for label in labels.values():
        seen[label] = seen.get(label, 0) + 1
    return {cid: f"{label} (#{cid})" if seen[label] > 1 else label for cid, label in labels.items()}


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
    levels = {c.pk: config_levels(c) for c in configs}
    labels = study_labels(levels, baseline_id=study.baseline_id)
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
            id=c.pk, label=labels[c.pk], name=c.name, params=params, levels=levels[c.pk]
        )
    return out


def varying_levels(configs: dict[int, ConfigInfo]) -> dict[int, dict[str, str]]:
    """Only the factors that take more than one level in the study."""
    factors = [f for f in FACTOR_LABELS if len({info.levels[f] for info in configs.values()}) > 1]
    return {cid: {f: info.levels[f] for f in factors} for cid, info in configs.items()}
