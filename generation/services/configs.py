"""Writes for prompts, adapters and configurations."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from generation.models import PARAM_FIELDS, ConfigAdapter, GenerationConfig, LoraAdapter, Prompt

AdapterScales = Sequence[tuple[LoraAdapter, float]]


def config_fingerprint(*, params: dict[str, Any], adapters: AdapterScales) -> str:
    """Canonical hash of everything that changes the pixels (the name does not)."""
    canonical = {field: params[field] for field in PARAM_FIELDS}
    canonical["cfg"] = round(float(canonical["cfg"]), 4)
    canonical["negative_prompt"] = " ".join(str(canonical["negative_prompt"]).split())
    canonical["adapters"] = sorted(
        (adapter.sha256, adapter.trigger_token, round(float(scale), 4))
        for adapter, scale in adapters
    )
    blob = json.dumps(canonical, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def _config_adapters(config: GenerationConfig) -> list[tuple[LoraAdapter, float]]:
    return [(link.adapter, link.scale) for link in config.adapter_links.select_related("adapter")]


def config_create(
    *, name: str = "", adapters: AdapterScales = (), **params: Any
) -> tuple[GenerationConfig, bool]:
    """Create a configuration, or return the existing one with the same fingerprint.

    Safe to run twice: the second call returns (existing, False).
    """
    config = GenerationConfig(name=name, **params)
    config.full_clean(exclude=["fingerprint"])
    for _, scale in adapters:
        ConfigAdapter(scale=scale).clean_fields(exclude=["config", "adapter"])
    config.fingerprint = config_fingerprint(params=config.params(), adapters=adapters)
    existing = GenerationConfig.objects.filter(fingerprint=config.fingerprint).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            config.save()
            ConfigAdapter.objects.bulk_create(
                ConfigAdapter(config=config, adapter=a, scale=s) for a, s in adapters
            )
    except IntegrityError:
        # Another request created the same configuration between our check and insert.
        return GenerationConfig.objects.get(fingerprint=config.fingerprint), False
    return config, True


def config_copy(
    *,
    config: GenerationConfig,
    name: str = "",
    adapters: AdapterScales | None = None,
    **changes: Any,
) -> tuple[GenerationConfig, bool]:
    """A new configuration from an existing one with some parameters changed."""
    params = config.params() | changes
    return config_create(
        name=name or f"{config.name or 'config'} (copy)",
        adapters=_config_adapters(config) if adapters is None else adapters,
        **params,
    )


def config_refresh_fingerprint(*, config: GenerationConfig) -> None:
    """Recompute after an edit (admin). Raises ValidationError if it now duplicates another."""
    fingerprint = config_fingerprint(params=config.params(), adapters=_config_adapters(config))
    if fingerprint == config.fingerprint:
        return
    clash = GenerationConfig.objects.filter(fingerprint=fingerprint).exclude(pk=config.pk).first()
    if clash is not None:
        raise ValidationError(
            f"These settings are identical to configuration {clash.pk} ({clash}): use that one.",
            code="duplicate",
        )
    config.fingerprint = fingerprint
    config.save(update_fields=["fingerprint"])


def prompt_create(
    *, text: str, category: str, key_terms: Iterable[str] = (), **attributes: str
) -> Prompt:
    prompt = Prompt(text=text, category=category, key_terms=list(key_terms), **attributes)
    prompt.full_clean()
    prompt.save()
    return prompt


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def adapter_register(
    *, name: str, weights: str, trigger_token: str = "", default_scale: float = 1.0
) -> LoraAdapter:
    """Register a LoRA adapter from a local .safetensors file or folder."""
    path = Path(weights)
    if path.is_dir():
        path = path / "pytorch_lora_weights.safetensors"
    if path.suffix != ".safetensors":
        raise ValidationError(
            {"weights": "Adapter weights must be a .safetensors file (or a folder holding one)."}
        )
    if not path.is_file():
        raise ValidationError({"weights": f"Adapter weights not found: {path}"})
    with path.open("rb") as handle:
        header = handle.read(8)
    if len(header) < 8 or int.from_bytes(header, "little") > path.stat().st_size:
        raise ValidationError({"weights": f"Not a readable safetensors file: {path}"})
    adapter = LoraAdapter(
        name=name,
        weights=str(path),
        sha256=file_sha256(path),
        trigger_token=trigger_token,
        default_scale=default_scale,
    )
    adapter.full_clean()
    adapter.save()
    return adapter
