"""Pages: studies.py for researchers, rate.py for raters, analysis.py for results."""

from __future__ import annotations

from django.http import HttpResponseRedirect

from ratings.models import STUDY_PAGES, Study


def kind_redirect(study: Study, page: str) -> HttpResponseRedirect | None:
    """A pairwise study's `page` opened on a study of a kind shown elsewhere: the redirect to
    that kind's own page (ratings.models.STUDY_PAGES); None where this page is its page."""
    if STUDY_PAGES[page][study.kind] == STUDY_PAGES[page][Study.Kind.PAIRWISE]:
        return None
    return HttpResponseRedirect(study.page_url(page))
