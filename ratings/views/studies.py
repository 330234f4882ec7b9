"""Researcher pages for studies: build, launch, watch rendering, open and close."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.views.decorators.http import require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseStopPolling

from evalsite.web import (
    HtmxHttpRequest,
    add_errors,
    human_seconds,
    markdown_html,
    researcher_required,
)
from generation.models import Image
from generation.selectors import (
    WORKERS_PANEL_MINUTES,
    design_counts,
    render_estimate,
    workers_recent,
)
from generation.services.rendering import RenderQueueUnavailable
from ratings.forms import CriterionFormSet, StudyForm, criteria_initial
from ratings.models import AuditEvent, Study
from ratings.selectors import study_images, study_render_progress
from ratings.services.gold import comparison_gold_set, study_gold_missing
from ratings.services.studies import (
    study_close,
    study_create,
    study_launch,
    study_launch_problems,
    study_open,
    study_prefetch_setup,
    study_retry_failed,
    study_update,
)
from ratings.views import kind_redirect

POLL_SECONDS = 2
HISTORY_ROWS = 50


def audit_note(event: AuditEvent) -> str:
    """One line of detail for the study's History."""
    detail = event.detail
    if event.action == AuditEvent.Action.STUDY_LAUNCHED:
        return (
            f"{detail.get('images_created', 0)} new images, {detail.get('images_reused', 0)} "
            f"reused, {detail.get('comparisons_created', 0)} new comparisons"
        )
    if event.action in (AuditEvent.Action.RATER_EXCLUDED, AuditEvent.Action.RATER_RESTORED):
        return str(detail.get("rater", ""))
    if "previous_status" in detail:
        return f"was {detail['previous_status']}"
    return ""


@researcher_required
def study_list(request: HttpRequest) -> HttpResponse:
    return redirect("home")


def _save_study(
    request: HttpRequest, form: StudyForm, criteria: Any, study: Study | None
) -> Study | None:
    if not (form.is_valid() and criteria.is_valid()):
        return None
    data = form.cleaned_data
    chosen: dict[str, Any] = {
        "prompts": list(data["prompts"]),
        "configs": list(data["configs"]),
        "criteria": criteria.criteria(),
        "raters": list(data["raters"]),
        "rater_groups": list(data["rater_groups"]),
        **form.service_fields(),
    }
    try:
        if study is None:
            study = study_create(created_by=request.user, **chosen)
        else:
            study_update(study=study, **chosen)
    except ValidationError as error:
        if hasattr(error, "error_dict") and "criteria" in error.error_dict:
            criteria._non_form_errors = criteria.error_class(error.error_dict.pop("criteria")[0])
        add_errors(form, error)
        return None
    return study


@researcher_required
@require_http_methods(["GET", "POST"])
def study_new(request: HttpRequest) -> HttpResponse:
    form = StudyForm(request.POST or None)
    criteria = CriterionFormSet(request.POST or None, initial=criteria_initial(None))
    if request.method == "POST":
        study = _save_study(request, form, criteria, None)
        if study is not None:
            messages.success(request, f"Created study “{study.name}”. Check it, then launch it.")
            return redirect("study-detail", pk=study.pk)
    return render(
        request, "ratings/studies/form.html", {"form": form, "criteria": criteria, "study": None}
    )


@researcher_required
@require_http_methods(["GET", "POST"])
def study_edit(request: HttpRequest, pk: int) -> HttpResponse:
    study = get_object_or_404(Study, pk=pk)
    if elsewhere := kind_redirect(study, "edit"):
        return elsewhere
    form = StudyForm(request.POST or None, instance=Study.objects.get(pk=pk))
    criteria = CriterionFormSet(request.POST or None, initial=criteria_initial(study))
    if request.method == "POST":
        saved = _save_study(request, form, criteria, study)
        if saved is not None:
            messages.success(request, "Saved the study.")
            return redirect("study-detail", pk=study.pk)
    return render(
        request, "ratings/studies/form.html", {"form": form, "criteria": criteria, "study": study}
    )


@researcher_required
def study_detail(request: HttpRequest, pk: int) -> HttpResponse:
    study = get_object_or_404(Study.objects.select_related("baseline"), pk=pk)
    if elsewhere := kind_redirect(study, "detail"):
        return elsewhere
    study_prefetch_setup(study)
    configs = list(study.configs.all())
    prompts = list(study.prompts.all())
    params = {c.pk: c.design_params() for c in configs}
    estimate = render_estimate(params=params)
    counts = design_counts(
        params=params,
        prompts=len(prompts),
        seeds=study.seeds_per_prompt,
        baseline_id=study.baseline_id,
        estimate=estimate,
    )
    context = {
        "study": study,
        "configs": configs,
        "prompts": prompts,
        "criteria": study.criteria.all(),
        "raters": study.raters.all(),
        "rater_groups": study.rater_groups.all(),
        "instructions": markdown_html(study.instructions),
        "problems": study_launch_problems(study),
        "gold_missing": _gold_missing_text(study)
        if study.status != Study.Status.DRAFT and study_gold_missing(study=study)
        else "",
        "counts": [
            {"row": c, "duration": human_seconds(c.seconds), "chosen": c.design == study.design}
            for c in counts
        ],
        "estimate": estimate,
        "progress": study_render_progress(study_id=study.pk),
        "comparisons": study.comparisons.count(),
        "history": [
            {"event": event, "note": audit_note(event)}
            for event in study.audit_events.select_related("actor")[:HISTORY_ROWS]
        ],
    }
    return render(request, "ratings/studies/detail.html", context)


@researcher_required
@require_POST
def study_launch_view(request: HttpRequest, pk: int) -> HttpResponse:
    study = get_object_or_404(Study, pk=pk)
    try:
        result = study_launch(study=study, actor=request.user)
    except ValidationError as error:
        for problem in error.messages:
            messages.error(request, problem)
        return redirect("study-detail", pk=study.pk)
    except RenderQueueUnavailable as error:
        # Launched and committed; only the hand-off to the workers waits for the broker.
        messages.warning(request, f"Launched. {error}")
        return redirect("study-progress", pk=study.pk)
    messages.success(
        request,
        f"Launched: {result.images_created} new images queued, {result.images_reused} reused, "
        f"{result.comparisons_created} new comparisons.",
    )
    if study_gold_missing(study=study):
        messages.warning(request, _gold_missing_text(study))
    return redirect("study-progress", pk=study.pk)


def _gold_missing_text(study: Study) -> str:
    return (
        f"The gold rate is {study.gold_rate:.0%} but no pair is gold (none has an obvious "
        "answer), so raters get no attention checks: mark gold pairs in the pair browser of "
        "the analysis page (outcome “All pairs”)."
    )


@researcher_required
@require_POST
def study_gold(request: HttpRequest, pk: int) -> HttpResponse:
    study = get_object_or_404(Study, pk=pk)
    raw = request.POST.get("comparison", "")
    try:
        comparison = comparison_gold_set(
            study=study,
            comparison_id=int(raw) if raw.isdecimal() else 0,
            winner=request.POST.get("winner", ""),
        )
    except ValidationError as error:
        for problem in error.messages:
            messages.error(request, problem)
    else:
        messages.success(
            request,
            f"Pair {comparison.pk} is " + ("gold." if comparison.is_gold else "no longer gold."),
        )
    # Back to the same page of the pair browser: its filters travel as hidden fields.
    keep = {
        k: request.POST[k] for k in ("criterion", "config", "outcome", "page") if k in request.POST
    }
    return redirect(f"{reverse('study-analysis', args=[study.pk])}?{urlencode(keep)}#pairs")


def _progress_context(study: Study) -> dict[str, Any]:
    progress = study_render_progress(study_id=study.pk)
    failed = (
        study_images(study_id=study.pk)
        .filter(status=Image.Status.FAILED)
        .select_related("config", "prompt")
        .order_by("pk")
    )
    return {
        "study": study,
        "progress": progress,
        "eta": human_seconds(progress.eta_seconds),
        "failed": failed,
        "poll": progress.remaining > 0,
        "poll_seconds": POLL_SECONDS,
        "comparisons": study.comparisons.count(),
        "workers": workers_recent(),
        "workers_minutes": WORKERS_PANEL_MINUTES,
        "now": timezone.now(),
    }


@researcher_required
@vary_on_headers("HX-Request")
def study_progress(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    study = get_object_or_404(Study, pk=pk)
    context = _progress_context(study)
    if request.htmx and not request.htmx.history_restore_request:
        response = render(request, "ratings/studies/progress.html#progress", context)
        if not context["poll"]:
            # 286: htmx swaps this last fragment in and stops polling.
            return HttpResponseStopPolling(response.content)
        return response
    return render(request, "ratings/studies/progress.html", context)


@researcher_required
@require_POST
def study_retry(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    study = get_object_or_404(Study, pk=pk)
    wanted = request.POST.getlist("image")
    try:
        count = study_retry_failed(
            study=study, image_ids=[int(i) for i in wanted if i.isdecimal()] if wanted else None
        )
    except RenderQueueUnavailable as error:
        messages.warning(request, str(error))
        return redirect("study-progress", pk=study.pk)
    if request.htmx:
        return render(request, "ratings/studies/progress.html#progress", _progress_context(study))
    messages.success(request, f"Queued {count} failed image{'s' if count != 1 else ''} again.")
    return redirect("study-progress", pk=study.pk)


@researcher_required
@require_POST
def study_set_open(request: HttpRequest, pk: int) -> HttpResponse:
    study = get_object_or_404(Study, pk=pk)
    opening = request.POST.get("open", "1") == "1"
    try:
        if opening:
            study_open(study=study, actor=request.user)
            messages.success(request, f"“{study.name}” is open: its raters can judge it now.")
        else:
            study_close(study=study, actor=request.user)
            messages.success(request, f"“{study.name}” is closed to raters.")
    except ValidationError as error:
        for problem in error.messages:
            messages.error(request, problem)
    back = "study-detail" if request.POST.get("next") == "detail" else "study-progress"
    return redirect(back, pk=study.pk)
