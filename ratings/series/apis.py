"""REST API for series studies: create one over a series, read its result (JSON or CSV)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Group
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from evalsite.api_errors import validated
from generation.models import CheckpointSeries, Prompt
from generation.validation import SEEDS_PER_PROMPT_MAX
from ratings.analysis_apis import (
    CRITERION_PARAM,
    CSVRenderer,
    _study_and_criterion,
    csv_responses,
)
from ratings.analysis_serializers import LeaderboardRowSerializer
from ratings.models import Study
from ratings.series.result import SeriesResult, series_csv_response, series_result
from ratings.series.services import series_study_create


class SeriesStudyCreateSerializer(serializers.Serializer[Any]):
    name = serializers.CharField(max_length=200)
    prompts = serializers.PrimaryKeyRelatedField(queryset=Prompt.objects.all(), many=True)
    seeds_per_prompt = serializers.IntegerField(
        min_value=1, max_value=SEEDS_PER_PROMPT_MAX, default=2
    )
    target_judgments = serializers.IntegerField(min_value=1, max_value=100, default=5)
    instructions = serializers.CharField(required=False, allow_blank=True, default="")
    rater_groups = serializers.SlugRelatedField(
        slug_field="name", queryset=Group.objects.all(), many=True, required=False
    )


class SeriesStudyCreatedSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    name = serializers.CharField()
    status = serializers.CharField()
    configs = serializers.ListField(child=serializers.IntegerField())


class SeriesStudyCreateApi(APIView):
    @extend_schema(
        operation_id="series_study_create",
        request=SeriesStudyCreateSerializer,
        responses={201: SeriesStudyCreatedSerializer},
        description="A draft pairwise study over every pair of the series' checkpoints "
        "(launch and open it with the study endpoints).",
    )
    def post(self, request: Request, series_id: int) -> Response:
        series = get_object_or_404(CheckpointSeries, pk=series_id)
        data = validated(SeriesStudyCreateSerializer, request.data)
        study = series_study_create(
            series=series,
            name=data.pop("name"),
            prompts=data.pop("prompts"),
            rater_groups=data.pop("rater_groups", []),
            created_by=request.user,
            **data,
        )
        payload = {
            "id": study.pk,
            "name": study.name,
            "status": study.status,
            "configs": sorted(study.configs.values_list("pk", flat=True)),
        }
        return Response(payload, status=status.HTTP_201_CREATED)


class SeriesPointSerializer(LeaderboardRowSerializer):
    """A checkpoint's leaderboard row with its training step and the loss at that step."""

    step = serializers.IntegerField()
    loss = serializers.FloatField(
        allow_null=True, help_text="The loss log's value at this step; null where it has none."
    )


class SeriesResultSerializer(serializers.Serializer[Any]):
    series = serializers.IntegerField(source="series.pk")
    criterion = serializers.CharField(allow_null=True)
    points = SeriesPointSerializer(many=True)
    loss = serializers.ListField(child=serializers.ListField(child=serializers.FloatField()))
    judgments = serializers.IntegerField()
    raters = serializers.IntegerField()
    estimand_note = serializers.CharField()
    best_step = serializers.SerializerMethodField()

    def get_best_step(self, result: SeriesResult) -> int | None:
        """The step whose 95 % rank interval is 1–1; null when none is ahead with confidence."""
        return result.best.step if result.best else None


def _result(request: Request, study_id: int) -> tuple[Study, SeriesResult]:
    study, criterion = _study_and_criterion(request, study_id)
    if study.series_id is None:
        raise NotFound("This study is not over a checkpoint series.")
    return study, series_result(study=study, criterion=criterion)


class SeriesResultApi(APIView):
    @extend_schema(
        operation_id="study_series_result",
        parameters=[CRITERION_PARAM],
        responses=SeriesResultSerializer,
        description="Each checkpoint's Bradley–Terry strength (the leaderboard's fit, with "
        "95 % intervals and rank intervals) by training step, and the series' loss log.",
    )
    def get(self, request: Request, study_id: int) -> Response:
        _, result = _result(request, study_id)
        return Response(SeriesResultSerializer(result).data)


class SeriesResultCsvApi(APIView):
    renderer_classes = [CSVRenderer]

    @extend_schema(
        operation_id="study_series_result_csv",
        parameters=[CRITERION_PARAM],
        responses=csv_responses(
            "One row per checkpoint: step, config_id, strength, ci_low, ci_high, rank, "
            "rank_low, rank_high, judgments, loss."
        ),
    )
    def get(self, request: Request, study_id: int) -> StreamingHttpResponse:
        study, result = _result(request, study_id)
        return series_csv_response(study, result)
