"""Forms for the study pages. Rules and messages come from the models."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.utils.text import slugify

from evalsite.roles import RATERS
from generation.models import GenerationConfig, Prompt
from generation.validation import validate_image_pixels, validate_upload_size
from ratings.models import DEFAULT_CRITERIA, Criterion, Study
from ratings.services.studies import STRUCTURAL_FIELDS


def config_label(obj: Any) -> str:
    return f"#{obj.pk} {obj.name or obj.label}"


class ReferenceImageField(forms.ImageField):
    """An image upload that refuses oversized files and decompression bombs with a message
    naming the limit, before Django has Pillow verify the file (which would only say "not a
    valid image")."""

    def to_python(self, data: Any) -> Any:
        if data not in self.empty_values and hasattr(data, "size"):
            validate_upload_size(data)
            validate_image_pixels(data)
        return super().to_python(data)


class PromptChoices(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.category} — {obj.text}"


class ConfigChoices(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return config_label(obj)


class RaterGroupChoices(forms.ModelMultipleChoiceField):
    """The picker of groups whose members may judge a study: every form that opens studies
    to groups (the study form, invites, a rater's assignment) declares it with this."""

    def __init__(self, *, queryset: Any, help_text: str = "") -> None:
        super().__init__(
            queryset=queryset,
            widget=forms.CheckboxSelectMultiple,
            required=False,
            label="Rater groups",
            help_text=help_text,
        )


def study_form_prepare(form: forms.ModelForm[Study], *, fixed: Iterable[str]) -> None:
    """What every study form sets up: the raters it lists; an existing study's prompts and
    configurations (and, once launched, its `fixed` fields disabled); a new study's groups."""
    raters = form.fields["raters"]
    assert isinstance(raters, forms.ModelMultipleChoiceField)
    raters.queryset = get_user_model().objects.filter(groups__name=RATERS).order_by("username")
    study = form.instance
    if study.pk:
        form.initial.setdefault("prompts", list(study.prompts.all()))
        form.initial.setdefault("configs", list(study.configs.all()))
        if study.status != Study.Status.DRAFT:
            for name in fixed:
                form.fields[name].disabled = True
                form.fields[name].help_text = "Fixed since launch."
    elif not form.is_bound:
        form.initial.setdefault("rater_groups", list(Group.objects.filter(name=RATERS)))


class StudyForm(forms.ModelForm[Study]):
    prompts = PromptChoices(
        queryset=Prompt.objects.all(), widget=forms.CheckboxSelectMultiple, required=False
    )
    configs = ConfigChoices(
        queryset=GenerationConfig.objects.all(),
        widget=forms.CheckboxSelectMultiple,
        required=False,
        label="Configurations",
    )
    raters = forms.ModelMultipleChoiceField(
        queryset=get_user_model().objects.none(),
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="Raters who may judge this study.",
    )
    # All groups: the raters' role group (everyone with the rater role) is one of them.
    rater_groups = RaterGroupChoices(
        queryset=Group.objects.all(), help_text="Everyone in these groups may judge it."
    )

    class Meta:
        model = Study
        fields = [
            "name", "instructions", "prompts", "configs", "baseline", "design",
            "seeds_per_prompt", "base_seed", "target_judgments", "gold_rate", "raters",
            "rater_groups", "decision_rule", "decision_confidence", "decision_a", "decision_b",
        ]  # fmt: skip
        widgets = {
            "instructions": forms.Textarea(
                attrs={"rows": 5, "placeholder": "Markdown. Shown to raters before they start."}
            ),
            "design": forms.RadioSelect,
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        baseline = self.fields["baseline"]
        assert isinstance(baseline, forms.ModelChoiceField)
        baseline.label_from_instance = config_label  # type: ignore[method-assign,assignment]
        baseline.help_text = "For 'each vs baseline'. Blank: the first configuration."
        for name in ("decision_a", "decision_b"):
            field = self.fields[name]
            assert isinstance(field, forms.ModelChoiceField)
            field.label_from_instance = config_label  # type: ignore[method-assign,assignment]
        self.fields["decision_a"].label = "Decide between"
        self.fields["decision_b"].label = "and"
        self.fields["decision_a"].help_text = "For 'one configuration against another'."
        # No baseline chosen: study_create and study_update take the first configuration; they
        # also check that a decision pair is two of the study's configurations.
        # Optional in a post (older clients and scripts omit them): the model's defaults apply.
        for name in ("decision_rule", "decision_confidence"):
            self.fields[name].required = False
        study_form_prepare(self, fixed=(*STRUCTURAL_FIELDS, "prompts", "configs"))

    def clean_decision_rule(self) -> str:
        return str(self.cleaned_data.get("decision_rule") or Study.DecisionRule.BEST)

    def clean_decision_confidence(self) -> float:
        value = self.cleaned_data.get("decision_confidence")
        return 0.95 if value is None else float(value)

    def service_fields(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            name: data[name]
            for name in (
                "name", "instructions", "baseline", "design", "seeds_per_prompt", "base_seed",
                "target_judgments", "gold_rate", "decision_rule", "decision_confidence",
                "decision_a", "decision_b",
            )
        }  # fmt: skip


class CriterionForm(forms.Form):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)

    key = forms.CharField(required=False, widget=forms.HiddenInput, max_length=40)
    label = forms.CharField(max_length=80)
    question = forms.CharField(max_length=300, widget=forms.TextInput(attrs={"size": 50}))


class BaseCriterionFormSet(forms.BaseFormSet[CriterionForm]):
    def clean(self) -> None:
        super().clean()
        if any(self.errors):
            return
        keys = [key for key, _, _ in self.criteria()]
        if not keys:
            raise ValidationError("A study needs at least one criterion.")
        if len(set(keys)) != len(keys):
            raise ValidationError("Two criteria have the same label: make each one distinct.")

    def criteria(self) -> list[tuple[str, str, str]]:
        rows = []
        for form in self.forms:
            data = getattr(form, "cleaned_data", {})
            if not data or data.get("DELETE") or not data.get("label"):
                continue
            key = data.get("key") or slugify(data["label"]).replace("-", "_")[:40] or "criterion"
            rows.append((key, data["label"], data["question"]))
        return rows


CriterionFormSet = forms.formset_factory(
    CriterionForm, formset=BaseCriterionFormSet, extra=1, can_delete=True
)


def criteria_initial(study: Study | None) -> list[dict[str, str]]:
    if study is None:
        return [{"key": k, "label": label, "question": q} for k, label, q in DEFAULT_CRITERIA]
    return [
        {"key": c.key, "label": c.label, "question": c.question}
        for c in Criterion.objects.filter(study=study)
    ]
