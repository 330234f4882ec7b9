from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from evalsite.roles import is_researcher
from ratings.selectors import studies_overview
from ratings.views.rate import rate_home


def home(request: HttpRequest) -> HttpResponse:
    if is_researcher(request.user):
        return render(request, "home.html", {"studies": studies_overview()})
    # A rater lands on their studies with progress and a Start button.
    return rate_home(request)
