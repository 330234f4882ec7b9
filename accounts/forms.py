from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth.forms import PasswordChangeForm

from accounts.models import INVITE_NOTE_MAX, TOKEN_NAME_MAX, Invite
from accounts.selectors import rater_groups, studies_for_assignment
from accounts.services import INVITE_MAX_DAYS
from ratings.forms import RaterGroupChoices


class StudyChoices(forms.ModelMultipleChoiceField):
    """The studies a rater is named on, to pick from every study (checkboxes, optional)."""

    def __init__(self, *, help_text: str) -> None:
        super().__init__(
            queryset=studies_for_assignment(),
            widget=forms.CheckboxSelectMultiple,
            required=False,
            help_text=help_text,
        )

    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.name} ({obj.get_status_display().lower()})"


class InviteForm(forms.Form):
    role = forms.ChoiceField(
        choices=Invite.Role.choices, initial=Invite.Role.RATER, widget=forms.RadioSelect
    )
    studies = StudyChoices(help_text="The new account is named on these studies.")
    groups = RaterGroupChoices(
        queryset=rater_groups(), help_text="Studies open to a group are open to everyone in it."
    )
    days = forms.IntegerField(
        min_value=1, max_value=INVITE_MAX_DAYS, label="Valid for (days)", initial=7
    )
    note = forms.CharField(
        max_length=INVITE_NOTE_MAX,
        required=False,
        help_text="Who it is for: shown only to researchers.",
    )

    def __init__(self, *args: Any, can_invite_researchers: bool = False, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.fields["days"].initial = settings.LOUPE_INVITE_DAYS
        if not can_invite_researchers:
            self.fields["role"].choices = [(Invite.Role.RATER.value, Invite.Role.RATER.label)]  # type: ignore[attr-defined]
            self.fields["role"].widget = forms.HiddenInput()


class AssignForm(forms.Form):
    studies = StudyChoices(
        help_text="Studies this rater is named on (a rater group can open others too)."
    )
    groups = RaterGroupChoices(queryset=rater_groups())

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


class AcceptInviteForm(forms.Form):
    username = forms.CharField(max_length=150, help_text="Letters, digits and @ . + - _ only.")
    password1 = forms.CharField(
        label="Password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    password2 = forms.CharField(
        label="Password again",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("password1") and data.get("password2") != data["password1"]:
            self.add_error("password2", "The two passwords differ.")
        return data


class TokenForm(forms.Form):
    name = forms.CharField(
        max_length=TOKEN_NAME_MAX,
        help_text="What uses it, e.g. “nightly export script”.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


class PasswordForm(PasswordChangeForm):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
