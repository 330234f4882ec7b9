from __future__ import annotations

import secrets
from collections.abc import Collection
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from generation.constants import COMPEL_WEIGHTS, SAMPLERS, TINY_RANDOM
from generation.designs import design_params
from generation.validation import (
    SEED_MAX,
    UNKNOWN_COMPEL_LEVEL,
    UNKNOWN_SAMPLER,
    cfg_validators,
    clean_fields_strictly,
    scale_validators,
    seed_validators,
    steps_validators,
    validate_key_terms,
    validate_negative_prompt,
    validate_prompt_text,
    validate_size,
)


class PromptImmutableError(ValidationError):
    pass


class ConfigImmutableError(ValidationError):
    pass


class FrozenOnceRendered(models.Model):
    """A prompt or configuration whose images were rendered refuses edits to what they were
    rendered from: what raters judged must not change under them. The invariant sits on
    save() so that no path (admin, API, shell) can rewrite it; copy and edit the copy instead.
    """

    images: Any  # the reverse relation from Image
    #: "Prompt" / "Configuration", and what cannot change, for the error message.
    frozen_label: str
    frozen_what: str
    immutable_error_class: type[ValidationError]

    class Meta:
        abstract = True

    def has_rendered(self) -> bool:
        if self.pk is None:
            return False
        return self.images.exclude(status__in=[Image.Status.PENDING, Image.Status.QUEUED]).exists()

    def rendered_from_changed(self) -> bool:
        """Whether what the images were rendered from differs from the stored row."""
        raise NotImplementedError

    def immutable_error(self) -> ValidationError:
        return self.immutable_error_class(
            f"{self.frozen_label} {self.pk} has rendered images and {self.frozen_what}: "
            "copy it and edit the copy instead.",
            code="immutable",
        )

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None and self.has_rendered() and self.rendered_from_changed():
            raise self.immutable_error()
        super().save(*args, **kwargs)


class Prompt(FrozenOnceRendered):
    frozen_label = "Prompt"
    frozen_what = "its text, category, key terms and trigger token cannot be changed"
    immutable_error_class = PromptImmutableError

    text = models.TextField(validators=[validate_prompt_text])
    category = models.CharField(max_length=80, db_index=True)
    key_terms = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_key_terms],
        help_text="Technical phrases that prompt weighting emphasises.",
    )
    # Caption schema from the research report.
    material = models.CharField(max_length=80, blank=True)
    setting = models.CharField(max_length=80, blank=True)
    stone = models.CharField(max_length=80, blank=True)
    background = models.CharField(max_length=80, blank=True)
    style = models.CharField(max_length=80, blank=True)
    trigger_token = models.CharField(
        max_length=40, blank=True, help_text="Rare token of the adapter trained for this prompt."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["category", "id"]

    def __str__(self) -> str:
        return self.text if len(self.text) <= 60 else self.text[:57] + "..."

    def clean_fields(self, exclude: Collection[str] | None = None) -> None:
        clean_fields_strictly(self, exclude, super().clean_fields)

    def rendered_from_changed(self) -> bool:
        stored = type(self).objects.filter(pk=self.pk).values(*PROMPT_RENDER_FIELDS).first()
        return stored is not None and any(
            stored[f] != getattr(self, f) for f in PROMPT_RENDER_FIELDS
        )


#: What an image of a prompt is rendered from (the caption attributes are only labels).
PROMPT_RENDER_FIELDS = ("text", "category", "key_terms", "trigger_token")
#: A prompt's caption schema (what its image shows), and with its category the attributes a
#: prompt list filters by and a checklist field may check.
CAPTION_ATTRIBUTES = ("material", "setting", "stone", "background", "style")
PROMPT_ATTRIBUTES = ("category", *CAPTION_ATTRIBUTES)
#: What a researcher writes of a prompt: the form and the API edit these, and a copy takes them.
PROMPT_FIELDS = ("text", "category", "key_terms", *CAPTION_ATTRIBUTES, "trigger_token")


class LoraAdapter(models.Model):
    name = models.CharField(max_length=120, unique=True)
    weights = models.CharField(
        max_length=500, help_text="Local .safetensors file or folder, or a hub id."
    )
    sha256 = models.CharField(max_length=64, db_index=True)
    trigger_token = models.CharField(max_length=40, blank=True)
    default_scale = models.FloatField(default=1.0, validators=scale_validators)
    category = models.CharField(
        max_length=80,
        blank=True,
        help_text="The prompt category it was trained for: its trigger token goes only into "
        "prompts of that category. Blank: every category.",
    )
    archived = models.BooleanField(
        default=False, help_text="Hidden from forms; kept because configurations use it."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean_fields(self, exclude: Collection[str] | None = None) -> None:
        clean_fields_strictly(self, exclude, super().clean_fields)


class GenerationConfig(FrozenOnceRendered):
    frozen_label = "Configuration"
    frozen_what = "cannot be changed"
    immutable_error_class = ConfigImmutableError

    SAMPLER_CHOICES = list(SAMPLERS.items())
    COMPEL_CHOICES = [(k, f"{k} (×{w})") for k, w in COMPEL_WEIGHTS.items()]

    name = models.CharField(max_length=120, blank=True)
    base_model = models.CharField(
        max_length=500,
        default=TINY_RANDOM,
        help_text="Hub id, local diffusers folder, single .safetensors file, or tiny-random.",
    )
    vae = models.CharField(max_length=500, blank=True, help_text="Blank: the model's own VAE.")
    sampler = models.CharField(
        max_length=32,
        choices=SAMPLER_CHOICES,
        default="euler_a",
        error_messages={"invalid_choice": UNKNOWN_SAMPLER},
    )
    steps = models.PositiveSmallIntegerField(default=20, validators=steps_validators)
    cfg = models.FloatField("CFG scale", default=7.0, validators=cfg_validators)
    compel_level = models.CharField(
        max_length=8,
        choices=COMPEL_CHOICES,
        default="none",
        error_messages={"invalid_choice": UNKNOWN_COMPEL_LEVEL},
    )
    negative_prompt = models.TextField(blank=True, validators=[validate_negative_prompt])
    width = models.PositiveSmallIntegerField(default=512, validators=[validate_size])
    height = models.PositiveSmallIntegerField(default=512, validators=[validate_size])
    insert_trigger = models.BooleanField(
        default=True, help_text="Prepend the adapters' trigger tokens to the prompt."
    )
    adapters: models.ManyToManyField[LoraAdapter, ConfigAdapter] = models.ManyToManyField(
        LoraAdapter, through="ConfigAdapter", blank=True
    )
    fingerprint = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(steps__gte=1, steps__lte=150), name="config_steps_range"
            ),
            models.CheckConstraint(condition=Q(cfg__gte=1, cfg__lte=30), name="config_cfg_range"),
            models.CheckConstraint(
                condition=Q(sampler__in=list(SAMPLERS)), name="config_sampler_known"
            ),
            models.CheckConstraint(
                condition=Q(compel_level__in=list(COMPEL_WEIGHTS)), name="config_compel_known"
            ),
        ]

    def __str__(self) -> str:
        return self.name or self.label

    def clean_fields(self, exclude: Collection[str] | None = None) -> None:
        clean_fields_strictly(self, exclude, super().clean_fields)

    @property
    def label(self) -> str:
        return (
            f"{SAMPLERS.get(self.sampler, self.sampler)} · {self.steps} steps · "
            f"CFG {self.cfg:g} · compel {self.compel_level}"
        )

    def params(self) -> dict[str, Any]:
        """The rendering parameters of the config's own fields (adapters apart)."""
        return {field: getattr(self, field) for field in PARAM_FIELDS}

    def design_params(self) -> dict[str, Any]:
        """What a study design compares it by (prefetch adapter_links__adapter for many)."""
        return design_params(
            self.params(), ((link.adapter.sha256, link.scale) for link in self.adapter_links.all())
        )

    def rendered_from_changed(self) -> bool:
        stored = type(self).objects.get(pk=self.pk)
        return stored.params() != self.params() or stored.fingerprint != self.fingerprint


PARAM_FIELDS = (
    "base_model",
    "vae",
    "sampler",
    "steps",
    "cfg",
    "compel_level",
    "negative_prompt",
    "width",
    "height",
    "insert_trigger",
)


class ConfigAdapter(models.Model):
    config = models.ForeignKey(
        GenerationConfig, on_delete=models.CASCADE, related_name="adapter_links"
    )
    adapter = models.ForeignKey(LoraAdapter, on_delete=models.PROTECT, related_name="config_links")
    scale = models.FloatField(default=1.0, validators=scale_validators)

    class Meta:
        ordering = ["adapter__name"]
        constraints = [
            models.UniqueConstraint(fields=["config", "adapter"], name="config_adapter_unique"),
            models.CheckConstraint(
                condition=Q(scale__gte=-2, scale__lte=2), name="config_adapter_scale_range"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.adapter} × {self.scale:g}"

    def clean_fields(self, exclude: Collection[str] | None = None) -> None:
        clean_fields_strictly(self, exclude, super().clean_fields)

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.config.has_rendered():
            raise self.config.immutable_error()
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        if self.config.has_rendered():
            raise self.config.immutable_error()
        return super().delete(*args, **kwargs)


def _random_token() -> str:
    return secrets.token_hex(16)


class Image(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        QUEUED = "queued"
        RENDERING = "rendering"
        DONE = "done"
        FAILED = "failed"

    config = models.ForeignKey(GenerationConfig, on_delete=models.PROTECT, related_name="images")
    prompt = models.ForeignKey(Prompt, on_delete=models.PROTECT, related_name="images")
    seed = models.BigIntegerField(validators=seed_validators)
    status = models.CharField(
        max_length=12, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    # Opaque: file names and URLs must not reveal the configuration to raters.
    token = models.CharField(max_length=32, unique=True, default=_random_token, editable=False)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    # Set by the worker that claimed the image; a result is stored only under the same claim.
    claim = models.CharField(max_length=32, blank=True, editable=False)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)
    render_seconds = models.FloatField(null=True, blank=True)
    worker_host = models.CharField(max_length=200, blank=True)
    versions = models.JSONField(default=dict, blank=True)
    params = models.JSONField(default=dict, blank=True, help_text="Fully resolved parameters.")
    file = models.FileField(upload_to="masters/", blank=True)
    # Indexed: the media view finds the image behind a requested file by this name.
    display_file = models.FileField(upload_to="img/", blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    rendered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["config", "prompt", "seed"], name="image_unique"),
            models.CheckConstraint(
                condition=Q(seed__gte=0, seed__lte=SEED_MAX), name="image_seed_range"
            ),
        ]
        indexes = [models.Index(fields=["status", "lease_expires_at"])]

    def __str__(self) -> str:
        return f"Image {self.pk} ({self.status})"


class WorkerHeartbeat(models.Model):
    """What each render worker last said about itself (for the worker panel and /healthz)."""

    node = models.CharField(max_length=200, unique=True, help_text="Celery node name or host:pid.")
    host = models.CharField(max_length=200)
    device = models.CharField(max_length=200, blank=True)
    models_loaded = models.JSONField(default=list, blank=True)
    images_rendered = models.PositiveIntegerField(default=0)
    images_per_second = models.FloatField(null=True, blank=True)
    started_at = models.DateTimeField(auto_now_add=True)
    last_seen = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-last_seen"]

    def __str__(self) -> str:
        return self.node


class ImageScore(models.Model):
    """An automatic metric's score of one image (CLIP similarity, aesthetic predictor, …).

    A reference to validate against people, never a substitute for them: see the analysis.
    """

    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="scores")
    metric = models.CharField(max_length=40, help_text="Metric name from LOUPE_SCORERS.")
    value = models.FloatField()
    model_path = models.CharField(max_length=500, help_text="Where the scorer's model was read.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["image_id", "metric"]
        constraints = [
            models.UniqueConstraint(fields=["image", "metric"], name="image_score_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.metric} {self.value:.3f} (image {self.image_id})"


class CheckpointSeries(models.Model):
    """A LoRA training run: checkpoints of one adapter at increasing training steps, each
    rendered as the base configuration plus that checkpoint (generation.services.series)."""

    name = models.CharField(max_length=120, unique=True)
    folder = models.CharField(max_length=500, help_text="Server folder of the .safetensors files.")
    base_config = models.ForeignKey(GenerationConfig, on_delete=models.PROTECT, related_name="+")
    scale = models.FloatField(default=1.0, validators=scale_validators)
    trigger_token = models.CharField(max_length=40, blank=True)
    #: The training loss as [[step, loss], …] in step order; empty when none was given.
    loss_log = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "checkpoint series"

    def __str__(self) -> str:
        return self.name


class Checkpoint(models.Model):
    """One checkpoint of a series: its training step, its adapter and the configuration that
    renders it."""

    series = models.ForeignKey(
        CheckpointSeries, on_delete=models.CASCADE, related_name="checkpoints"
    )
    step = models.PositiveIntegerField()
    adapter = models.ForeignKey(LoraAdapter, on_delete=models.PROTECT, related_name="+")
    config = models.ForeignKey(GenerationConfig, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["series_id", "step"]
        constraints = [
            models.UniqueConstraint(fields=["series", "step"], name="checkpoint_step_unique"),
            models.UniqueConstraint(fields=["series", "config"], name="checkpoint_config_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.series} · step {self.step}"
