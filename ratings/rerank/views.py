"""Researcher pages for best-of-N studies: create, launch, watch rendering and scoring, open,
read the result, export."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseStopPolling

from evalsite.roles import is_researcher
from evalsite.web import HtmxHttpRequest, add_errors, markdown_html, researcher_required
from generation.services.rendering import RenderQueueUnavailable
from ratings import charts
from ratings.export import EXPORT_FORMATS
from ratings.forms import CriterionFormSet, criteria_initial
from ratings.models import Study
from ratings.reports.wording import percent
from ratings.rerank.export import rerank_export_response
from ratings.rerank.forms import RerankForm
from ratings.rerank.selectors import (
    rerank_pick_cards,
    rerank_progress,
    rerank_result,
)
from ratings.rerank.services import rerank_study_create
from ratings.services.studies import study_launch, study_launch_problems

POLL_SECONDS = 2


def _rerank_study(pk: int) -> Study:
    study = get_object_or_404(Study.objects.select_related("rerank"), pk=pk)
    if study.kind != Study.Kind.RERANK:
        raise Http404("Not a best-of-N study.")
    return study


@researcher_required
@require_http_methods(["GET", "POST"])
def rerank_new(request: HttpRequest) -> HttpResponse:
    form = RerankForm(request.POST or None)
    criteria: Any = CriterionFormSet(request.POST or None, initial=criteria_initial(None))
    if request.method == "POST" and form.is_valid() and criteria.is_valid():
        try:
            study = rerank_study_create(
                created_by=request.user,
                criteria=criteria.criteria(),
                available=form.available,
                **form.service_fields(),
            )
        except ValidationError as error:
            add_errors(form, error)
        else:
            messages.success(request, f"Created best-of-N study “{study.name}”. Launch it.")
            return redirect("rerank-detail", pk=study.pk)
    return render(
        request,
        "ratings/rerank/form.html",
        {"form": form, "criteria": criteria, "no_scorers": not form.available},
    )


def _detail_context(study: Study) -> dict[str, Any]:
    progress = rerank_progress(study=study)
    return {
        "study": study,
        "setup": study.rerank,
        "progress": progress,
        "poll": progress.working and study.status == Study.Status.RENDERING,
        "poll_seconds": POLL_SECONDS,
    }


@researcher_required
@vary_on_headers("HX-Request")
def rerank_detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    study = _rerank_study(pk)
    context = _detail_context(study)
    if request.htmx and not request.htmx.history_restore_request:
        response = render(request, "ratings/rerank/detail.html#progress", context)
        if not context["poll"]:
            return HttpResponseStopPolling(response.content)  # 286: the last swap, no more polls
        return response
    context.update(
        config=study.configs.first(),
        prompts=list(study.prompts.all()),
        criteria=list(study.criteria.all()),
        instructions=markdown_html(study.instructions),
        problems=study_launch_problems(study),
    )
    return render(request, "ratings/rerank/detail.html", context)


@researcher_required
@require_POST
def rerank_launch(request: HttpRequest, pk: int) -> HttpResponse:
    study = _rerank_study(pk)
    try:
        result = study_launch(study=study, actor=request.user)
    except ValidationError as error:
        for problem in error.messages:
            messages.error(request, problem)
    except RenderQueueUnavailable as error:
        messages.warning(request, f"Launched. {error}")
    else:
        messages.success(
            request,
            f"Launched: {result.images_created} candidates queued, {result.images_reused} reused.",
        )
    return redirect("rerank-detail", pk=study.pk)


@researcher_required
def rerank_result_page(request: HttpRequest, pk: int) -> HttpResponse:
    study = _rerank_study(pk)
    result = rerank_result(study=study)
    criteria = [
        {
            "row": row,
            "scorers": [
                {
                    "row": s,
                    "bar": charts.interval_bar(
                        s.win.win_rate,
                        s.win.ci_low,
                        s.win.ci_high,
                        label=f"{s.scorer}: {percent(s.win.win_rate)} "
                        f"({percent(s.win.ci_low)}–{percent(s.win.ci_high)})",
                    ),
                }
                for s in row.scorers
            ],
        }
        for row in result
    ]
    return render(
        request,
        "ratings/rerank/result.html",
        {
            "study": study,
            "result": result,
            "criteria": criteria,
            "built": study.rerank.pairs_built_at is not None,
            "cards": rerank_pick_cards(result=result),
        },
    )


def rerank_export(request: HttpRequest, pk: int, fmt: str) -> StreamingHttpResponse:
    if not is_researcher(request.user):  # researcher_required, for a streamed response
        raise PermissionDenied("Only researchers may export a study.")
    study = _rerank_study(pk)
    if fmt not in EXPORT_FORMATS:
        raise Http404("Export as csv or jsonl.")
    return rerank_export_response(study, fmt)
