"""Ways around the site: the analysis dashboard from study pages, a rater's landing page."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from evalsite.roles import RATERS
from ratings.models import Study
from tests.factories import (
    rater,
    ready_checklist_study,
    ready_study,
    rerank_ready_study,
    researcher,
)

pytestmark = pytest.mark.django_db


def test_analysis_dashboard_is_linked_from_list_detail_and_progress(client: Client) -> None:
    study = ready_study(n_configs=2, name="Hoops")
    client.force_login(researcher())
    link = f'href="/studies/{study.pk}/analysis/"'
    for url in ["/", f"/studies/{study.pk}/", f"/studies/{study.pk}/progress/"]:
        assert link in client.get(url).content.decode(), url
    assert client.get(f"/studies/{study.pk}/analysis/").status_code == 200


def test_home_for_a_rater_lists_studies_with_progress_and_start(client: Client) -> None:
    study = ready_study(n_configs=3, name="Bands")
    client.force_login(rater())
    page = client.get("/").content.decode()
    assert "Bands" in page and "0 of 3 pairs judged" in page
    assert f'<a class="button" href="/rate/{study.pk}/">Start</a>' in page


# Each pairwise page opened on each kind: that kind's own page (ratings.models.STUDY_PAGES).
PAIRWISE_PAGES = {
    "detail": "/studies/{pk}/",
    "edit": "/studies/{pk}/edit/",
    "results": "/studies/{pk}/analysis/",
    "report": "/studies/{pk}/report/",
    "rate": "/rate/{pk}/",
}
OWN_PAGES = {
    "pairwise": PAIRWISE_PAGES,
    "checklist": PAIRWISE_PAGES
    | {
        "edit": "/studies/{pk}/checklist/edit/",
        "results": "/studies/{pk}/checklist/",
        "report": "/studies/{pk}/checklist/",
        "rate": "/rate/checklist/{pk}/",
    },
    "rerank": PAIRWISE_PAGES
    | {
        "detail": "/studies/{pk}/rerank/",
        "edit": "/studies/{pk}/rerank/",
        "results": "/studies/{pk}/rerank/result/",
        "report": "/studies/{pk}/rerank/result/",
    },
}


def _study_of(kind: str) -> Study:
    if kind == "checklist":
        return ready_checklist_study(n_configs=1, n_prompts=1)
    if kind == "rerank":
        return rerank_ready_study(prompts=1, candidates=3, tournament=0)
    return ready_study(n_configs=2)


@pytest.mark.parametrize("kind", OWN_PAGES)
def test_each_kind_of_study_is_shown_on_its_own_pages(client: Client, kind: str) -> None:
    study = _study_of(kind)
    assert study.kind == kind
    own = {page: url.format(pk=study.pk) for page, url in OWN_PAGES[kind].items()}
    assert {page: study.page_url(page) for page in own} == own
    person = researcher()
    person.groups.add(*Group.objects.filter(name=RATERS))  # may open the rating pages too
    client.force_login(person)
    for page, url in PAIRWISE_PAGES.items():
        response = client.get(url.format(pk=study.pk) + "?go=1")
        if own[page] == url.format(pk=study.pk):
            assert response.status_code == 200, (page, response.status_code)
        else:
            assert response.status_code == 302, (page, response.status_code)
            assert response["Location"] == own[page], page
    # The lists link a study's results where its kind shows them.
    home = client.get("/").content.decode()
    assert f'href="{own["results"]}"' in home and f'href="{own["detail"]}"' in home
