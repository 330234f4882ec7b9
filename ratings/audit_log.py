"""The audit log: who launched, opened or closed a study, or left a rater out of it. A model of
the ratings app (ratings.models re-exports it); ratings.services.audit writes it."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from evalsite.fields import user_reference
from ratings.models import Study


class AuditEvent(models.Model):
    """Who launched, opened or closed a study, or left a rater out of it (or back in), when.

    Written by the services that make those changes, in the same transaction; never edited.
    """

    class Action(models.TextChoices):
        STUDY_LAUNCHED = "study_launched", "Study launched"
        STUDY_OPENED = "study_opened", "Study opened to raters"
        STUDY_CLOSED = "study_closed", "Study closed to raters"
        RATER_EXCLUDED = "rater_excluded", "Rater excluded"
        RATER_RESTORED = "rater_restored", "Rater restored"

    at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = user_reference(
        help_text="Empty for changes made by the system (a management command, a script)."
    )
    action = models.CharField(max_length=20, choices=Action.choices)
    study = models.ForeignKey(
        Study, null=True, blank=True, on_delete=models.SET_NULL, related_name="audit_events"
    )
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_action_display()} ({self.at:%Y-%m-%d %H:%M})"
