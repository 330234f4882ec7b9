"""The study dashboard (researchers): win rates, leaderboard, factor effects, raters, pairs.

Every route of the analysis area lives here, pages and API alike, with full paths.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from evalsite.web import HtmxHttpRequest, researcher_required
from ratings.models import Study
from ratings.reports.dashboard import study_dashboard
from ratings.services.raters import rater_exclude, rater_restore
from ratings.views import kind_redirect


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


def _dashboard(
    request: HttpRequest, study: Study, criterion_key: str | None = None
) -> dict[str, Any]:
    return study_dashboard(
        study=study,
        criterion_key=request.GET.get("criterion", "") if criterion_key is None else criterion_key,
        config_id=_int_or_none(request.GET.get("config")),
        outcome=request.GET.get("outcome", ""),
        page=request.GET.get("page"),
    )


@require_GET
@researcher_required
@vary_on_headers("HX-Request")
def study_analysis(request: HtmxHttpRequest, study_id: int) -> HttpResponse:
    study = get_object_or_404(Study, pk=study_id)
    if elsewhere := kind_redirect(study, "results"):
        return elsewhere
    key = request.GET.get("criterion", "")
    # Compared in Python: PostgreSQL refuses a NUL character in a query.
    if key and key not in study.criteria.values_list("key", flat=True):
        messages.error(request, f"Unknown criterion {key!r}: showing all.")
    context = _dashboard(request, study)
    template = "ratings/analysis/dashboard.html"
    if request.htmx and not request.htmx.history_restore_request:
        if request.htmx.target == "pairs":
            template += "#pairs"
        elif request.htmx.target == "dashboard":
            template += "#dashboard"
    return render(request, template, context)


@require_POST
@researcher_required
def study_rater_toggle(request: HtmxHttpRequest, study_id: int, rater_id: int) -> HttpResponse:
    study = get_object_or_404(Study, pk=study_id)
    user = get_object_or_404(get_user_model(), pk=rater_id)
    action = request.POST.get("action")
    try:
        if action == "exclude":
            rater_exclude(study=study, rater=user, actor=request.user)
            note = f"{user.get_username()} is left out of every figure; their votes are kept."
        elif action == "restore":
            rater_restore(study=study, rater=user, actor=request.user)
            note = f"{user.get_username()}'s votes count again."
        else:
            return HttpResponse("action must be 'exclude' or 'restore'.", status=400)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        note = ""
    if request.htmx:
        context = _dashboard(request, study, request.POST.get("criterion", "")) | {
            "rater_note": note
        }
        return render(request, "ratings/analysis/dashboard.html#dashboard", context)
    if note:
        messages.success(request, note)
    url = reverse("study-analysis", args=[study.pk])
    if request.POST.get("criterion"):
        url += "?" + urlencode({"criterion": request.POST["criterion"]})
    return redirect(url + "#raters")
