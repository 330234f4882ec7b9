"""The one place the API turns a service's refusal into an HTTP answer.

Services raise Django's ValidationError (or their own exception) and know nothing of HTTP;
API views let it propagate and this handler (REST_FRAMEWORK["EXCEPTION_HANDLER"]) answers:

- ValidationError with field messages: 400 ``{field: [message, ...]}``;
- ValidationError without fields: 400 ``{"detail": [message, ...]}``;
- a presentation that was not issued to the rater (``NotYours``): 400 on ``presentation``;
- a vote past LOUPE_VOTE_RATE_PER_MINUTE (``VoteRateExceeded``): 429 ``{"detail": message}``
  with Retry-After;
- Http404 and PermissionDenied, and DRF's own exceptions: as DRF answers them.

A request's body or query is read with `validated` (a 400 naming each bad field).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


def validated(serializer_class: type[serializers.Serializer[Any]], data: Any) -> dict[str, Any]:
    """`data` read through `serializer_class`: its validated data, or a 400 naming each field."""
    incoming = serializer_class(data=data)
    incoming.is_valid(raise_exception=True)
    return dict(incoming.validated_data)


def validation_body(error: DjangoValidationError) -> dict[str, list[str]]:
    """The 400 body of a service's ValidationError: its field messages, else ``detail``."""
    if not hasattr(error, "error_dict"):
        return {"detail": list(error.messages)}
    return {field: list(messages) for field, messages in error.message_dict.items()}


class VoteRateRefused(exceptions.Throttled):
    """A 429 saying the service's message as it is (Throttled would append its own wait)."""

    def __init__(self, *, detail: str, wait: int) -> None:
        super().__init__(detail=detail)
        self.wait = wait  # DRF's handler sends it as Retry-After


def as_api_exception(exc: Exception) -> Exception:
    """The DRF exception a service's exception stands for (itself when it has none)."""
    # Imported here: evalsite is imported by every app, and the apps import evalsite.
    from ratings.services.judging import NotYours
    from ratings.throttle import VoteRateExceeded

    if isinstance(exc, VoteRateExceeded):
        return VoteRateRefused(detail=str(exc), wait=exc.retry_after)
    if isinstance(exc, DjangoValidationError):
        return exceptions.ValidationError(validation_body(exc))
    if isinstance(exc, NotYours):
        return exceptions.ValidationError(
            {"presentation": ["No such presentation was issued to you."]}
        )
    return exc


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    return drf_exception_handler(as_api_exception(exc), context)
