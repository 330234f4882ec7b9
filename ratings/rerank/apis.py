"""REST API for best-of-N studies (researchers only): create, setup and progress, result,
export. Launch, open and close are the studies API's (/api/studies/<id>/launch/ …): for a
best-of-N study they launch its candidates and, on opening, build its pairs."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from django.contrib.auth.models import Group
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from evalsite.api_errors import validated
from generation.models import GenerationConfig, Prompt
from generation.validation import FREE_TEXT_MAX_CHARS
from ratings.analysis_apis import export_apis
from ratings.models import DEFAULT_CRITERIA, Study
from ratings.rerank.export import rerank_export_response
from ratings.rerank.selectors import (
    RerankProgress,
    rerank_progress,
    rerank_progress_many,
    rerank_result,
)
from ratings.rerank.services import rerank_study_create
from ratings.study_apis import CriterionSerializer


class RerankCreateSerializer(serializers.Serializer[Any]):
    name = serializers.CharField(max_length=200)
    instructions = serializers.CharField(
        max_length=FREE_TEXT_MAX_CHARS, required=False, allow_blank=True
    )
    config = serializers.PrimaryKeyRelatedField(queryset=GenerationConfig.objects.all())
    prompts = serializers.PrimaryKeyRelatedField(queryset=Prompt.objects.all(), many=True)
    candidates = serializers.IntegerField(help_text="N, candidates per prompt: 2 to 64.")
    base_seed = serializers.IntegerField(required=False, help_text="Seeds base_seed … +N−1.")
    scorers = serializers.ListField(
        child=serializers.CharField(max_length=40),
        help_text="ImageScore metric names: LOUPE_SCORERS entries or stored ones "
        "(e.g. checklist:<labeller>).",
    )
    tournament_size = serializers.IntegerField(
        required=False, default=0, help_text="0: no tournament; 3 to 8 candidates per prompt."
    )
    target_judgments = serializers.IntegerField(required=False, min_value=1, max_value=100)
    criteria = CriterionSerializer(many=True, required=False)
    rater_groups = serializers.SlugRelatedField(
        slug_field="name", queryset=Group.objects.all(), many=True, required=False
    )


class ScorerProgressSerializer(serializers.Serializer[Any]):
    scorer = serializers.CharField()
    scored = serializers.IntegerField()
    automatic = serializers.BooleanField(
        help_text="Computed by the render workers (LOUPE_SCORERS); else scored elsewhere."
    )


class RerankProgressSerializer(serializers.Serializer[Any]):
    total = serializers.IntegerField(help_text="Candidates: prompts × N.")
    rendered = serializers.IntegerField()
    failed = serializers.IntegerField()
    scorers = ScorerProgressSerializer(many=True)
    ready = serializers.BooleanField(help_text="Every candidate rendered and scored.")
    built = serializers.BooleanField(help_text="The pairs are built (the study was opened).")
    comparisons = serializers.IntegerField()


class RerankStudySerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    name = serializers.CharField()
    status = serializers.CharField()
    config = serializers.IntegerField()
    prompts = serializers.ListField(child=serializers.IntegerField())
    candidates = serializers.IntegerField()
    base_seed = serializers.IntegerField()
    scorers = serializers.ListField(child=serializers.CharField())
    tournament_size = serializers.IntegerField()
    progress = RerankProgressSerializer()


class RerankWinRateSerializer(serializers.Serializer[Any]):
    wins = serializers.FloatField(help_text="Votes for the scorer's pick.")
    losses = serializers.FloatField(help_text="Votes for the random candidate.")
    ties = serializers.FloatField()
    both_bad = serializers.FloatField()
    votes = serializers.FloatField()
    clusters = serializers.IntegerField(help_text="Pairs (prompts) with votes.")
    win_rate = serializers.FloatField(allow_null=True, help_text="Ties and both-bad count half.")
    ci_low = serializers.FloatField(
        help_text="95 % Wilson interval on the effective votes (design effect over prompts)."
    )
    ci_high = serializers.FloatField()
    effective_votes = serializers.FloatField()
    verdict = serializers.CharField(help_text="better, worse or unclear than a random candidate.")


class FavouriteShareSerializer(serializers.Serializer[Any]):
    prompts = serializers.IntegerField(help_text="Prompts whose tournament is complete.")
    hits = serializers.FloatField(help_text="Prompts where the pick is the favourite (shares).")
    rate = serializers.FloatField(allow_null=True)
    ci_low = serializers.FloatField()
    ci_high = serializers.FloatField()
    chance = serializers.FloatField(allow_null=True, help_text="A random tournament member's.")


class ScorerResultSerializer(serializers.Serializer[Any]):
    scorer = serializers.CharField()
    win = RerankWinRateSerializer()
    favourite = FavouriteShareSerializer()
    shared_picks = serializers.IntegerField()


class CriterionResultSerializer(serializers.Serializer[Any]):
    criterion = serializers.CharField(source="criterion.key")
    scorers = ScorerResultSerializer(many=True)
    tournaments = serializers.IntegerField()
    tournaments_complete = serializers.IntegerField()


class RerankResultSerializer(serializers.Serializer[Any]):
    candidates = serializers.IntegerField()
    prompts = serializers.IntegerField()
    tournament_size = serializers.IntegerField()
    criteria = CriterionResultSerializer(many=True)


def _rerank_study(pk: int) -> Study:
    return get_object_or_404(Study, pk=pk, kind=Study.Kind.RERANK)


def _payload(study: Study, progress: RerankProgress | None = None) -> dict[str, Any]:
    """A study and its progress (the list passes every study's, read together)."""
    progress = progress or rerank_progress(study=study)
    configs = [c.pk for c in study.configs.all()]
    return {
        "id": study.pk,
        "name": study.name,
        "status": study.status,
        "config": configs[0] if configs else None,
        "prompts": sorted(p.pk for p in study.prompts.all()),
        "candidates": study.seeds_per_prompt,
        "base_seed": study.base_seed,
        "scorers": study.rerank.scorers,
        "tournament_size": study.rerank.tournament_size,
        "progress": {**asdict(progress), "ready": progress.ready},
    }


class RerankStudiesApi(APIView):
    @extend_schema(operation_id="rerank_studies_list", responses=RerankStudySerializer(many=True))
    def get(self, request: Request) -> Response:
        studies = list(
            Study.objects.filter(kind=Study.Kind.RERANK)
            .select_related("rerank")
            .prefetch_related("configs", "prompts")
        )
        progress = rerank_progress_many(studies)
        return Response([_payload(s, progress[s.pk]) for s in studies])

    @extend_schema(
        operation_id="rerank_studies_create",
        request=RerankCreateSerializer,
        responses={201: RerankStudySerializer, 400: dict},
        description="A draft best-of-N study; launch it with /api/studies/<id>/launch/, open "
        "it (which builds the pairs once every candidate is rendered and scored) with "
        "/api/studies/<id>/open/.",
    )
    def post(self, request: Request) -> Response:
        data = validated(RerankCreateSerializer, request.data)
        rows = data.pop("criteria", None)
        criteria = [(r["key"], r["label"], r["question"]) for r in rows] if rows else None
        study = rerank_study_create(
            criteria=criteria or DEFAULT_CRITERIA, created_by=request.user, **data
        )
        return Response(_payload(study), status=status.HTTP_201_CREATED)


class RerankStudyApi(APIView):
    @extend_schema(operation_id="rerank_study", responses=RerankStudySerializer)
    def get(self, request: Request, pk: int) -> Response:
        return Response(_payload(_rerank_study(pk)))


class RerankResultApi(APIView):
    @extend_schema(
        operation_id="rerank_result",
        responses=RerankResultSerializer,
        description="Per criterion and scorer: how often reranking with the scorer wins "
        "against a random candidate, and how often its pick is the humans' favourite.",
    )
    def get(self, request: Request, pk: int) -> Response:
        result = rerank_result(study=_rerank_study(pk))
        return Response(RerankResultSerializer(result).data)


class _RerankExportApi(APIView):
    fmt = ""

    def get(self, request: Request, pk: int) -> StreamingHttpResponse:
        return rerank_export_response(_rerank_study(pk), self.fmt)


RerankCsvApi, RerankJsonlApi = export_apis(
    _RerankExportApi,
    operation="rerank_judgments",
    csv="CSV.",
    jsonl="JSON lines, one judgment and role a line.",
)
