"""Checklist studies' rows: the schema, the images, what was shown, the answers, the labels.

Imported by ratings/models.py, so they belong to the ratings app.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from generation.models import PROMPT_ATTRIBUTES, Image
from ratings.models import Study

#: The prompt attributes a schema field may check (Prompt's caption schema and its category).
FIELD_ATTRIBUTES: tuple[str, ...] = PROMPT_ATTRIBUTES


class Answer(models.TextChoices):
    YES = "yes", "Yes"
    NO = "no", "No"
    UNSURE = "unsure", "Can't tell"


class ChecklistField(models.Model):
    """One field of a checklist study's schema: a prompt attribute, its label and allowed values.

    The expected value of an image's item is its prompt's value of `attribute`; raters see
    "<label>: <expected>?" and answer yes / no / can't tell. A prompt whose value is blank or
    not among `allowed` is not asked this field.
    """

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="checklist_fields")
    attribute = models.CharField(max_length=20, choices=[(a, a) for a in FIELD_ATTRIBUTES])
    label = models.CharField(max_length=80)
    allowed = models.JSONField(default=list, help_text="The values a labeller chooses among.")
    order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["study", "order", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["study", "attribute"], name="checklist_field_attribute_unique"
            ),
        ]

    def __str__(self) -> str:
        return self.label


class ChecklistImage(models.Model):
    """An image a checklist study asks about (made at launch: configs × prompts × seeds)."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="checklist_images")
    image = models.ForeignKey(Image, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["study", "image"], name="checklist_image_unique"),
        ]

    def __str__(self) -> str:
        return f"Study {self.study_id}, image {self.image_id}"


class ChecklistShowing(models.Model):
    """What the server showed one rater: an image of a checklist study, and when."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="+")
    image = models.ForeignKey(Image, on_delete=models.PROTECT, related_name="+")
    rater = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    shown_at = models.DateTimeField(default=timezone.now)
    answered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["study", "rater", "image"], name="checklist_showing_once"
            ),
        ]

    def __str__(self) -> str:
        return f"Showing {self.pk}"


class ChecklistAnswer(models.Model):
    """One rater's answer to one item of one image: one per rater × image × item."""

    showing = models.ForeignKey(ChecklistShowing, on_delete=models.CASCADE, related_name="answers")
    # Denormalised from the showing so the database enforces one answer per item.
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="checklist_answers")
    image = models.ForeignKey(Image, on_delete=models.PROTECT, related_name="+")
    rater = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    item = models.CharField(max_length=200)
    answer = models.CharField(max_length=8, choices=Answer.choices)
    response_ms = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["study", "rater", "image", "item"], name="checklist_answer_once"
            ),
            models.CheckConstraint(
                condition=models.Q(answer__in=[a.value for a in Answer]),
                name="checklist_answer_value",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.item}: {self.answer}"


class ChecklistLabel(models.Model):
    """An automatic labeller's answer to one item of one image (yes or no)."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="checklist_labels")
    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="+")
    labeller = models.CharField(max_length=40, help_text="Scorer name from LOUPE_SCORERS.")
    item = models.CharField(max_length=200)
    answer = models.CharField(max_length=8, choices=Answer.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["study", "labeller", "image", "item"], name="checklist_label_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.labeller} {self.item}: {self.answer}"


class ChecklistExposure(models.Model):
    """How many raters were shown one image of a checklist study (their first showing of it,
    answered or not yet): the deal's "fewest first". Kept by triggers on the showings table
    (migration 0012_checklist_exposure), so it is exact whatever writes a showing; the
    application only reads it. The deal reads one count per image instead of counting
    showings, and a showing on screen counts at once, so raters arriving together spread
    over the images instead of all drawing the one answered least."""

    image = models.OneToOneField(
        ChecklistImage, on_delete=models.CASCADE, primary_key=True, related_name="exposure"
    )
    shown = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"Checklist image {self.image_id}: shown {self.shown}"
