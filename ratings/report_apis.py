"""REST API for a study's decision report (researchers only): ratings.reports.decision as JSON."""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ratings.analysis_serializers import (
    ConfigRefSerializer,
    LeaderboardRowSerializer,
    RaterReportSerializer,
)
from ratings.models import Study
from ratings.reports.decision import study_decision


class BeatenSerializer(ConfigRefSerializer):
    p_leader_wins = serializers.FloatField(
        help_text="Model-implied probability that the leader beats this configuration."
    )
    strength_gap = serializers.FloatField(help_text="Leader's strength minus this one's.")
    odds_ratio = serializers.FloatField(help_text="exp(strength_gap).")
    wins = serializers.IntegerField(help_text="Direct votes the leader won against it.")
    losses = serializers.IntegerField()
    ties = serializers.IntegerField(help_text="Ties and both-bad votes.")


class GridRowSerializer(serializers.Serializer[Any]):
    prompt = serializers.CharField()
    seed = serializers.IntegerField()
    leader_url = serializers.CharField(help_text="Display image (webp/jpeg) of the leader.")
    runner_up_url = serializers.CharField()


class CriterionDecisionSerializer(serializers.Serializer[Any]):
    key = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]
    question = serializers.CharField()
    judgments = serializers.IntegerField()
    raters = serializers.IntegerField()
    clear = serializers.BooleanField(
        help_text="True when the leader's 95 % rank interval is first place alone."
    )
    recommended = LeaderboardRowSerializer(
        allow_null=True, help_text="The leader when clear, else null (no clear winner)."
    )
    leader = LeaderboardRowSerializer(allow_null=True)
    runner_up = LeaderboardRowSerializer(allow_null=True)
    summary = serializers.CharField()
    estimand_note = serializers.CharField()
    stopping_note = serializers.CharField(
        help_text="While the study's anytime-valid stopping rule has not decided, the sentence "
        "that says so; empty when it has decided or the study has no rule."
    )
    beaten = BeatenSerializer(many=True)
    grid = GridRowSerializer(many=True)


class RecipeSerializer(ConfigRefSerializer):
    params = serializers.DictField(help_text="The configuration's rendering parameters.")
    adapters = serializers.ListField(
        child=serializers.DictField(), help_text="adapter, sha256, scale"
    )
    fingerprint = serializers.CharField()
    versions = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text="Library → versions recorded by its rendered images.",
    )


class DecisionReportSerializer(serializers.Serializer[Any]):
    study_id = serializers.IntegerField()
    study_name = serializers.CharField()
    design = serializers.CharField()
    status = serializers.CharField()
    judgments = serializers.IntegerField()
    empty = serializers.BooleanField(help_text="No votes yet.")
    criteria = CriterionDecisionSerializer(many=True)
    raters = RaterReportSerializer()
    recipes = RecipeSerializer(many=True)
    method = serializers.ListField(child=serializers.CharField())


class DecisionApi(APIView):
    @extend_schema(
        operation_id="study_decision",
        responses=DecisionReportSerializer,
        description="The decision report: per criterion the recommended configuration (or none "
        "when no configuration is ahead with confidence), how sure, what it beat, the "
        "leader/runner-up image grid, raters, method and the recipes to reproduce.",
    )
    def get(self, request: Request, study_id: int) -> Response:
        study = get_object_or_404(Study, pk=study_id)
        return Response(DecisionReportSerializer(study_decision(study=study)).data)
