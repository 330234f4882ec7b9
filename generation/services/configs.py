"""Writes for configurations: create, copy, edit, and the factor builder's levels and drafts."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from itertools import product
from math import prod
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Field

from generation.designs import design_params
from generation.models import PARAM_FIELDS, ConfigAdapter, GenerationConfig, LoraAdapter
from generation.services.adapters import AdapterScales, active_adapters


def default_base_model() -> str:
    """The base model of a configuration made on the site, by form or API: LOUPE_MODEL.

    The model field keeps tiny-random as its default: a callable there would need a migration
    and would change what code that builds configurations without a base model gets.
    """
    return str(settings.LOUPE_MODEL)


def param_default(name: str) -> Any:
    """What a new configuration's parameter is when the form or API caller leaves it out: the
    model field's default, except base_model (default_base_model)."""
    if name == "base_model":
        return default_base_model()
    field = GenerationConfig._meta.get_field(name)
    assert isinstance(field, Field)
    return field.get_default()


def config_fingerprint(*, params: dict[str, Any], adapters: AdapterScales) -> str:
    """Canonical hash of everything that changes the pixels (the name does not).

    An adapter at scale 0 changes nothing and is left out: that configuration is the same
    as the one without it.
    """
    adapters = active_adapters(adapters)
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


def _not_archived(adapters: Iterable[tuple[LoraAdapter, float]], *, field: str) -> None:
    """A new configuration may not take an archived adapter (the pages offer none; one that
    already uses it keeps it)."""
    archived = sorted(a.name for a, _ in adapters if a.archived)
    if archived:
        raise ValidationError(
            {field: f"Archived adapter{'s' if len(archived) > 1 else ''}: {', '.join(archived)}. "
             "Restore it on the adapters page to use it in new configurations."},
            code="archived",
        )  # fmt: skip


def config_create(
    *, name: str = "", adapters: AdapterScales = (), **params: Any
) -> tuple[GenerationConfig, bool]:
    """Create a configuration, or return the existing one with the same fingerprint.

    Safe to run twice: the second call returns (existing, False). An adapter at scale 0 is
    no adapter: it is not linked, and the configuration is the one without it.
    """
    adapters = active_adapters(adapters)
    config = GenerationConfig(name=name, **params)
    config.full_clean(exclude=["fingerprint"])
    for _, scale in adapters:
        ConfigAdapter(scale=scale).clean_fields(exclude=["config", "adapter"])
    config.fingerprint = config_fingerprint(params=config.params(), adapters=adapters)
    existing = GenerationConfig.objects.filter(fingerprint=config.fingerprint).first()
    if existing is not None:
        return existing, False
    _not_archived(adapters, field="adapters")
    try:
        with transaction.atomic():
            config.save()
            ConfigAdapter.objects.bulk_create(
                ConfigAdapter(config=config, adapter=a, scale=s) for a, s in adapters
            )
    except IntegrityError:
        # Another request created the same configuration between our check and insert.
        existing = GenerationConfig.objects.filter(fingerprint=config.fingerprint).first()
        if existing is None:
            raise
        return existing, False
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


def _refuse_twin(fingerprint: str, config: GenerationConfig | None) -> None:
    """A ValidationError when a configuration other than `config` has these settings."""
    others = GenerationConfig.objects.filter(fingerprint=fingerprint)
    clash = (others.exclude(pk=config.pk) if config is not None and config.pk else others).first()
    if clash is not None:
        raise ValidationError(
            f"These settings are identical to configuration {clash.pk} ({clash}): use that one.",
            code="duplicate",
        )


def _scales_key(adapters: Iterable[tuple[LoraAdapter, float]]) -> list[tuple[int, float]]:
    """Adapters and scales as fingerprints compare them (to 4 decimals)."""
    return sorted((a.pk, round(float(s), 4)) for a, s in adapters)


def config_refresh_fingerprint(*, config: GenerationConfig) -> None:
    """Recompute after an edit (admin). Raises ValidationError if it now duplicates another."""
    fingerprint = config_fingerprint(params=config.params(), adapters=_config_adapters(config))
    if fingerprint == config.fingerprint:
        return
    _refuse_twin(fingerprint, config)
    config.fingerprint = fingerprint
    config.save(update_fields=["fingerprint"])


# --- Editing and factor levels ---------------------------------------------------------------

FACTORS: tuple[str, ...] = (
    "sampler",
    "steps",
    "cfg",
    "compel_level",
    "negative_prompt",
    "adapter_scale",
    "vae",
)
FACTOR_LABELS: dict[str, str] = {
    "sampler": "sampler",
    "steps": "steps",
    "cfg": "CFG",
    "compel_level": "compel",
    "negative_prompt": "negative",
    "adapter_scale": "adapter scale",
    "vae": "VAE",
}
BUILDER_MAX_CONFIGS = 200
#: Levels one factor may list: more than any design needs, few enough to check in no time.
BUILDER_MAX_LEVELS = 1000


@dataclass(frozen=True)
class ConfigChange:
    fingerprint: str
    adapters_changed: bool


def config_change_check(
    *, config: GenerationConfig | None, params: dict[str, Any], adapters: AdapterScales
) -> ConfigChange:
    """The fingerprint of `config` (None: a new one) with these settings, and whether its
    adapters change, once the rules every way of editing one shares (this service and the
    admin) hold: a rendered configuration keeps its settings (scales compared to 4 decimals,
    as fingerprints are), an adapter it did not have is not archived, every scale is in range,
    and no other configuration has the same settings. Raises ConfigImmutableError or
    ValidationError."""
    adapters = active_adapters(adapters)
    old = _config_adapters(config) if config is not None and config.pk else []
    adapters_changed = _scales_key(adapters) != _scales_key(old)
    if config is not None and config.pk:
        changed = config.params() != params or adapters_changed
        if changed and config.has_rendered():
            raise config.immutable_error()
    kept = {a.pk for a, _ in old}
    _not_archived([(a, s) for a, s in adapters if a.pk not in kept], field="adapters")
    for _, scale in adapters:
        ConfigAdapter(scale=scale).clean_fields(exclude=["config", "adapter"])
    fingerprint = config_fingerprint(params=params, adapters=adapters)
    _refuse_twin(fingerprint, config)
    return ConfigChange(fingerprint, adapters_changed)


def config_update(
    *, config: GenerationConfig, name: str, adapters: AdapterScales, **params: Any
) -> GenerationConfig:
    """Edit a configuration in place. Safe to run twice (the second run changes nothing).

    Raises ConfigImmutableError once it has rendered (unless only the name changes) and
    ValidationError when the new settings duplicate another configuration.
    """
    adapters = active_adapters(adapters)
    candidate = GenerationConfig(name=name, **{**config.params(), **params})
    candidate.full_clean(exclude=["fingerprint"])
    change = config_change_check(config=config, params=candidate.params(), adapters=adapters)
    with transaction.atomic():
        for field, value in candidate.params().items():
            setattr(config, field, value)
        config.name = name
        config.fingerprint = change.fingerprint
        config.save()
        if change.adapters_changed:
            config.adapter_links.all().delete()
            ConfigAdapter.objects.bulk_create(
                ConfigAdapter(config=config, adapter=a, scale=s) for a, s in adapters
            )
    return config


@dataclass(frozen=True)
class ConfigDraft:
    """One configuration the factor builder would create (nothing saved yet)."""

    name: str
    params: dict[str, Any]
    adapters: tuple[tuple[LoraAdapter, float], ...]
    # Factor -> level, for every factor that has more than one level.
    levels: dict[str, Any]
    # Other rows of the same expansion with identical settings (same fingerprint): made once.
    same_as: tuple[str, ...] = ()

    @property
    def fingerprint(self) -> str:
        return config_fingerprint(params=self.params, adapters=self.adapters)

    def design_params(self) -> dict[str, Any]:
        """What a study design compares it by (as GenerationConfig.design_params)."""
        return design_params(self.params, ((a.sha256, s) for a, s in self.adapters))


def _level_text(factor: str, value: Any) -> str:
    if factor == "negative_prompt":
        return f"negative “{value}”" if value else "no negative"
    if factor == "vae":
        return f"VAE {value}" if value else "model VAE"
    if factor == "sampler":
        return str(value)
    if isinstance(value, float):
        return f"{FACTOR_LABELS[factor]} {value:g}"
    return f"{FACTOR_LABELS[factor]} {value}"


def _unique(values: Iterable[Any]) -> list[Any]:
    seen: list[Any] = []
    for value in values:
        if value not in seen:
            seen.append(value)
    return seen


def config_factor_levels_count(
    *, levels: Mapping[str, Sequence[Any]], mode: str, max_configs: int = BUILDER_MAX_CONFIGS
) -> int:
    """How many configurations the levels give, counted before anything is expanded. Pure.

    Raises ValidationError past BUILDER_MAX_LEVELS levels in a factor or `max_configs`
    configurations: 2 million combinations are refused at once, never built in memory.
    """
    sizes = []
    for factor in FACTORS:
        values = levels.get(factor) or ()
        if len(values) > BUILDER_MAX_LEVELS:
            raise ValidationError(
                {factor: f"{len(values)} levels given; a factor takes at most "
                         f"{BUILDER_MAX_LEVELS}."},
                code="too_many_levels",
            )  # fmt: skip
        if values:
            sizes.append(len(_unique(values)))
    count = prod(sizes) if mode == "factorial" else 1 + sum(n - 1 for n in sizes)
    if count > max_configs:
        raise ValidationError(
            f"These levels give {count} configurations; the builder makes at most "
            f"{max_configs} at once.",
            code="too_many",
        )
    return count


def config_factor_levels_expand(
    *,
    base: Mapping[str, Any],
    levels: Mapping[str, Sequence[Any]],
    mode: str,
    adapter: LoraAdapter | None = None,
    name_prefix: str = "",
) -> list[ConfigDraft]:
    """Configurations from factor levels, without touching the database. Pure.

    mode "factorial": every combination of levels. mode "one_factor": the baseline (the
    first level of every factor) plus, for each factor, each other level with the rest held
    at the baseline, so 1 + Σ(levels - 1) configurations. A factor left empty keeps `base`.
    """
    unknown = sorted(set(levels) - set(FACTORS))
    if unknown:
        raise ValueError(f"Unknown factor(s): {', '.join(unknown)}.")
    if mode not in ("factorial", "one_factor"):
        raise ValueError(f"Unknown builder mode {mode!r}: use 'factorial' or 'one_factor'.")
    config_factor_levels_count(levels=levels, mode=mode)
    chosen = {f: _unique(levels[f]) for f in FACTORS if levels.get(f)}
    if "adapter_scale" in chosen and adapter is None:
        raise ValidationError(
            {"adapter": "Choose the adapter whose scale the levels vary."}, code="adapter"
        )
    if adapter is not None:
        _not_archived([(adapter, adapter.default_scale)], field="adapter")
    if adapter is not None and "adapter_scale" not in chosen:
        chosen["adapter_scale"] = [adapter.default_scale]
    varying = [f for f in FACTORS if len(chosen.get(f, ())) > 1]
    baseline = {f: values[0] for f, values in chosen.items()}
    if mode == "factorial":
        factors = list(chosen)
        combos = [dict(zip(factors, values, strict=True)) for values in product(*chosen.values())]
    else:
        combos = [dict(baseline)]
        for factor in varying:
            combos.extend({**baseline, factor: value} for value in chosen[factor][1:])
    drafts = []
    for combo in combos:
        chosen_params = {f: v for f, v in combo.items() if f != "adapter_scale"}
        # Through the model so that every parameter is present, with the model's defaults.
        params = GenerationConfig(**{**base, **chosen_params}).params()
        adapters: tuple[tuple[LoraAdapter, float], ...] = ()
        if adapter is not None:
            # At scale 0 the adapter is no adapter, as config_create will make it.
            adapters = tuple(active_adapters([(adapter, float(combo["adapter_scale"]))]))
        shown = {f: combo[f] for f in varying}
        if mode == "one_factor":
            moved = [f for f in varying if combo[f] != baseline[f]]
            label = ", ".join(_level_text(f, combo[f]) for f in moved) or "baseline"
        else:
            label = " · ".join(_level_text(f, combo[f]) for f in varying) or "single"
        name = f"{name_prefix}: {label}" if name_prefix else label
        drafts.append(ConfigDraft(name=name[:120], params=params, adapters=adapters, levels=shown))
    return _collapse_duplicates(drafts)


def _collapse_duplicates(drafts: list[ConfigDraft]) -> list[ConfigDraft]:
    """One draft per fingerprint, the first kept (the baseline stays first), naming the rest:
    Create would make the first and hand back the same configuration for the others."""
    kept: dict[str, ConfigDraft] = {}
    for draft in drafts:
        first = kept.get(draft.fingerprint)
        if first is None:
            kept[draft.fingerprint] = draft
        else:
            kept[draft.fingerprint] = replace(first, same_as=(*first.same_as, draft.name))
    return list(kept.values())


def config_drafts_validate(*, drafts: Sequence[ConfigDraft]) -> None:
    """Raise ValidationError (field messages) if any draft is invalid; saves nothing."""
    if len(drafts) > BUILDER_MAX_CONFIGS:
        raise ValidationError(
            f"These levels give {len(drafts)} configurations; the builder makes at most "
            f"{BUILDER_MAX_CONFIGS} at once.",
            code="too_many",
        )
    for draft in drafts:
        GenerationConfig(name=draft.name, **draft.params).full_clean(exclude=["fingerprint"])
        for _, scale in draft.adapters:
            ConfigAdapter(scale=scale).clean_fields(exclude=["config", "adapter"])


def configs_create_from_drafts(
    *, drafts: Sequence[ConfigDraft]
) -> list[tuple[GenerationConfig, bool]]:
    """Create every draft, all or nothing; existing fingerprints are reused. Safe to run twice."""
    config_drafts_validate(drafts=drafts)
    with transaction.atomic():
        return [config_create(name=d.name, adapters=d.adapters, **d.params) for d in drafts]
