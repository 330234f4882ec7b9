"""The rater JSON API: the same rules as the rating page, for scripts and other front ends.

Nothing here names a configuration or an image id: a pair is a presentation id and two
opaque display URLs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.http import Http404
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers, status
from rest_framework.decorators import api_view, permission_classes
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response

from evalsite.api_errors import validated, validation_body
from evalsite.roles import is_rater
from ratings.rater_sql import Card, criteria_of, rater_study
from ratings.selectors import studies_for_rater
from ratings.services.judging import (
    ALREADY_RECORDED,
    DEFECT_TAGS,
    NO_CARD,
    SIDES,
    judgments_record,
    rater_next,
)
from ratings.throttle import vote_rate_check


class CanRate(BasePermission):
    """A signed-in rater; each view then limits itself to the studies open to that rater."""

    message = "Only raters may use this endpoint."

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        return bool(user and user.is_authenticated) and (
            is_rater(user) or studies_for_rater(user=user).exists()
        )


def presentation_payload(card: Card) -> dict[str, Any]:
    return {
        "presentation": card.pk,
        "prompt": {"text": card.prompt, "key_terms": card.key_terms},
        "left": {"url": card.left_url},
        "right": {"url": card.right_url},
    }


def vote_body(
    request: Request, serializer_class: type[serializers.Serializer[Any]]
) -> tuple[User, dict[str, Any]]:
    """The rater who sends a vote and the vote's validated body. The vote is counted first
    against LOUPE_VOTE_RATE_PER_MINUTE: past it, VoteRateExceeded (the API's 429)."""
    user = request.user
    assert isinstance(user, User)  # CanRate admits signed-in users only
    vote_rate_check(rater_id=user.pk)
    return user, validated(serializer_class, request.data)


STUDY_PARAM = OpenApiParameter("study", int, required=True)


def rater_api(method: str, **schema: Any) -> Callable[[Callable[[Request], Response]], Any]:
    """Make a function an endpoint for raters (signed in, CanRate) answering `method`, in the
    OpenAPI tag "rate" and documented with `schema` (extend_schema's keywords)."""

    def decorate(view: Callable[[Request], Response]) -> Any:
        endpoint = api_view([method])(permission_classes([CanRate])(view))
        return extend_schema(tags=["rate"], **schema)(endpoint)

    return decorate


def study_param(request: Request) -> int:
    """The `study` query parameter of a rater endpoint (a 400 naming it when missing)."""
    raw = request.query_params.get("study", "")
    if not raw.isdecimal():
        raise serializers.ValidationError({"study": ["A study id is required."]})
    return int(raw)


class JudgmentInSerializer(serializers.Serializer[dict[str, Any]]):
    presentation = serializers.IntegerField(min_value=1)
    criterion = serializers.SlugField(max_length=40)
    outcome = serializers.ChoiceField(choices=SIDES)
    tags = serializers.ListField(
        child=serializers.CharField(max_length=40),
        required=False,
        default=list,
        max_length=2 * len(DEFECT_TAGS),
        help_text=f"left:<tag> or right:<tag>; tags: {', '.join(DEFECT_TAGS)}.",
    )
    response_ms = serializers.IntegerField(min_value=0, required=False, allow_null=True)


def no_card_body(state: str) -> dict[str, str]:
    """The rater "next" APIs' answer when there is nothing to judge (no_card_fields)."""
    return {"state": state, "detail": NO_CARD[state]}


def no_card_fields() -> dict[str, serializers.Field[Any, Any, Any, Any]]:
    """The rater "next" APIs' fields when there is nothing to judge (NO_CARD)."""
    return {
        "state": serializers.ChoiceField(
            choices=list(NO_CARD),
            required=False,
            help_text="Only when there is nothing to judge: why (the screen the rating page "
            "shows in its place).",
        ),
        "detail": serializers.CharField(required=False, help_text="The same, in words."),
    }


_NEXT_OUT = inline_serializer(
    "RaterNextPair",
    fields={
        "study": serializers.IntegerField(),
        "presentation": serializers.IntegerField(allow_null=True),
        "prompt": serializers.DictField(),
        "criteria": serializers.ListField(child=serializers.DictField()),
        "left": serializers.DictField(),
        "right": serializers.DictField(),
        "upcoming": serializers.DictField(allow_null=True),
        "progress": serializers.DictField(),
        **no_card_fields(),
        "closed": serializers.BooleanField(required=False),
    },
)


@rater_api("GET", parameters=[STUDY_PARAM], responses={200: _NEXT_OUT})
def rate_next_api(request: Request) -> Response:
    """The pair to judge now (issued to you, sides drawn by the server) and the next one's URLs."""
    rater = request.user
    assert isinstance(rater, User)  # CanRate admits signed-in users only
    study = rater_study(user=rater, study_id=study_param(request), closed_too=True)
    if study is None:
        raise Http404("No Study matches the given query.")
    deck = rater_next(rater=rater, study=study)
    progress = deck.progress
    body: dict[str, Any] = {
        "study": study.pk,
        "criteria": [
            {"key": c.key, "label": c.label, "question": c.question} for c in criteria_of(study)
        ],
        "progress": {"judged": progress.judged, "ready": progress.ready},
    }
    if deck.current is None:
        # The screen the rating page shows in its place, in words (closed adds "closed": true).
        body.update(presentation=None, **no_card_body(deck.state))
        if deck.closed:
            body["closed"] = True
        return Response(body)
    body.update(presentation_payload(deck.current))
    upcoming = presentation_payload(deck.upcoming) if deck.upcoming else None
    body["upcoming"] = {"left": upcoming["left"], "right": upcoming["right"]} if upcoming else None
    return Response(body)


@rater_api(
    "POST",
    request=JudgmentInSerializer,
    responses={
        201: inline_serializer("RaterVote", fields={"status": serializers.CharField()}),
        429: OpenApiResponse(
            description="More votes in a minute than LOUPE_VOTE_RATE_PER_MINUTE: `detail` says "
            "when to try again (also the Retry-After header)."
        ),
    },
)
def rate_judgment_api(request: Request) -> Response:
    """Record one answer; sending it again changes nothing and says "already_recorded"."""
    user, data = vote_body(request, JudgmentInSerializer)
    try:
        result = judgments_record(
            rater=user,
            presentation_id=data["presentation"],
            votes={data["criterion"]: data["outcome"]},
            tags=data["tags"],
            response_ms=data.get("response_ms"),
        )
    except ValidationError as error:
        # The service names the field by the criterion's key; this API's field is "criterion".
        detail = validation_body(error)
        if data["criterion"] not in detail:
            raise
        detail = {"criterion": detail.pop(data["criterion"]), **detail}
        raise serializers.ValidationError(detail) from error
    body = {"presentation": data["presentation"], "criterion": data["criterion"]}
    if result.already_recorded:
        return Response(
            {
                **body,
                "status": "already_recorded",
                "detail": ALREADY_RECORDED,
            },
            status=status.HTTP_200_OK,
        )
    judgment = result.recorded[0]
    return Response(
        {
            **body,
            "status": "recorded",
            "outcome": data["outcome"],
            "response_ms": judgment.response_ms,
            "flagged_fast": judgment.flagged_fast,
        },
        status=status.HTTP_201_CREATED,
    )
