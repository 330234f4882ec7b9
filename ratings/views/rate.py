"""Rater pages: the list of open studies, onboarding, and the pair card (htmx).

Blind by construction: templates get display URLs and presentation ids, never images,
configurations or comparisons by id.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.middleware.csrf import get_token
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from evalsite.web import HtmxHttpRequest, markdown_html
from ratings.models import Presentation, Study
from ratings.progress import rater_summary, raters_progress
from ratings.rater_sql import criteria_of, rater_study
from ratings.selectors import studies_for_rater
from ratings.services.judging import (
    ALREADY_RECORDED,
    DEFECT_TAGS,
    UNDO_SECONDS,
    NotYours,
    judgments_record,
    presentation_skip,
    presentation_undo,
    rater_next,
)
from ratings.throttle import VoteRateExceeded, vote_rate_check
from ratings.views import kind_redirect

PAGE = "ratings/rate/page.html"
RATE_STUDY_URLS = ("study", "guide", "vote", "skip", "undo")
CARD = "ratings/rate/page.html#pair-card"
# The toast offers undo for a little less than the server allows.
UNDO_SHOWN_SECONDS = min(8, UNDO_SECONDS)


def highlight_terms(text: str, terms: Sequence[str]) -> list[tuple[str, bool]]:
    """Split a prompt into (segment, is_key_term) pieces, longest terms first, case-insensitive."""
    wanted = sorted({t.strip() for t in terms if t.strip()}, key=len, reverse=True)
    if not wanted:
        return [(text, False)] if text else []
    pattern = re.compile("|".join(re.escape(t) for t in wanted), re.IGNORECASE)
    pieces: list[tuple[str, bool]] = []
    at = 0
    for match in pattern.finditer(text):
        if match.start() > at:
            pieces.append((text[at : match.start()], False))
        pieces.append((match.group(0), True))
        at = match.end()
    if at < len(text):
        pieces.append((text[at:], False))
    return pieces


def _rater(request: HttpRequest) -> User:
    # LoginRequiredMiddleware has turned anonymous visitors away before any view here runs.
    assert isinstance(request.user, User)
    return request.user


class Unavailable(Exception):
    """The study, or the pair, is not there for this rater: a page says so (never a bare 404).

    `lost_answer`: the request carried an answer that was not recorded, and the page says that.
    """

    def __init__(self, *, lost_answer: bool = False) -> None:
        super().__init__()
        self.lost_answer = lost_answer


View = Callable[..., HttpResponse]


def friendly_unavailable(view: View, *, page: str = "rate-study") -> View:
    """Answer Unavailable with a rendered page (404), whatever DEBUG says.

    An htmx request is sent to that page with HX-Redirect (to the study's `page` route): htmx
    swaps nothing on a 404, and the rater must see why the card went away.
    """

    @wraps(view)
    def wrapped(request: HtmxHttpRequest, study_id: int, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, study_id, **kwargs)
        except Unavailable as missing:
            lost = missing.lost_answer or "unsaved" in request.GET
            response = render(
                request, "ratings/rate/unavailable.html", {"lost_answer": lost}, status=404
            )
            if request.htmx:
                target = reverse(page, args=[study_id])
                response["HX-Redirect"] = target + ("?unsaved=1" if lost else "")
            return response

    return wrapped


def _study(request: HttpRequest, study_id: int) -> Study:
    # One query: the access check and the criteria (cached on the study for this request).
    # A closed study comes back too: its page says it has closed, and a vote on a pair issued
    # before the close is still recorded.
    study = rater_study(user=request.user, study_id=study_id, closed_too=True)
    if study is None:
        raise Unavailable(lost_answer=request.method == "POST")
    return study


def _guide_context(study: Study) -> dict[str, Any]:
    return {
        "instructions": markdown_html(study.instructions),
        "references": list(study.reference_images.all()),
        "tags": list(DEFECT_TAGS.items()),
    }


def _card_context(
    request: HttpRequest,
    study: Study,
    *,
    notice: str = "",
    undo: Presentation | None = None,
    errors: Sequence[str] = (),
) -> dict[str, Any]:
    rater = _rater(request)
    # A closed study deals nothing new: the card says so and shows the rater's record.
    deck = rater_next(rater=rater, study=study)
    progress = deck.progress
    context: dict[str, Any] = {
        "study": study,
        # Reversed once here: the card links to each of them, some twice.
        "urls": {
            "home": reverse("rate-home"),
            **{k: reverse(f"rate-{k}", args=[study.pk]) for k in RATE_STUDY_URLS},
        },
        "progress": progress,
        "criteria": criteria_of(study),
        "tags": list(DEFECT_TAGS.items()),
        "notice": notice,
        "undo_id": undo.pk if undo is not None else None,
        "undo_seconds": UNDO_SHOWN_SECONDS,
        "errors": list(errors),
        "shown": None,
        "summary": None,
        "state": deck.state,  # the card, or which screen stands in its place
    }
    if deck.current is None:
        context["summary"] = rater_summary(study=study, rater=rater)
        return context
    card = deck.current
    context.update(
        shown=card,
        prompt=highlight_terms(card.prompt, card.key_terms),
        left_url=card.left_url,
        right_url=card.right_url,
    )
    if deck.upcoming is not None:
        context["prefetch"] = [deck.upcoming.left_url, deck.upcoming.right_url]
    return context


def _card(
    request: HtmxHttpRequest, study: Study, *, status: int = 200, **extra: Any
) -> HttpResponse:
    with transaction.atomic(savepoint=False):
        # One commit for the deal (new presentations, shown_at) instead of one per write.
        context = _card_context(request, study, **extra)
    if request.htmx and not request.htmx.history_restore_request:
        # The fragment needs nothing from the context processors but the CSRF token.
        context["csrf_token"] = get_token(request)
        return HttpResponse(render_to_string(CARD, context), status=status)
    return render(request, PAGE, {**context, **_guide_context(study)}, status=status)


@require_GET
def rate_home(request: HttpRequest) -> HttpResponse:
    rows = raters_progress(
        studies=studies_for_rater(user=request.user).order_by("name"), rater=_rater(request)
    )
    return render(request, "ratings/rate/home.html", {"rows": rows})


@require_GET
@vary_on_headers("HX-Request")
@friendly_unavailable
def rate_study(request: HtmxHttpRequest, study_id: int) -> HttpResponse:
    study = _study(request, study_id)
    if elsewhere := kind_redirect(study, "rate"):
        return elsewhere
    first_visit = (
        not study.answers_only
        and not Presentation.objects.filter(rater=_rater(request), comparison__study=study).exists()
    )
    if first_visit and "go" not in request.GET and not request.htmx:
        return render(
            request,
            "ratings/rate/guide.html",
            {"study": study, "first_visit": True, **_guide_context(study)},
        )
    return _card(request, study)


@require_GET
@friendly_unavailable
def rate_guide(request: HttpRequest, study_id: int) -> HttpResponse:
    study = _study(request, study_id)
    return render(
        request,
        "ratings/rate/guide.html",
        {"study": study, "first_visit": False, **_guide_context(study)},
    )


def _presentation_id(request: HttpRequest, *, vote: bool = False) -> int:
    raw = request.POST.get("presentation", "")
    if not raw.isdecimal():
        raise Unavailable(lost_answer=vote)
    return int(raw)


def _response_ms(request: HttpRequest) -> int | None:
    raw = request.POST.get("response_ms", "")
    return int(raw) if raw.isdecimal() else None


def _after_post(request: HtmxHttpRequest, study: Study, **extra: Any) -> HttpResponse:
    if request.htmx:
        return _card(request, study, **extra)
    if extra.get("notice"):
        messages.info(request, extra["notice"])
    for error in extra.get("errors", ()):
        messages.error(request, error)
    return HttpResponseRedirect(reverse("rate-study", args=[study.pk]) + "?go=1")


@require_POST
@friendly_unavailable
def rate_vote(request: HtmxHttpRequest, study_id: int) -> HttpResponse:
    study = _study(request, study_id)
    try:
        vote_rate_check(rater_id=_rater(request).pk)
    except VoteRateExceeded as error:
        # The same pair comes back with the message; nothing was recorded.
        response = _card(request, study, status=429, errors=[str(error)])
        response["Retry-After"] = str(error.retry_after)
        return response
    presentation_id = _presentation_id(request, vote=True)
    criteria = criteria_of(study)
    votes = {c.key: request.POST.get(f"c-{c.key}", "") for c in criteria}
    missing = [c.label for c in criteria if not votes[c.key]]
    if missing:
        return _after_post(
            request, study, errors=[f"Answer every question first: {', '.join(missing)}."]
        )
    try:
        # The vote and the next deal commit together: one transaction (one WAL flush) per vote.
        with transaction.atomic():
            result = judgments_record(
                rater=_rater(request),
                presentation_id=presentation_id,
                votes=votes,
                tags=request.POST.getlist("tags"),
                response_ms=_response_ms(request),
                study=study,
            )
            if result.already_recorded:
                return _after_post(request, study, notice=ALREADY_RECORDED)
            if study.answers_only:
                # The pair was issued while the study was open: the vote counts, and the
                # rater learns why no next pair follows (undo would bring back a dead card).
                return _after_post(
                    request,
                    study,
                    notice="Vote recorded. This study closed meanwhile, so that was the last "
                    "pair: thank you!",
                )
            return _after_post(request, study, notice="Vote recorded.", undo=result.presentation)
    except NotYours:
        raise Unavailable(lost_answer=True) from None
    except ValidationError as error:
        return _after_post(request, study, errors=error.messages)


def _presentation_change(
    request: HtmxHttpRequest, study: Study, change: Callable[..., Any], *, done: str
) -> HttpResponse:
    """Skip or undo the presentation the POST names: one not issued to this rater is the
    unavailable page, a refusal (already answered, nothing to undo) a message on the card."""
    try:
        change(rater=_rater(request), presentation_id=_presentation_id(request))
    except NotYours:
        raise Unavailable() from None
    except ValidationError as error:
        return _after_post(request, study, errors=error.messages)
    return _after_post(request, study, notice=done)


@require_POST
@friendly_unavailable
def rate_skip(request: HtmxHttpRequest, study_id: int) -> HttpResponse:
    study = _study(request, study_id)
    if study.answers_only:
        return _after_post(request, study, notice="This study has closed: nothing is left to skip.")
    return _presentation_change(request, study, presentation_skip, done="Skipped.")


@require_POST
@friendly_unavailable
def rate_undo(request: HtmxHttpRequest, study_id: int) -> HttpResponse:
    study = _study(request, study_id)
    if study.answers_only:
        return _after_post(request, study, errors=["This study has closed: your vote stands."])
    return _presentation_change(
        request, study, presentation_undo, done="Vote undone: judge this pair again."
    )
