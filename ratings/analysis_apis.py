"""REST API for a study's analysis (researchers only): the numbers the dashboard shows."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from django.contrib.auth import get_user_model
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ratings import export, reports
from ratings.analysis_serializers import (
    FactorEffectsReportSerializer,
    LeaderboardReportSerializer,
    MetricAgreementReportSerializer,
    RaterActionSerializer,
    RaterReportSerializer,
    StoppingReportSerializer,
    WinRateReportSerializer,
)
from ratings.models import Criterion, Study
from ratings.reports.stopping import study_stopping
from ratings.services.raters import rater_exclude, rater_restore

CRITERION_PARAM = OpenApiParameter(
    "criterion",
    OpenApiTypes.STR,
    description="A criterion key of the study (e.g. prompt_adherence); omit for all criteria together.",
)


def _study_and_criterion(request: Request, study_id: int) -> tuple[Study, Criterion | None]:
    study = get_object_or_404(Study, pk=study_id)
    key = request.query_params.get("criterion", "")
    try:
        return study, reports.criterion_for(study=study, key=key)
    except Criterion.DoesNotExist:
        keys = ", ".join(study.criteria.values_list("key", flat=True))
        raise ValidationError(
            {"criterion": [f"Unknown criterion {key!r} for this study: use one of {keys}."]}
        ) from None


# --------------------------------------------------------------------------- views


def _report_api(
    name: str,
    report: Callable[..., Any],
    serializer: type[serializers.Serializer[Any]],
    description: str | None = None,
    *,
    per_criterion: bool = True,
) -> type[APIView]:
    """The GET endpoint of one report: the study (404), the criterion (400 when unknown; a
    report over all criteria checks it too), the report serialized."""

    class ReportApi(APIView):
        @extend_schema(
            operation_id=f"study_{name}",
            parameters=[CRITERION_PARAM],
            responses=serializer,
            description=description,
        )
        def get(self, request: Request, study_id: int) -> Response:
            study, criterion = _study_and_criterion(request, study_id)
            found = (
                report(study=study, criterion=criterion) if per_criterion else report(study=study)
            )
            return Response(serializer(found).data)

    ReportApi.__name__ = ReportApi.__qualname__ = (
        "".join(w.title() for w in name.split("_")) + "Api"
    )
    return ReportApi


WinRatesApi = _report_api("win_rates", reports.study_win_rates, WinRateReportSerializer)
LeaderboardApi = _report_api("leaderboard", reports.study_leaderboard, LeaderboardReportSerializer)
FactorEffectsApi = _report_api(
    "factor_effects", reports.study_factor_effects, FactorEffectsReportSerializer
)
RatersApi = _report_api(
    "raters",
    reports.study_raters,
    RaterReportSerializer,
    "Rater quality over all criteria (the criterion parameter is accepted and checked, for "
    "symmetry with the other endpoints); α is reported per criterion.",
    per_criterion=False,
)
MetricsApi = _report_api(
    "metrics",
    reports.study_metric_agreement,
    MetricAgreementReportSerializer,
    "How often each automatic metric (LOUPE_SCORERS) scores the human winner higher, "
    "tie-aware, beside the human ceiling from swapped-sides repeats.",
)
StoppingApi = _report_api(
    "stopping",
    study_stopping,
    StoppingReportSerializer,
    "The study's decision rule on its counted votes: decided (with the winner) or about how "
    "many more votes, anytime-valid (ratings.analysis.stopping).",
)


@extend_schema(request=None, responses=RaterActionSerializer)
class RaterExclusionApi(APIView):
    @extend_schema(
        operation_id="study_rater_exclude",
        description="Leave the rater out of every figure of the study. Idempotent.",
    )
    def post(self, request: Request, study_id: int, rater_id: int) -> Response:
        return _rater_action(rater_exclude, study_id, rater_id, request, excluded=True)

    @extend_schema(
        operation_id="study_rater_restore",
        description="Count the rater's judgments again. Idempotent.",
    )
    def delete(self, request: Request, study_id: int, rater_id: int) -> Response:
        return _rater_action(rater_restore, study_id, rater_id, request, excluded=False)


def _rater_action(
    service: Callable[..., bool], study_id: int, rater_id: int, request: Request, *, excluded: bool
) -> Response:
    """Leave a rater out (rater_exclude) or count them again (rater_restore): 404 for an unknown
    study or user; `changed` is False when they already were."""
    study = get_object_or_404(Study, pk=study_id)
    user = get_object_or_404(get_user_model(), pk=rater_id)
    changed = service(study=study, rater=user, actor=request.user)
    return Response({"excluded": excluded, "changed": changed})


class CSVRenderer(BaseRenderer):
    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(
        self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None
    ) -> bytes:
        # Only errors reach the renderer (exports stream past it): say them in one line.
        return str(data.get("detail", data) if isinstance(data, dict) else data).encode()


class JSONLinesRenderer(JSONRenderer):
    media_type = "application/x-ndjson"
    format = "jsonl"


def csv_responses(description: str) -> dict[tuple[int, str], OpenApiResponse]:
    """The OpenAPI responses of an export endpoint that sends a CSV file."""
    return {(200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description=description)}


def export_apis(
    base: type[APIView],
    *,
    operation: str,
    csv: str,
    jsonl: str,
    parameters: Sequence[OpenApiParameter] = (),
) -> tuple[type[APIView], type[APIView]]:
    """The CSV and the JSON-lines endpoint of one export: subclasses of `base` (whose get
    sends the export in `self.fmt`), documented as operations `<operation>_csv` and
    `<operation>_jsonl` with the descriptions `csv` and `jsonl`."""
    made = []
    for fmt, renderers, description in (
        ("csv", [CSVRenderer], csv),
        ("jsonl", [JSONLinesRenderer, JSONRenderer], jsonl),
    ):
        view = type(
            f"{base.__name__.lstrip('_')}{fmt.capitalize()}",
            (base,),
            {"fmt": fmt, "renderer_classes": renderers, "__module__": base.__module__},
        )
        schema = extend_schema(
            operation_id=f"{operation}_{fmt}",
            parameters=list(parameters),
            responses={
                (200, renderers[0].media_type): OpenApiResponse(
                    OpenApiTypes.STR, description=description
                )
            },
        )
        made.append(extend_schema_view(get=schema)(view))
    return made[0], made[1]


class _JudgmentsExportApi(APIView):
    fmt = ""

    def get(self, request: Request, study_id: int) -> StreamingHttpResponse:
        study, criterion = _study_and_criterion(request, study_id)
        records = export.judgment_records(study=study, criterion=criterion)
        lines = export.csv_lines(records) if self.fmt == "csv" else export.jsonl_lines(records)
        name = export.export_filename(study, criterion, self.fmt)
        return export.export_response(lines, fmt=self.fmt, filename=name)


JudgmentsCsvApi, JudgmentsJsonlApi = export_apis(
    _JudgmentsExportApi,
    operation="study_judgments",
    csv="Streamed CSV.",
    jsonl="Streamed JSON lines, one judgment a line.",
    parameters=[CRITERION_PARAM],
)
