"""The form that creates a best-of-N study (rules and messages: ratings.rerank.services)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.models import Group

from evalsite.roles import RATERS
from generation.models import GenerationConfig, Prompt
from generation.validation import FREE_TEXT_MAX_CHARS, seed_validators
from ratings.forms import PromptChoices, RaterGroupChoices, config_label
from ratings.rerank.selectors import rerank_scorers_available
from ratings.rerank.services import CANDIDATES_MAX, CANDIDATES_MIN, TOURNAMENT_MAX


class ConfigChoice(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return config_label(obj)


class RerankForm(forms.Form):
    name = forms.CharField(max_length=200)
    instructions = forms.CharField(
        required=False,
        max_length=FREE_TEXT_MAX_CHARS,
        widget=forms.Textarea(
            attrs={"rows": 3, "placeholder": "Markdown. Shown to raters before they start."}
        ),
    )
    config = ConfigChoice(
        queryset=GenerationConfig.objects.all(),
        label="Configuration",
        help_text="Every candidate is rendered with it; only the seed differs.",
    )
    prompts = PromptChoices(queryset=Prompt.objects.all(), widget=forms.CheckboxSelectMultiple)
    candidates = forms.IntegerField(
        initial=16,
        label="Candidates per prompt (N)",
        help_text=f"{CANDIDATES_MIN}–{CANDIDATES_MAX}: seeds base seed … base seed + N − 1.",
    )
    base_seed = forms.IntegerField(initial=1234, validators=seed_validators)
    scorers = forms.MultipleChoiceField(
        widget=forms.CheckboxSelectMultiple,
        help_text="Each scorer picks its top candidate per prompt.",
    )
    tournament_size = forms.IntegerField(
        initial=4,
        label="Human tournament size",
        help_text=(
            f"0: none. 3–{TOURNAMENT_MAX}: raters also judge every pair among this many "
            "candidates of each prompt (the scorers' picks first), so each pick can be checked "
            "against the humans' favourite."
        ),
    )
    target_judgments = forms.IntegerField(
        initial=5, label="Target judgments per pair", min_value=1, max_value=100
    )
    rater_groups = RaterGroupChoices(
        queryset=Group.objects.all(), help_text="Everyone in these groups may judge it."
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        scorers = self.fields["scorers"]
        assert isinstance(scorers, forms.MultipleChoiceField)
        #: The scorers a study may rerank with now (the page says so when there are none).
        self.available = rerank_scorers_available()
        scorers.choices = [(s, s) for s in self.available]
        if not self.is_bound:
            self.initial.setdefault("rater_groups", list(Group.objects.filter(name=RATERS)))
            self.initial.setdefault("scorers", [s for s, _ in scorers.choices][:1])

    def service_fields(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "name": data["name"],
            "instructions": data["instructions"].strip(),
            "config": data["config"],
            "prompts": list(data["prompts"]),
            "candidates": data["candidates"],
            "base_seed": data["base_seed"],
            "scorers": list(data["scorers"]),
            "tournament_size": data["tournament_size"],
            "target_judgments": data["target_judgments"],
            "rater_groups": list(data["rater_groups"]),
        }
