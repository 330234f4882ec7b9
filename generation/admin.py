from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.forms import BaseInlineFormSet
from django.http import HttpRequest

from generation.models import (
    ConfigAdapter,
    GenerationConfig,
    Image,
    ImageScore,
    LoraAdapter,
    Prompt,
    WorkerHeartbeat,
)
from generation.services.adapters import adapter_fixed_fields
from generation.services.configs import config_change_check, config_refresh_fingerprint


@admin.register(Prompt)
class PromptAdmin(admin.ModelAdmin[Prompt]):
    list_display = ["id", "text", "category", "material", "setting", "stone", "style"]
    list_filter = ["category", "material", "setting", "background", "style"]
    search_fields = ["text", "category", "key_terms"]


@admin.register(LoraAdapter)
class LoraAdapterAdmin(admin.ModelAdmin[LoraAdapter]):
    list_display = [
        "name", "trigger_token", "category", "default_scale", "short_sha", "archived", "created_at",
    ]  # fmt: skip
    list_filter = ["archived", "category"]
    search_fields = ["name", "trigger_token", "sha256", "weights"]
    readonly_fields = ["sha256", "created_at"]
    actions = ["archive", "unarchive"]

    @admin.display(description="sha256")
    def short_sha(self, obj: LoraAdapter) -> str:
        return obj.sha256[:12]

    def get_readonly_fields(
        self, request: HttpRequest, obj: LoraAdapter | None = None
    ) -> list[str]:
        # Adapters come in through the registration page, which checks the file; the admin
        # shows what adapter_update would refuse to change as read-only.
        if obj is None:
            return ["weights", "sha256", "created_at"]
        return [*adapter_fixed_fields(adapter=obj), "created_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: LoraAdapter | None = None) -> bool:
        # A used adapter is archived instead (hidden from forms, kept for its configurations).
        if obj is not None and obj.config_links.exists():
            return False
        return super().has_delete_permission(request, obj)

    @admin.action(description="Archive: hide from forms (configurations keep it)")
    def archive(self, request: HttpRequest, queryset: QuerySet[LoraAdapter]) -> None:
        queryset.update(archived=True)

    @admin.action(description="Unarchive")
    def unarchive(self, request: HttpRequest, queryset: QuerySet[LoraAdapter]) -> None:
        queryset.update(archived=False)


class ConfigAdapterFormSet(BaseInlineFormSet):  # type: ignore[type-arg]
    def clean(self) -> None:
        super().clean()
        config: GenerationConfig = self.instance
        adapters = [
            (form.cleaned_data["adapter"], form.cleaned_data.get("scale", 1.0))
            for form in self.forms
            if form.cleaned_data.get("adapter") and not form.cleaned_data.get("DELETE")
        ]
        # The parent form's values are already on self.instance: check the whole config here,
        # where both the fields and the adapters are known, before anything is saved, by the
        # rules the pages and the API edit under (config_update).
        stored = GenerationConfig.objects.filter(pk=config.pk).first() if config.pk else None
        if stored is not None and self.has_changed() and stored.has_rendered():
            # Any posted change of a rendered one's adapters, even one below the 4 decimals
            # the check compares: the inline would save it, and ConfigAdapter.save refuses.
            raise stored.immutable_error()
        config.fingerprint = config_change_check(
            config=stored, params=config.params(), adapters=adapters
        ).fingerprint


class ConfigAdapterInline(admin.TabularInline[ConfigAdapter, GenerationConfig]):
    model = ConfigAdapter
    formset = ConfigAdapterFormSet
    extra = 0


@admin.register(GenerationConfig)
class GenerationConfigAdmin(admin.ModelAdmin[GenerationConfig]):
    list_display = ["id", "name", "base_model", "sampler", "steps", "cfg", "compel_level", "width"]
    list_filter = ["sampler", "compel_level", "steps", "cfg", "base_model"]
    search_fields = ["name", "fingerprint", "negative_prompt"]
    readonly_fields = ["fingerprint", "created_at"]
    inlines = [ConfigAdapterInline]

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        config_refresh_fingerprint(config=form.instance)


@admin.register(Image)
class ImageAdmin(admin.ModelAdmin[Image]):
    list_display = [
        "id",
        "config",
        "prompt",
        "seed",
        "status",
        "attempts",
        "render_seconds",
        "worker_host",
    ]
    list_filter = ["status", "config__sampler", "prompt__category", "worker_host"]
    search_fields = ["token", "prompt__text", "error"]
    raw_id_fields = ["config", "prompt"]
    readonly_fields = [
        "token", "claim", "lease_expires_at", "attempts", "render_seconds", "worker_host",
        "versions", "params", "file", "display_file", "created_at", "rendered_at",
    ]  # fmt: skip


@admin.register(ImageScore)
class ImageScoreAdmin(admin.ModelAdmin[ImageScore]):
    list_display = ["id", "image", "metric", "value", "model_path", "created_at"]
    list_filter = ["metric"]
    raw_id_fields = ["image"]


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(admin.ModelAdmin[WorkerHeartbeat]):
    list_display = ["node", "host", "device", "images_rendered", "images_per_second", "last_seen"]
    readonly_fields = ["started_at", "last_seen"]
