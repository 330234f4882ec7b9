"""Forms for the researcher pages. Rules and messages come from the models and validation.py."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils.html import format_html

from generation.constants import COMPEL_WEIGHTS, SAMPLERS
from generation.models import (
    PARAM_FIELDS,
    PROMPT_ATTRIBUTES,
    PROMPT_FIELDS,
    GenerationConfig,
    LoraAdapter,
    Prompt,
)
from generation.services.configs import (
    ConfigDraft,
    config_factor_levels_count,
    config_factor_levels_expand,
    default_base_model,
    param_default,
)
from generation.services.prompts import PROMPT_CSV_HELP, prompt_check_editable
from generation.validation import (
    SEEDS_PER_PROMPT_MAX,
    cfg_validators,
    scale_validators,
    split_key_terms,
    steps_validators,
    validate_negative_prompt,
    validate_size,
)

ATTRIBUTES = PROMPT_ATTRIBUTES  # the prompt list filters by each


class PromptForm(forms.ModelForm[Prompt]):
    key_terms = forms.CharField(
        required=False,
        help_text="Phrases that compel weighting emphasises, separated by semicolons.",
        widget=forms.TextInput(attrs={"placeholder": "threader earrings; thin gold chain"}),
    )

    class Meta:
        model = Prompt
        fields = list(PROMPT_FIELDS)
        widgets = {"text": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        if self.instance.pk and not self.is_bound:
            self.initial["key_terms"] = "; ".join(self.instance.key_terms)

    def clean_key_terms(self) -> list[str]:
        return split_key_terms(self.cleaned_data.get("key_terms") or "")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.instance.pk and not self.errors:
            prompt_check_editable(prompt=Prompt.objects.get(pk=self.instance.pk), changes=data)
        return data


class PromptFilterForm(forms.Form):
    q = forms.CharField(
        required=False,
        label="Search",
        widget=forms.TextInput(attrs={"placeholder": "Search prompt text…", "type": "search"}),
    )
    category = forms.ChoiceField(required=False)
    material = forms.ChoiceField(required=False)
    setting = forms.ChoiceField(required=False)
    stone = forms.ChoiceField(required=False)
    background = forms.ChoiceField(required=False)
    style = forms.ChoiceField(required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        for name in ATTRIBUTES:
            values = (
                Prompt.objects.exclude(**{name: ""})
                .order_by(name)
                .values_list(name, flat=True)
                .distinct()
            )
            field = self.fields[name]
            assert isinstance(field, forms.ChoiceField)
            field.choices = [("", f"Any {name}"), *[(v, v) for v in values]]


class PromptImportForm(forms.Form):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)

    file = forms.FileField(
        label="CSV file",
        help_text=f"{PROMPT_CSV_HELP} All rows are imported, or none.",
    )


class AdapterForm(forms.Form):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)

    name = forms.CharField(max_length=120)
    upload = forms.FileField(
        required=False, label="Upload weights", help_text="A .safetensors file."
    )
    path = forms.CharField(
        required=False,
        max_length=500,
        label="…or a path on the server",
        help_text="A .safetensors file, or a folder holding pytorch_lora_weights.safetensors, "
        "inside the adapter folders (LOUPE_ADAPTER_ROOTS); a relative path starts in the first.",
    )
    trigger_token = forms.CharField(
        max_length=40, required=False, help_text="Rare token from the captions, e.g. phol or sks."
    )
    default_scale = forms.FloatField(initial=1.0, validators=scale_validators)


class ConfigForm(forms.ModelForm[GenerationConfig]):
    """One configuration. Adapter scales are extra fields, one per registered adapter."""

    class Meta:
        model = GenerationConfig
        fields = ["name", *PARAM_FIELDS]
        widgets = {"negative_prompt": forms.Textarea(attrs={"rows": 2})}

    def __init__(
        self, *args: Any, adapter_scales: dict[int, float] | None = None, **kwargs: Any
    ) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        # Archived adapters are offered only to a configuration that already uses them.
        self.adapters = list(
            LoraAdapter.objects.filter(Q(archived=False) | Q(pk__in=list(adapter_scales or {})))
        )
        for adapter in self.adapters:
            self.fields[f"adapter_{adapter.pk}"] = forms.FloatField(
                required=False,
                label=f"{adapter.name} scale",
                # Django renders help_text unescaped (|safe): the token is user text.
                help_text=format_html(
                    "Blank: not used. Trigger: {}.", adapter.trigger_token or "—"
                ),
                validators=scale_validators,
                initial=(adapter_scales or {}).get(adapter.pk),
            )
        if not self.instance.pk and not self.is_bound:
            self.initial.setdefault("base_model", default_base_model())

    def adapter_fields(self) -> list[forms.BoundField]:
        return [self[f"adapter_{a.pk}"] for a in self.adapters]

    def core_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in self.Meta.fields]

    def params(self) -> dict[str, Any]:
        return {k: self.cleaned_data[k] for k in self.Meta.fields if k != "name"}

    def adapter_choice(self) -> list[tuple[LoraAdapter, float]]:
        chosen = []
        for adapter in self.adapters:
            scale = self.cleaned_data.get(f"adapter_{adapter.pk}")
            if scale is not None:
                chosen.append((adapter, scale))
        return chosen


def _parse_numbers(
    raw: str, convert: Callable[[str], Any], validators: Sequence[Callable[[Any], None]]
) -> list[Any]:
    values = []
    for part in raw.replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        try:
            value = convert(part)
        except ValueError:
            raise ValidationError(f"{part!r} is not a number.", code="invalid") from None
        for validate in validators:
            validate(value)
        values.append(value)
    return values


def _int(text: str) -> int:
    number = float(text)
    if number != int(number):
        raise ValueError(text)
    return int(number)


def _lines(raw: str) -> list[str]:
    return [line.strip() for line in raw.splitlines() if line.strip()]


class FactorBuilderForm(forms.Form):
    """Many configurations from factor levels. The first level of each factor is the baseline."""

    MODES = [
        ("factorial", "Full factorial — every combination"),
        ("one_factor", "One factor at a time — around the baseline (first level of each)"),
    ]

    name_prefix = forms.CharField(
        required=False, max_length=60, help_text="Prepended to each generated name."
    )
    base_model = forms.CharField(max_length=500)
    width = forms.IntegerField(initial=param_default("width"), validators=[validate_size])
    height = forms.IntegerField(initial=param_default("height"), validators=[validate_size])
    insert_trigger = forms.BooleanField(required=False, initial=param_default("insert_trigger"))
    mode = forms.ChoiceField(choices=MODES, initial="factorial", widget=forms.RadioSelect)
    samplers = forms.MultipleChoiceField(
        choices=list(SAMPLERS.items()),
        initial=[param_default("sampler")],
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choose at least one sampler."},
    )
    steps = forms.CharField(
        initial=str(param_default("steps")), help_text="Comma-separated, e.g. 20, 30."
    )
    cfg = forms.CharField(
        initial=f"{param_default('cfg'):g}",
        label="CFG scales",
        help_text="Comma-separated, e.g. 5, 7, 9.",
    )
    compel_levels = forms.MultipleChoiceField(
        choices=[(k, f"{k} (×{w})") for k, w in COMPEL_WEIGHTS.items()],
        initial=[param_default("compel_level")],
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choose at least one compel level."},
    )
    negative_prompts = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="One per line; write (none) for an empty one. Blank: no negative prompt.",
    )
    adapter = forms.ModelChoiceField(
        queryset=LoraAdapter.objects.filter(archived=False),
        required=False,
        empty_label="No adapter",
    )
    adapter_scales = forms.CharField(
        required=False, help_text="Comma-separated. Blank: the adapter's default scale."
    )
    vaes = forms.CharField(
        required=False,
        label="VAEs",
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="One per line; write (model) for the model's own. Blank: the model's own.",
    )
    prompts = forms.IntegerField(
        min_value=1, initial=1, help_text="For the preview: prompts in the study."
    )
    seeds = forms.IntegerField(
        min_value=1,
        max_value=SEEDS_PER_PROMPT_MAX,
        initial=2,
        help_text="For the preview: seeds per prompt.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial.setdefault("base_model", default_base_model())
            self.initial.setdefault("prompts", max(1, Prompt.objects.count()))

    def clean_steps(self) -> list[int]:
        values = _parse_numbers(self.cleaned_data["steps"], _int, steps_validators)
        if not values:
            raise ValidationError("Give at least one number of steps.")
        return values

    def clean_cfg(self) -> list[float]:
        values = _parse_numbers(self.cleaned_data["cfg"], float, cfg_validators)
        if not values:
            raise ValidationError("Give at least one CFG scale.")
        return values

    def clean_adapter_scales(self) -> list[float]:
        return _parse_numbers(self.cleaned_data["adapter_scales"], float, scale_validators)

    def clean_negative_prompts(self) -> list[str]:
        values = [
            "" if line == "(none)" else line
            for line in _lines(self.cleaned_data["negative_prompts"])
        ]
        for value in values:
            validate_negative_prompt(value)
        return values or [""]

    def clean_vaes(self) -> list[str]:
        return [
            "" if line == "(model)" else line for line in _lines(self.cleaned_data["vaes"])
        ] or [""]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("adapter_scales") and not data.get("adapter"):
            self.add_error("adapter", "Choose the adapter whose scale the levels vary.")
        if not self.errors:
            try:  # counted before drafts() would build them all
                config_factor_levels_count(levels=self.levels(), mode=data["mode"])
            except ValidationError as error:
                self.add_error(None, error.messages)
        return data

    def levels(self) -> dict[str, list[Any]]:
        data = self.cleaned_data
        return {
            "sampler": list(data["samplers"]),
            "steps": data["steps"],
            "cfg": data["cfg"],
            "compel_level": list(data["compel_levels"]),
            "negative_prompt": data["negative_prompts"],
            "adapter_scale": data.get("adapter_scales") or [],
            "vae": data["vaes"],
        }

    def drafts(self) -> list[ConfigDraft]:
        data = self.cleaned_data
        base = {
            "base_model": data["base_model"],
            "width": data["width"],
            "height": data["height"],
            "insert_trigger": data["insert_trigger"],
        }
        return config_factor_levels_expand(
            base=base,
            levels=self.levels(),
            mode=data["mode"],
            adapter=data.get("adapter"),
            name_prefix=data.get("name_prefix", ""),
        )
