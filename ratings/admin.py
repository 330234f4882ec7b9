from __future__ import annotations

from django.contrib import admin
from django.db import models
from django.http import HttpRequest

from ratings.forms import ReferenceImageField
from ratings.models import (
    AuditEvent,
    Comparison,
    Criterion,
    Judgment,
    Presentation,
    ReferenceImage,
    Study,
)


class CriterionInline(admin.TabularInline[Criterion, Study]):
    model = Criterion
    extra = 0


class ReferenceImageInline(admin.TabularInline[ReferenceImage, Study]):
    model = ReferenceImage
    extra = 0
    # Size and pixel limits with a clear message (a decompression bomb is refused, not opened).
    formfield_overrides = {models.ImageField: {"form_class": ReferenceImageField}}


@admin.register(Study)
class StudyAdmin(admin.ModelAdmin[Study]):
    list_display = [
        "name",
        "status",
        "design",
        "seeds_per_prompt",
        "target_judgments",
        "created_at",
    ]
    list_filter = ["status", "design"]
    search_fields = ["name", "instructions"]
    filter_horizontal = ["prompts", "configs", "raters", "rater_groups", "excluded_raters"]
    readonly_fields = ["created_at", "launched_at"]
    inlines = [CriterionInline, ReferenceImageInline]


@admin.register(Comparison)
class ComparisonAdmin(admin.ModelAdmin[Comparison]):
    list_display = ["id", "study", "prompt", "seed", "image_a", "image_b", "is_gold"]
    list_filter = ["study", "is_gold"]
    raw_id_fields = ["prompt", "image_a", "image_b", "gold_winner"]


@admin.register(Presentation)
class PresentationAdmin(admin.ModelAdmin[Presentation]):
    list_display = [
        "id",
        "comparison",
        "rater",
        "left",
        "is_repeat",
        "shown_at",
        "answered_at",
        "skipped_at",
    ]
    list_filter = ["is_repeat", "comparison__study"]
    raw_id_fields = ["comparison", "left"]


@admin.register(Judgment)
class JudgmentAdmin(admin.ModelAdmin[Judgment]):
    """Read-only: a judgment records what a rater said (a rater's votes leave the results by
    excluding the rater, which is audited). Deleting stays possible, or deleting a study
    or a user here would be refused."""

    list_display = [
        "id", "comparison", "rater", "criterion", "outcome", "side", "winner", "is_repeat",
        "response_ms", "flagged_fast", "created_at",
    ]  # fmt: skip
    list_select_related = ["presentation", "criterion", "rater", "comparison"]
    list_filter = ["outcome", "criterion__key", "flagged_fast", "comparison__study"]
    search_fields = ["rater__username"]
    raw_id_fields = ["presentation", "comparison", "winner"]

    @admin.display(description="side")
    def side(self, obj: Judgment) -> str:
        if obj.outcome != Judgment.Outcome.WIN:
            return obj.get_outcome_display()
        return "left" if obj.winner_id == obj.presentation.left_id else "right"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Judgment | None = None) -> bool:
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin[AuditEvent]):
    """Read-only: the log is written by the services, never by hand."""

    list_display = ["at", "action", "actor", "study", "detail"]
    list_filter = ["action", "at", "actor", "study"]
    list_select_related = ["actor", "study"]
    search_fields = ["study__name", "actor__username"]
    date_hierarchy = "at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: AuditEvent | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: AuditEvent | None = None) -> bool:
        return False
