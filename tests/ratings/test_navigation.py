"""Ways around the site: the analysis dashboard from study pages, a rater's landing page."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.factories import rater, ready_study, researcher

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
