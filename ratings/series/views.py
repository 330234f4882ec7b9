"""Researcher pages of series studies: start one, and read its result (strength against
training step beside the loss curve), also as CSV."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from evalsite.web import add_errors, researcher_required
from generation.models import CheckpointSeries
from generation.series_selectors import series_checkpoints
from ratings import reports
from ratings.models import Criterion, Study
from ratings.series.chart import series_chart
from ratings.series.forms import SeriesStudyForm
from ratings.series.result import series_csv_response, series_result
from ratings.series.services import series_study_create


@researcher_required
@require_http_methods(["GET", "POST"])
def series_study_new(request: HttpRequest, series_id: int) -> HttpResponse:
    series = get_object_or_404(CheckpointSeries, pk=series_id)
    initial = {"name": f"{series.name}: which checkpoint?"}
    form = SeriesStudyForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            study = series_study_create(
                series=series,
                name=data["name"],
                prompts=list(data["prompts"]),
                seeds_per_prompt=data["seeds_per_prompt"],
                target_judgments=data["target_judgments"],
                instructions=data["instructions"],
                rater_groups=list(data["rater_groups"]),
                created_by=request.user,
            )
        except ValidationError as error:
            add_errors(form, error)
        else:
            messages.success(
                request,
                f"Created {study.name}: every pair of the {study.configs.count()} checkpoints. "
                "Launch it to render its images.",
            )
            return redirect("study-detail", pk=study.pk)
    context = {
        "series": series,
        "form": form,
        "checkpoints": series_checkpoints(series=series),
        "studies": series.studies.all(),
    }
    return render(request, "ratings/series/new.html", context)


def _series_study(study_id: int) -> Study:
    study = get_object_or_404(Study.objects.select_related("series"), pk=study_id)
    if study.series is None:
        raise Http404("This study is not over a checkpoint series.")
    return study


def _criterion(request: HttpRequest, study: Study) -> Criterion | None:
    try:
        return reports.criterion_for(study=study, key=request.GET.get("criterion", ""))
    except Criterion.DoesNotExist:
        raise Http404("No such criterion in this study.") from None


@researcher_required
def series_result_page(request: HttpRequest, study_id: int) -> HttpResponse:
    study = _series_study(study_id)
    criterion = _criterion(request, study)
    result = series_result(study=study, criterion=criterion)
    label = criterion.label if criterion else "all criteria together"
    context: dict[str, Any] = {
        "study": study,
        "series": study.series,
        "criterion": criterion,
        "criteria": study.criteria.all(),
        "result": result,
        "chart": series_chart(
            result.points,
            result.loss,
            title=f"{study.name}: strength by training step ({label}) and training loss",
        ),
    }
    return render(request, "ratings/series/result.html", context)


# evalsite.web's View type admits HttpResponse views only; the wrapper passes any response on.
@researcher_required
def series_result_download(request: HttpRequest, study_id: int) -> StreamingHttpResponse:
    study = _series_study(study_id)
    criterion = _criterion(request, study)
    return series_csv_response(study, series_result(study=study, criterion=criterion))
