from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from evalsite.roles import is_researcher
from ratings.selectors import studies_listed, studies_overview
from ratings.views.rate import rate_home

STUDIES_PER_PAGE = 50


def home(request: HttpRequest) -> HttpResponse:
    if is_researcher(request.user):
        page = Paginator(studies_listed(), STUDIES_PER_PAGE).get_page(request.GET.get("page"))
        return render(
            request, "home.html", {"studies": studies_overview(page.object_list), "page": page}
        )
    # A rater lands on their studies with progress and a Start button.
    return rate_home(request)
