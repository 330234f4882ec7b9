"""Checklist pages: create (researchers), rate one image at a time (raters, htmx card),
results and the labeller run (researchers), and the answers as CSV / JSON lines."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.middleware.csrf import get_token
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from evalsite.web import HtmxHttpRequest, add_errors, markdown_html, researcher_required
from generation.services.labelling import configured_labellers, labeller_problem
from ratings.checklists import exports
from ratings.checklists.forms import ChecklistStudyForm
from ratings.checklists.results import checklist_results
from ratings.checklists.services import (
    ANSWERS_ALREADY_RECORDED,
    checklist_answers_record,
    checklist_deal,
    checklist_label_enqueue,
    checklist_study,
    checklist_study_create,
    checklist_study_update,
    rater_checklist,
)
from ratings.models import Study
from ratings.services.judging import NotYours
from ratings.throttle import VoteRateExceeded, vote_rate_check
from ratings.views.rate import Unavailable, friendly_unavailable, highlight_terms

PAGE = "ratings/checklist/rate.html"


def unavailable(view: Any) -> Any:
    """ratings.views.rate.friendly_unavailable, sending htmx back to the checklist page."""
    return friendly_unavailable(view, page="checklist-rate")


CARD = "ratings/checklist/rate.html#checklist-card"


@researcher_required
@require_http_methods(["GET", "POST"])
def checklist_new(request: HttpRequest) -> HttpResponse:
    form = ChecklistStudyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            study = checklist_study_create(created_by=request.user, **form.service_fields())
        except ValidationError as error:
            add_errors(form, error)
        else:
            messages.success(request, f"Created checklist study “{study.name}”. Launch it.")
            return redirect("study-detail", pk=study.pk)
    return render(request, "ratings/checklist/form.html", {"form": form})


@researcher_required
@require_http_methods(["GET", "POST"])
def checklist_edit(request: HttpRequest, study_id: int) -> HttpResponse:
    study = checklist_study(study_id)
    form = ChecklistStudyForm(request.POST or None, instance=Study.objects.get(pk=study.pk))
    if request.method == "POST" and form.is_valid():
        try:
            checklist_study_update(study=study, **form.service_fields())
        except ValidationError as error:
            add_errors(form, error)
        else:
            messages.success(request, "Saved the checklist study.")
            return redirect("study-detail", pk=study.pk)
    return render(request, "ratings/checklist/form.html", {"form": form, "study": study})


def _study(request: HttpRequest, study_id: int) -> Study:
    study = rater_checklist(user=request.user, study_id=study_id)
    if study is None:
        raise Unavailable(lost_answer=request.method == "POST")
    return study


def _card(
    request: HtmxHttpRequest,
    study: Study,
    *,
    notice: str = "",
    errors: list[str] | None = None,
    status: int = 200,
) -> HttpResponse:
    assert isinstance(request.user, User)
    with transaction.atomic(savepoint=False):
        deck = checklist_deal(rater=request.user, study=study)
    context: dict[str, Any] = {
        "study": study,
        "deck": deck,
        "shown": deck.current,
        "state": deck.state,  # the card, or which screen stands in its place
        "notice": notice,
        "errors": errors or [],
        "urls": {
            "home": reverse("rate-home"),
            "page": reverse("checklist-rate", args=[study.pk]),
            "answer": reverse("checklist-answer", args=[study.pk]),
        },
    }
    if deck.current is not None:
        context["prompt"] = highlight_terms(deck.current.prompt, deck.current.key_terms)
    if deck.upcoming is not None:
        context["prefetch"] = deck.upcoming.url
    if request.htmx and not request.htmx.history_restore_request:
        context["csrf_token"] = get_token(request)
        return HttpResponse(render_to_string(CARD, context), status=status)
    context["instructions"] = markdown_html(study.instructions)
    return render(request, PAGE, context, status=status)


@require_GET
@vary_on_headers("HX-Request")
@unavailable
def checklist_rate(request: HtmxHttpRequest, study_id: int) -> HttpResponse:
    return _card(request, _study(request, study_id))


@require_POST
@unavailable
def checklist_answer(request: HtmxHttpRequest, study_id: int) -> HttpResponse:
    study = _study(request, study_id)
    assert isinstance(request.user, User)  # rater_study admits signed-in users only
    try:
        vote_rate_check(rater_id=request.user.pk)
    except VoteRateExceeded as error:
        # The same image comes back with the message; nothing was recorded.
        response = _card(request, study, errors=[str(error)], status=429)
        response["Retry-After"] = str(error.retry_after)
        return response
    raw = request.POST.get("showing", "")
    if not raw.isdecimal():
        raise Unavailable(lost_answer=True)
    answers = {
        key[2:]: str(value) for key, value in request.POST.items() if key.startswith("a:") and value
    }
    try:
        # The answers and the next deal commit together: one transaction per answer.
        with transaction.atomic():
            recorded = checklist_answers_record(
                rater=request.user, study=study, showing_id=int(raw), answers=answers
            )
            notice = ANSWERS_ALREADY_RECORDED if recorded.already_recorded else "Answers recorded."
            if request.htmx:
                return _card(request, study, notice=notice)
        errors: list[str] = []
    except NotYours:
        raise Unavailable(lost_answer=True) from None
    except ValidationError as refused:
        errors = refused.messages
        if request.htmx:
            return _card(request, study, errors=errors)
    for message in errors:
        messages.error(request, message)
    return HttpResponseRedirect(reverse("checklist-rate", args=[study.pk]))


@researcher_required
@require_GET
def checklist_results_page(request: HttpRequest, study_id: int) -> HttpResponse:
    study = checklist_study(study_id)
    results = checklist_results(study=study)
    return render(
        request,
        "ratings/checklist/results.html",
        {
            "study": study,
            "results": results,
            "table": results_table(results),
            "agreement": agreement_table(results),
            "labellers": configured_labellers(),
        },
    )


def results_table(results: Any) -> list[dict[str, Any]]:
    """Rows of the adherence table: one per configuration, a cell per item, then overall."""
    rows = []
    for config, label in results.configs.items():
        cells = [results.cells.get((config, item.key)) for item in results.items]
        rows.append(
            {"config": config, "label": label, "cells": cells, "all": results.overall(config)}
        )
    return rows


def agreement_table(results: Any) -> list[dict[str, Any]]:
    """Rows of the agreement table: per item, α, the human ceiling, each labeller."""
    return [
        {
            "item": item,
            "alpha": results.alpha.get(item.key),
            "ceiling": results.ceiling.get(item.key),
            "labellers": [results.labellers[name].get(item.key) for name in results.labellers],
        }
        for item in results.items
    ]


@researcher_required
@require_POST
def checklist_label_run(request: HttpRequest, study_id: int) -> HttpResponse:
    study = checklist_study(study_id)
    labeller = request.POST.get("labeller", "")
    problem = labeller_problem(labeller)
    if problem:
        messages.error(request, problem)
    else:
        checklist_label_enqueue(study=study, labeller=labeller)
        messages.success(request, f"Labeller “{labeller}” is answering the checklist on a worker.")
    return redirect("checklist-results", study_id=study.pk)


@researcher_required
@require_GET
def checklist_export(request: HttpRequest, study_id: int, fmt: str) -> HttpResponse:
    response: Any = exports.answers_response(checklist_study(study_id), fmt)
    return response  # a streamed download
