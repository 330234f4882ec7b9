"""Bounded input: JSON bodies capped before they are read, nesting capped, numbers a database
cannot hold answered as bad input rather than as an outage."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from django.conf import settings
from django.db import DataError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template import loader
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

#: Deeper JSON than this is refused: no request Loupe takes nests more than a few levels, and
#: json.loads would hit Python's recursion limit on a body of a few kilobytes of brackets.
MAX_JSON_DEPTH = 32
_BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def _is_json(request: HttpRequest) -> bool:
    kind = request.content_type or ""
    return kind == "application/json" or kind.endswith("+json")


def json_depth(value: Any) -> int:
    """How deeply lists and objects nest (a scalar is 0), without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, Mapping):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth + 1)
        stack.extend((child, depth + 1) for child in children)
    return deepest


class BoundedJSONParser(JSONParser):
    """DRF's JSON parser, refusing nesting deeper than MAX_JSON_DEPTH with a 400."""

    def parse(
        self,
        stream: Any,
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError as error:
            raise ParseError(self._too_deep()) from error
        if json_depth(data) > MAX_JSON_DEPTH:
            raise ParseError(self._too_deep())
        return data

    @staticmethod
    def _too_deep() -> str:
        return f"JSON parse error - nested deeper than {MAX_JSON_DEPTH} levels."


def _too_large(length: int, limit: int) -> JsonResponse:
    return JsonResponse(
        {
            "detail": f"The request body is {length} bytes; JSON bodies are limited to {limit} "
            "bytes (DATA_UPLOAD_MAX_MEMORY_SIZE)."
        },
        status=413,
    )


class RequestLimitsMiddleware:
    """JSON bodies over DATA_UPLOAD_MAX_MEMORY_SIZE get a 413 from their Content-Length, before
    anything reads them (Django applies the setting to request.body, but DRF's parser reads
    the stream). A JSON body without a Content-Length (chunked) gets a 411: Django's WSGI
    request would read it as empty, and a silent empty body is worse than a clear refusal."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method in _BODY_METHODS and _is_json(request):
            limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
            raw = request.META.get("CONTENT_LENGTH") or ""
            chunked = "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower()
            if chunked and not raw:
                return JsonResponse(
                    {"detail": "Send JSON bodies with a Content-Length header (chunked "
                               "transfer encoding is not accepted)."},
                    status=411,
                )  # fmt: skip
            length = int(raw) if raw.isdecimal() else 0
            if limit is not None and length > limit:
                return _too_large(length, limit)
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        # A number no column can hold (an id of 2**70): SQLite's driver raises OverflowError,
        # PostgreSQL a DataError. Bad input, not a database outage.
        if not isinstance(exception, DataError | OverflowError):
            return None
        message = "A number in the request is out of range."
        if request.path.startswith("/api/") or _is_json(request):
            return JsonResponse({"detail": message}, status=400)
        html = loader.render_to_string("400.html", {"message": message}, request)
        return HttpResponse(html, status=400)
