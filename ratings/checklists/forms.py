"""The checklist study form. Rules and messages come from the models and items.py."""

from __future__ import annotations

from typing import Any

from django import forms

from generation.models import GenerationConfig, Prompt
from ratings.checklists.items import FieldSpec, schema_parse, schema_text
from ratings.checklists.services import study_fields
from ratings.forms import ConfigChoices, PromptChoices, StudyForm, study_form_prepare
from ratings.models import Study

SCHEMA_EXAMPLE = (
    "Metal (material): yellow gold, white gold, rose gold, silver, platinum\n"
    "Background (background): white background, marble, linen"
)


class ChecklistStudyForm(forms.ModelForm[Study]):
    prompts = PromptChoices(queryset=Prompt.objects.all(), widget=forms.CheckboxSelectMultiple)
    configs = ConfigChoices(
        queryset=GenerationConfig.objects.all(),
        widget=forms.CheckboxSelectMultiple,
        label="Configurations",
    )
    schema = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 5, "placeholder": SCHEMA_EXAMPLE}),
        help_text="One field a line: Label (prompt attribute): allowed value, allowed value. "
        "Attributes: category, material, setting, stone, background, style. Raters are asked "
        "“Label: the prompt's value?” when the prompt states one of the allowed values.",
    )
    # The study form's pickers of who may judge (the queryset is set per form, below).
    raters = StudyForm.declared_fields["raters"]
    rater_groups = StudyForm.declared_fields["rater_groups"]

    class Meta:
        model = Study
        fields = [
            "name", "instructions", "prompts", "configs", "seeds_per_prompt", "base_seed",
            "target_judgments", "raters", "rater_groups",
        ]  # fmt: skip
        labels = {"target_judgments": "Raters per image"}
        help_texts = {
            "target_judgments": "How many raters should answer each image (images shown to "
            "the fewest raters come first; once all have the target, raters may go on)."
        }
        widgets = {"instructions": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        study_form_prepare(self, fixed=("prompts", "configs", "seeds_per_prompt", "base_seed"))
        if self.instance.pk:
            self.initial.setdefault("schema", schema_text(study_fields(self.instance)))

    def clean_schema(self) -> list[FieldSpec]:
        try:
            return schema_parse(str(self.cleaned_data.get("schema") or ""))
        except forms.ValidationError as error:
            raise forms.ValidationError(error.message_dict["schema"]) from None

    def service_fields(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "name": data["name"],
            "instructions": data["instructions"],
            "prompts": list(data["prompts"]),
            "configs": list(data["configs"]),
            "fields": data["schema"],
            "seeds_per_prompt": data["seeds_per_prompt"],
            "base_seed": data["base_seed"],
            "target_judgments": data["target_judgments"],
            "raters": list(data["raters"]),
            "rater_groups": list(data["rater_groups"]),
        }
