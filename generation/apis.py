"""REST API for prompts, adapters and configurations (researchers only)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import mixins, serializers, viewsets
from rest_framework.exceptions import ValidationError

from generation.models import ConfigAdapter, GenerationConfig, Image, LoraAdapter, Prompt
from generation.services.configs import config_create
from generation.validation import scale_validators, validate_compel_level, validate_sampler


def _as_drf(error: DjangoValidationError) -> ValidationError:
    return ValidationError(error.message_dict if hasattr(error, "error_dict") else error.messages)


class PromptSerializer(serializers.ModelSerializer[Prompt]):
    class Meta:
        model = Prompt
        fields = [
            "id", "text", "category", "key_terms", "material", "setting", "stone",
            "background", "style", "trigger_token", "created_at",
        ]  # fmt: skip


class LoraAdapterSerializer(serializers.ModelSerializer[LoraAdapter]):
    class Meta:
        model = LoraAdapter
        fields = ["id", "name", "weights", "sha256", "trigger_token", "default_scale", "created_at"]
        read_only_fields = ["sha256", "weights"]


class ConfigAdapterSerializer(serializers.ModelSerializer[ConfigAdapter]):
    adapter = serializers.PrimaryKeyRelatedField(queryset=LoraAdapter.objects.all())
    scale = serializers.FloatField(validators=scale_validators)

    class Meta:
        model = ConfigAdapter
        fields = ["adapter", "scale"]


class GenerationConfigSerializer(serializers.ModelSerializer[GenerationConfig]):
    adapters = ConfigAdapterSerializer(source="adapter_links", many=True, required=False)
    # Plain fields with the shared validators, so the API says exactly what forms say.
    sampler = serializers.CharField(validators=[validate_sampler], default="euler_a")
    compel_level = serializers.CharField(validators=[validate_compel_level], default="none")
    reused = serializers.SerializerMethodField()

    class Meta:
        model = GenerationConfig
        fields = [
            "id", "name", "base_model", "vae", "sampler", "steps", "cfg", "compel_level",
            "negative_prompt", "width", "height", "insert_trigger", "adapters", "fingerprint",
            "reused", "created_at",
        ]  # fmt: skip
        read_only_fields = ["fingerprint", "created_at"]

    def get_reused(self, obj: GenerationConfig) -> bool:
        return bool(getattr(obj, "_reused", False))

    def create(self, validated_data: dict[str, Any]) -> GenerationConfig:
        links = validated_data.pop("adapter_links", [])
        try:
            config, created = config_create(
                adapters=[(link["adapter"], link["scale"]) for link in links], **validated_data
            )
        except DjangoValidationError as error:
            raise _as_drf(error) from error
        config._reused = not created  # type: ignore[attr-defined]
        return config

    def update(
        self, instance: GenerationConfig, validated_data: dict[str, Any]
    ) -> GenerationConfig:
        raise ValidationError(
            {"detail": "Configurations are not edited in place: create a new one (a copy)."}
        )


class PromptViewSet(viewsets.ModelViewSet[Prompt]):
    queryset = Prompt.objects.all()
    serializer_class = PromptSerializer


class LoraAdapterViewSet(viewsets.ReadOnlyModelViewSet[LoraAdapter]):
    queryset = LoraAdapter.objects.all()
    serializer_class = LoraAdapterSerializer


class GenerationConfigViewSet(
    mixins.CreateModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet[GenerationConfig],
):
    queryset = GenerationConfig.objects.prefetch_related("adapter_links")
    serializer_class = GenerationConfigSerializer


class ImageSerializer(serializers.ModelSerializer[Image]):
    class Meta:
        model = Image
        fields = [
            "id", "config", "prompt", "seed", "status", "attempts", "error", "render_seconds",
            "worker_host", "versions", "params", "file", "display_file", "rendered_at",
        ]  # fmt: skip


class ImageViewSet(viewsets.ReadOnlyModelViewSet[Image]):
    queryset = Image.objects.all()
    serializer_class = ImageSerializer
