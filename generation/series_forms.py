"""Forms of the checkpoint series pages: register a training run, render its grid."""

from __future__ import annotations

from typing import Any

from django import forms

from generation.models import GenerationConfig, Prompt
from generation.services.series import LOSS_MAX_BYTES
from generation.validation import scale_validators

#: Seeds of the grid by default: the first two a study takes (Study.base_seed = 1234).
DEFAULT_SEEDS = "1234, 1235"


class SeriesRegisterForm(forms.Form):
    name = forms.CharField(max_length=120)
    folder = forms.CharField(
        max_length=500,
        widget=forms.TextInput(attrs={"placeholder": "demo-series"}),
        help_text="A server folder inside the adapter folders (LOUPE_ADAPTER_ROOTS) holding the "
        "checkpoints, each ending in its step (name-000500.safetensors, step_500, "
        "checkpoint-500) or with the step in its metadata.",
    )
    base_config = forms.ModelChoiceField(
        label="Base configuration",
        queryset=GenerationConfig.objects.filter(adapter_links__isnull=True).order_by("-id"),
        help_text="Each checkpoint renders as this configuration plus the checkpoint.",
    )
    scale = forms.FloatField(initial=1.0, validators=scale_validators)
    trigger_token = forms.CharField(max_length=40, required=False)
    loss_file = forms.FileField(
        required=False,
        label="Loss log (CSV)",
        help_text="Columns step and loss. Left empty, loss.csv in the folder is read if there.",
    )

    def clean_loss_file(self) -> str:
        upload = self.cleaned_data.get("loss_file")
        if not upload:
            return ""
        if upload.size > LOSS_MAX_BYTES:
            raise forms.ValidationError(
                f"The loss log is larger than {LOSS_MAX_BYTES // 2**20} MiB."
            )
        try:
            return bytes(upload.read()).decode("utf-8")
        except UnicodeDecodeError:
            raise forms.ValidationError("The loss log must be UTF-8 text (CSV).") from None


def parse_seeds(raw: str) -> list[int]:
    """Seeds from "1234, 1235" (commas or spaces); forms.ValidationError naming a part that is
    not a whole number. How many and which seeds a grid takes is series_grid_render's rule."""
    seeds = []
    for part in raw.replace(",", " ").split():
        try:
            seeds.append(int(part))
        except ValueError:
            raise forms.ValidationError(
                f"{part[:20]!r} is not a seed: give whole numbers, e.g. {DEFAULT_SEEDS}."
            ) from None
    return seeds


class SeriesRenderForm(forms.Form):
    prompts = forms.ModelMultipleChoiceField(
        queryset=Prompt.objects.order_by("category", "id"), widget=forms.CheckboxSelectMultiple
    )
    seeds = forms.CharField(initial=DEFAULT_SEEDS, max_length=200)

    def clean_seeds(self) -> list[int]:
        return parse_seeds(str(self.cleaned_data["seeds"]))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["prompts"].label_from_instance = lambda p: p.text  # type: ignore[attr-defined]
