"""Small helpers shared by the pages of every app."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

import markdown  # type: ignore[import-untyped]
import nh3
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.utils.safestring import SafeString, mark_safe
from django_htmx.middleware import HtmxDetails

from evalsite.roles import is_researcher


def markdown_html(text: str) -> SafeString:
    """Researcher-written markdown, sanitised: no scripts, no event handlers, no iframes."""
    return mark_safe(nh3.clean(markdown.markdown(text, extensions=["sane_lists"])))  # noqa: S308


View = TypeVar("View", bound=Callable[..., HttpResponseBase])


def researcher_required(view: View) -> View:
    """Researchers only: raters get 403 (anonymous users never get here: login middleware)."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not is_researcher(request.user):
            raise PermissionDenied("Only researchers may use this page.")
        return view(request, *args, **kwargs)

    return cast(View, wrapper)


class HtmxHttpRequest(HttpRequest):
    """A request as django-htmx's middleware leaves it, for the type checker.

    Views that answer htmx with a fragment test `request.htmx and not
    request.htmx.history_restore_request` (a history restore, htmx's Back once its cache lost
    the page, needs the whole page) and carry `@vary_on_headers("HX-Request")`, so that no
    cache hands the fragment to a plain visit or the page to htmx.
    """

    htmx: HtmxDetails


def human_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, sec = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {sec:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def add_errors(form: Any, error: ValidationError) -> None:
    """Attach a service's ValidationError to the form fields it names (others: non-field)."""
    if hasattr(error, "error_dict"):
        for field, messages_ in error.message_dict.items():
            form.add_error(field if field in form.fields else None, messages_)
    else:
        form.add_error(None, error.messages)
