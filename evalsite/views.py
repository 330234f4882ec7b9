from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from evalsite.roles import is_researcher
from ratings.selectors import studies_for_rater, studies_overview


def home(request: HttpRequest) -> HttpResponse:
    if is_researcher(request.user):
        return render(request, "home.html", {"studies": studies_overview()})
    return render(request, "home.html", {"rater_studies": studies_for_rater(user=request.user)})
