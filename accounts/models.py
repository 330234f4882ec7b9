"""Invites into the team and researchers' API tokens: only hashes of the secrets are stored."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import models
from django.utils import timezone

from evalsite.fields import user_reference
from evalsite.roles import RATERS, RESEARCHERS

#: Longest invite note and API token name (the forms, API and services read these).
INVITE_NOTE_MAX = 200
TOKEN_NAME_MAX = 80


class Invite(models.Model):
    """A single-use link that lets one person create an account in a role."""

    class Role(models.TextChoices):
        RATER = RATERS, "Rater"
        RESEARCHER = RESEARCHERS, "Researcher"

    # sha256 of the token in the link: a database dump gives nobody a usable invite.
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.RATER)
    studies = models.ManyToManyField("ratings.Study", blank=True, related_name="+")
    groups = models.ManyToManyField(Group, blank=True, related_name="+")
    note = models.CharField(
        max_length=INVITE_NOTE_MAX, blank=True, help_text="Who it is for (shown to you)."
    )
    created_by = user_reference(blank=False)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    used_by = user_reference()
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Invite {self.pk} ({self.get_role_display()})"

    def is_open(self) -> bool:
        return self.used_at is None and self.revoked_at is None and self.expires_at > timezone.now()


class ApiToken(models.Model):
    """A researcher's named API key; several per user, each revocable on its own."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=TOKEN_NAME_MAX)
    # The first characters of the key, enough to recognise it in a list; the rest is secret.
    prefix = models.CharField(max_length=16)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"
