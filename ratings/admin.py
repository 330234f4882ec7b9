from __future__ import annotations

from django.contrib import admin

from ratings.models import Comparison, Criterion, Judgment, Presentation, ReferenceImage, Study


class CriterionInline(admin.TabularInline[Criterion, Study]):
    model = Criterion
    extra = 0


class ReferenceImageInline(admin.TabularInline[ReferenceImage, Study]):
    model = ReferenceImage
    extra = 0


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
