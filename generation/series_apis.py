"""REST API for LoRA checkpoint series: register, list, read, the grid, render the grid
(researchers only; routes in evalsite/api_urls.py)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from evalsite.api_errors import validated
from generation.apis import ImageSerializer
from generation.models import Checkpoint, CheckpointSeries, GenerationConfig, Prompt
from generation.series_selectors import series_grid, series_list
from generation.services.series import series_grid_render, series_register
from generation.validation import scale_validators


class CheckpointSerializer(serializers.ModelSerializer[Checkpoint]):
    weights = serializers.CharField(source="adapter.weights", read_only=True)
    sha256 = serializers.CharField(source="adapter.sha256", read_only=True)

    class Meta:
        model = Checkpoint
        fields = ["step", "adapter", "config", "weights", "sha256"]
        read_only_fields = fields


class SeriesSerializer(serializers.ModelSerializer[CheckpointSeries]):
    """Register with `folder` (a server folder inside LOUPE_ADAPTER_ROOTS) and optionally
    `loss_csv` (the loss log's CSV text; blank: loss.csv in the folder, if there)."""

    base_config = serializers.PrimaryKeyRelatedField(queryset=GenerationConfig.objects.all())
    scale = serializers.FloatField(default=1.0, validators=scale_validators)
    loss_csv = serializers.CharField(
        write_only=True, required=False, allow_blank=True, default="", trim_whitespace=False
    )
    checkpoints = CheckpointSerializer(many=True, read_only=True)

    class Meta:
        model = CheckpointSeries
        fields = [
            "id", "name", "folder", "base_config", "scale", "trigger_token", "loss_csv",
            "loss_log", "checkpoints", "created_at",
        ]  # fmt: skip
        read_only_fields = ["loss_log", "created_at"]
        # The service checks the name (unique) with the folder, all or nothing.
        extra_kwargs: dict[str, dict[str, Any]] = {"name": {"validators": []}}

    def create(self, validated_data: dict[str, Any]) -> CheckpointSeries:
        return series_register(
            name=validated_data["name"],
            folder=validated_data["folder"],
            base_config=validated_data["base_config"],
            scale=validated_data["scale"],
            trigger_token=validated_data.get("trigger_token", ""),
            loss_csv=validated_data.get("loss_csv", ""),
        )


class SeriesGridCellSerializer(serializers.Serializer[Any]):
    step = serializers.IntegerField()
    image = ImageSerializer(allow_null=True)


class SeriesGridRowSerializer(serializers.Serializer[Any]):
    prompt = serializers.IntegerField()
    prompt_text = serializers.CharField()
    seed = serializers.IntegerField()
    cells = SeriesGridCellSerializer(many=True)


class SeriesGridSerializer(serializers.Serializer[Any]):
    steps = serializers.ListField(child=serializers.IntegerField())
    rows = SeriesGridRowSerializer(many=True)
    hidden_rows = serializers.IntegerField()
    done = serializers.IntegerField()
    failed = serializers.IntegerField()
    remaining = serializers.IntegerField()


class SeriesGridRenderSerializer(serializers.Serializer[Any]):
    prompts = serializers.PrimaryKeyRelatedField(queryset=Prompt.objects.all(), many=True)
    # How many and which seeds: series_grid_render's rule, the same as the page's.
    seeds = serializers.ListField(child=serializers.IntegerField())


class SeriesGridRenderedSerializer(serializers.Serializer[Any]):
    created = serializers.IntegerField()
    reused = serializers.IntegerField()


class SeriesViewSet(
    mixins.CreateModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet[CheckpointSeries],
):
    serializer_class = SeriesSerializer

    def get_queryset(self) -> Any:
        return series_list().prefetch_related("checkpoints__adapter")

    @extend_schema(responses=SeriesGridSerializer)
    @action(detail=True, methods=["get"])
    def grid(self, request: Request, pk: str | None = None, **kwargs: Any) -> Response:
        """The evolution grid: one row per prompt × seed, one cell per checkpoint (step
        order), each with its image (null where none was asked for) and render status."""
        grid = series_grid(series=self.get_object())
        steps = [c.step for c in grid.checkpoints]
        payload = {
            "steps": steps,
            "rows": [
                {
                    "prompt": row.prompt.pk,
                    "prompt_text": row.prompt.text,
                    "seed": row.seed,
                    "cells": [
                        {"step": step, "image": image}
                        for step, image in zip(steps, row.cells, strict=True)
                    ],
                }
                for row in grid.rows
            ],
            "hidden_rows": grid.hidden_rows,
            "done": grid.progress.done,
            "failed": grid.progress.failed,
            "remaining": grid.progress.remaining,
        }
        return Response(SeriesGridSerializer(payload, context={"request": request}).data)

    @extend_schema(
        request=SeriesGridRenderSerializer, responses={201: SeriesGridRenderedSerializer}
    )
    @action(detail=True, methods=["post"], url_path="render", url_name="render")
    def render_grid(self, request: Request, pk: str | None = None, **kwargs: Any) -> Response:
        """Create the grid's images (every checkpoint × prompt × seed; existing ones reused)
        and queue them for rendering."""
        series = self.get_object()
        body = validated(SeriesGridRenderSerializer, request.data)
        created, reused = series_grid_render(
            series=series, prompts=body["prompts"], seeds=body["seeds"]
        )
        return Response({"created": created, "reused": reused}, status=status.HTTP_201_CREATED)
