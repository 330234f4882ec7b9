"""The form that starts a study over a checkpoint series."""

from __future__ import annotations

from django import forms
from django.contrib.auth.models import Group

from generation.models import Prompt
from generation.validation import SEEDS_PER_PROMPT_MAX
from ratings.forms import PromptChoices, RaterGroupChoices


class SeriesStudyForm(forms.Form):
    name = forms.CharField(max_length=200)
    prompts = PromptChoices(
        queryset=Prompt.objects.order_by("category", "id"), widget=forms.CheckboxSelectMultiple
    )
    seeds_per_prompt = forms.IntegerField(
        initial=2,
        min_value=1,
        max_value=SEEDS_PER_PROMPT_MAX,
        help_text="Seeds 1234, 1235, … as in the grid.",
    )
    target_judgments = forms.IntegerField(initial=5, min_value=1, max_value=100)
    rater_groups = RaterGroupChoices(
        queryset=Group.objects.order_by("name"), help_text="Whose members may judge it."
    )
    instructions = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        initial="Pick the image that better answers each question.",
    )
