"""REST API for prompts, adapters and configurations (researchers only)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import ProtectedError
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from evalsite.api_errors import validated
from generation.media import media_url
from generation.models import (
    PARAM_FIELDS,
    PROMPT_FIELDS,
    ConfigAdapter,
    GenerationConfig,
    Image,
    LoraAdapter,
    Prompt,
)
from generation.selectors import builder_preview
from generation.services.adapters import adapter_add, adapter_update
from generation.services.configs import (
    config_create,
    config_drafts_validate,
    config_factor_levels_expand,
    config_update,
    configs_create_from_drafts,
    default_base_model,
    param_default,
)
from generation.services.prompts import (
    prompt_check_editable,
    prompt_copy_fields,
    prompts_import_csv,
)
from generation.validation import (
    SEEDS_PER_PROMPT_MAX,
    cfg_validators,
    scale_validators,
    steps_validators,
    validate_compel_level,
    validate_negative_prompt,
    validate_sampler,
    validate_size,
)


class PromptSerializer(serializers.ModelSerializer[Prompt]):
    class Meta:
        model = Prompt
        fields = ["id", *PROMPT_FIELDS, "created_at"]

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if self.instance is not None:
            prompt_check_editable(prompt=self.instance, changes=attrs)
        return attrs


class LoraAdapterSerializer(serializers.ModelSerializer[LoraAdapter]):
    """Register by `upload` (multipart .safetensors) or by `weights` (a path on the server)."""

    weights = serializers.CharField(required=False, max_length=500)
    upload = serializers.FileField(write_only=True, required=False)

    class Meta:
        model = LoraAdapter
        fields = [
            "id", "name", "weights", "upload", "sha256", "trigger_token", "default_scale",
            "created_at",
        ]  # fmt: skip
        read_only_fields = ["sha256"]

    def create(self, validated_data: dict[str, Any]) -> LoraAdapter:
        return adapter_add(**validated_data)

    def update(self, instance: LoraAdapter, validated_data: dict[str, Any]) -> LoraAdapter:
        return adapter_update(adapter=instance, **validated_data)


class ConfigAdapterSerializer(serializers.ModelSerializer[ConfigAdapter]):
    adapter = serializers.PrimaryKeyRelatedField(queryset=LoraAdapter.objects.all())
    scale = serializers.FloatField(validators=scale_validators)

    class Meta:
        model = ConfigAdapter
        fields = ["adapter", "scale"]


class GenerationConfigSerializer(serializers.ModelSerializer[GenerationConfig]):
    adapters = ConfigAdapterSerializer(source="adapter_links", many=True, required=False)
    # Plain fields with the shared validators, so the API says exactly what forms say.
    sampler = serializers.CharField(validators=[validate_sampler], default=param_default("sampler"))
    compel_level = serializers.CharField(
        validators=[validate_compel_level], default=param_default("compel_level")
    )
    reused = serializers.SerializerMethodField()

    class Meta:
        model = GenerationConfig
        fields = ["id", "name", *PARAM_FIELDS, "adapters", "fingerprint", "reused", "created_at"]
        read_only_fields = ["fingerprint", "created_at"]

    def get_reused(self, obj: GenerationConfig) -> bool:
        return bool(getattr(obj, "_reused", False))

    def create(self, validated_data: dict[str, Any]) -> GenerationConfig:
        links = validated_data.pop("adapter_links", [])
        validated_data.setdefault("base_model", default_base_model())
        config, created = config_create(
            adapters=[(link["adapter"], link["scale"]) for link in links], **validated_data
        )
        config._reused = not created  # type: ignore[attr-defined]
        return config

    def update(
        self, instance: GenerationConfig, validated_data: dict[str, Any]
    ) -> GenerationConfig:
        """Edit in place while nothing has rendered; afterwards only the name may change."""
        links = validated_data.pop("adapter_links", None)
        adapters = (
            [(link.adapter, link.scale) for link in instance.adapter_links.all()]
            if links is None
            else [(link["adapter"], link["scale"]) for link in links]
        )
        name = validated_data.pop("name", instance.name)
        return config_update(config=instance, name=name, adapters=adapters, **validated_data)


class PromptImportSerializer(serializers.Serializer[Any]):
    file = serializers.FileField(required=False, help_text="CSV file (multipart).")
    csv = serializers.CharField(required=False, help_text="Or the CSV text itself.")


class PromptFilterSerializer(serializers.Serializer[Any]):
    """Exact-match filters of the prompt list (CharField refuses NUL, which PostgreSQL can't query)."""

    category = serializers.CharField(required=False, allow_blank=True)
    material = serializers.CharField(required=False, allow_blank=True)
    setting = serializers.CharField(required=False, allow_blank=True)
    stone = serializers.CharField(required=False, allow_blank=True)
    background = serializers.CharField(required=False, allow_blank=True)
    style = serializers.CharField(required=False, allow_blank=True)  # type: ignore[assignment]


@extend_schema_view(list=extend_schema(parameters=[PromptFilterSerializer]))
class PromptViewSet(viewsets.ModelViewSet[Prompt]):
    queryset = Prompt.objects.all()
    serializer_class = PromptSerializer

    def get_queryset(self) -> Any:
        filters = validated(PromptFilterSerializer, self.request.query_params)
        return Prompt.objects.filter(**{k: v for k, v in filters.items() if v})

    def perform_destroy(self, instance: Prompt) -> None:
        try:
            instance.delete()
        except ProtectedError as error:
            raise ValidationError({"detail": "This prompt has images: keep it."}) from error

    @extend_schema(request=None, responses={201: PromptSerializer})
    @action(detail=True, methods=["post"])
    def copy(self, request: Request, pk: str | None = None) -> Response:
        """A new prompt with this one's fields, to edit when this one has rendered."""
        copied = PromptSerializer(data=prompt_copy_fields(prompt=self.get_object()))
        copied.is_valid(raise_exception=True)
        copied.save()
        return Response(copied.data, status=201)

    @extend_schema(request=PromptImportSerializer, responses={201: PromptSerializer(many=True)})
    @action(
        detail=False,
        methods=["post"],
        url_path="import",
        parser_classes=[MultiPartParser, FormParser, JSONParser],
    )
    def import_csv(self, request: Request) -> Response:
        """All-or-nothing CSV import; 400 lists every bad row as "Line N: field: message"."""
        body = validated(PromptImportSerializer, request.data)
        upload = body.get("file")
        text = upload.read().decode("utf-8", errors="replace") if upload else None
        text = text if text is not None else body.get("csv", "")
        if not text:
            raise ValidationError({"file": "Send a CSV file (multipart) or its text as csv."})
        try:
            prompts = prompts_import_csv(text=text)
        except DjangoValidationError as error:
            raise ValidationError({"rows": error.messages}) from error
        return Response(PromptSerializer(prompts, many=True).data, status=status.HTTP_201_CREATED)


class LoraAdapterViewSet(
    mixins.CreateModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet[LoraAdapter],
):
    queryset = LoraAdapter.objects.all()
    serializer_class = LoraAdapterSerializer
    parser_classes = [JSONParser, MultiPartParser, FormParser]


class FactorLevelsSerializer(serializers.Serializer[Any]):
    """Levels per factor; the first level of each is the baseline for one_factor."""

    sampler = serializers.ListField(
        child=serializers.CharField(validators=[validate_sampler]), required=False
    )
    steps = serializers.ListField(
        child=serializers.IntegerField(validators=steps_validators), required=False
    )
    cfg = serializers.ListField(
        child=serializers.FloatField(validators=cfg_validators), required=False
    )
    compel_level = serializers.ListField(
        child=serializers.CharField(validators=[validate_compel_level]), required=False
    )
    negative_prompt = serializers.ListField(
        child=serializers.CharField(allow_blank=True, validators=[validate_negative_prompt]),
        required=False,
    )
    adapter_scale = serializers.ListField(
        child=serializers.FloatField(validators=scale_validators), required=False
    )
    vae = serializers.ListField(child=serializers.CharField(allow_blank=True), required=False)


class ConfigBuildSerializer(serializers.Serializer[Any]):
    mode = serializers.ChoiceField(choices=["factorial", "one_factor"], default="factorial")
    levels = FactorLevelsSerializer()
    adapter = serializers.PrimaryKeyRelatedField(
        queryset=LoraAdapter.objects.all(), required=False, allow_null=True
    )
    name_prefix = serializers.CharField(required=False, allow_blank=True, default="")
    base_model = serializers.CharField(required=False, default=default_base_model)
    width = serializers.IntegerField(validators=[validate_size], default=param_default("width"))
    height = serializers.IntegerField(validators=[validate_size], default=param_default("height"))
    insert_trigger = serializers.BooleanField(default=param_default("insert_trigger"))
    prompts = serializers.IntegerField(min_value=1, default=1, help_text="For the counts.")
    seeds = serializers.IntegerField(min_value=1, max_value=SEEDS_PER_PROMPT_MAX, default=2)
    dry_run = serializers.BooleanField(default=False, help_text="Preview only; create nothing.")


def _draft_json(draft: Any, existing: GenerationConfig | None) -> dict[str, Any]:
    return {
        "name": draft.name,
        "params": draft.params,
        "adapters": [{"adapter": a.pk, "scale": s} for a, s in draft.adapters],
        "levels": draft.levels,
        "fingerprint": draft.fingerprint,
        "existing_id": existing.pk if existing is not None else None,
    }


class GenerationConfigViewSet(viewsets.ModelViewSet[GenerationConfig]):
    queryset = GenerationConfig.objects.prefetch_related("adapter_links")
    serializer_class = GenerationConfigSerializer

    def perform_destroy(self, instance: GenerationConfig) -> None:
        try:
            instance.delete()
        except ProtectedError as error:
            raise ValidationError(
                {"detail": "This configuration has images or is a study baseline: keep it."}
            ) from error

    @extend_schema(request=ConfigBuildSerializer, responses={200: dict, 201: dict})
    @action(detail=False, methods=["post"])
    def build(self, request: Request) -> Response:
        """Many configurations from factor levels (full factorial or one factor at a time).

        With dry_run, returns the preview only: configs (with existing_id when reused), and
        the comparisons, images and estimated seconds each study design would need.
        """
        data = validated(ConfigBuildSerializer, request.data)
        base = {k: data[k] for k in ("base_model", "width", "height", "insert_trigger")}
        drafts = config_factor_levels_expand(
            base=base,
            levels=data["levels"],
            mode=data["mode"],
            adapter=data.get("adapter"),
            name_prefix=data["name_prefix"],
        )
        config_drafts_validate(drafts=drafts)
        preview = builder_preview(drafts=drafts, prompts=data["prompts"], seeds=data["seeds"])
        payload: dict[str, Any] = {
            "configs": [_draft_json(d, preview.existing.get(d.fingerprint)) for d in drafts],
            "designs": [
                {
                    "design": c.design,
                    "label": c.label,
                    "configs_used": c.configs_used,
                    "pairs_per_prompt_seed": c.pairs_per_cell,
                    "comparisons": c.comparisons,
                    "images": c.images,
                    "estimated_seconds": c.seconds,
                    "problem": c.problem,
                }
                for c in preview.counts
            ],
            "seconds_per_image": preview.estimate.seconds_per_image,
            "measured": preview.estimate.measured,
        }
        if data["dry_run"]:
            return Response(payload)
        results = configs_create_from_drafts(drafts=drafts)
        payload["configs"] = [
            {**GenerationConfigSerializer(c).data, "reused": not created} for c, created in results
        ]
        return Response(payload, status=status.HTTP_201_CREATED)


class MediaFileField(serializers.FileField):
    """A stored file's absolute address through the media view (generation.media), never the
    storage's own URL (on S3 a signed link that would work for anyone)."""

    def to_representation(self, value: Any) -> str | None:
        url = media_url(value)
        if not url:
            return None
        request = self.context.get("request")
        return request.build_absolute_uri(url) if request is not None else url


class ImageSerializer(serializers.ModelSerializer[Image]):
    file = MediaFileField(read_only=True)
    display_file = MediaFileField(read_only=True)

    class Meta:
        model = Image
        fields = [
            "id", "config", "prompt", "seed", "status", "attempts", "error", "render_seconds",
            "worker_host", "versions", "params", "file", "display_file", "rendered_at",
        ]  # fmt: skip
        read_only_fields = fields


class ImageViewSet(viewsets.ReadOnlyModelViewSet[Image]):
    queryset = Image.objects.all()
    serializer_class = ImageSerializer
