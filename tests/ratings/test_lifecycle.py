"""A study that closes (or goes away) while a rater has a pair on screen: no silent losses."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from ratings.models import Judgment, Presentation, Study
from ratings.services.judging import deck_deal, judgments_record, presentation_skip
from ratings.services.studies import study_close
from tests.factories import rater, ready_study

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}


def _votes(study: Study, side: str) -> dict[str, str]:
    return {f"c-{c.key}": side for c in study.criteria.all()}


def _on_screen(client: Client, study: Study) -> int:
    html = client.get(f"/rate/{study.pk}/?go=1").content.decode()
    match = re.search(r'data-presentation="(\d+)"', html)
    assert match, html
    return int(match.group(1))


def _rater_client(client: Client) -> Any:
    person = rater()
    client.force_login(person)
    return person


def test_rate_vote_records_a_pair_issued_before_the_study_closed(client: Client) -> None:
    study = ready_study(n_configs=3)
    _rater_client(client)
    pid = _on_screen(client, study)
    issued = Presentation.objects.count()
    study_close(study=study)
    response = client.post(f"/rate/{study.pk}/vote/", {"presentation": pid,
                                                       **_votes(study, "left")}, **HX)  # fmt: skip
    html = response.content.decode()
    assert response.status_code == 200
    assert Judgment.objects.filter(presentation_id=pid).count() == 2
    assert "This study closed meanwhile" in html and "This study has closed" in html
    assert "data-presentation" not in html and "Undo" not in html
    assert Presentation.objects.count() == issued  # no new pair was dealt after the close


def test_rate_vote_after_close_without_htmx_redirects_to_the_closed_page(client: Client) -> None:
    study = ready_study(n_configs=3)
    _rater_client(client)
    pid = _on_screen(client, study)
    study_close(study=study)
    response = client.post(f"/rate/{study.pk}/vote/", {"presentation": pid,
                                                       **_votes(study, "tie")}, follow=True)  # fmt: skip
    html = response.content.decode()
    assert Judgment.objects.filter(presentation_id=pid).count() == 2
    assert "This study closed meanwhile" in html and "This study has closed" in html


def test_judgments_record_api_keeps_a_vote_on_an_issued_pair_after_close(client: Client) -> None:
    study = ready_study(n_configs=3)
    _rater_client(client)
    pid = client.get(f"/api/rate/next/?study={study.pk}").json()["presentation"]
    study_close(study=study)
    vote = {"presentation": pid, "criterion": "prompt_adherence", "outcome": "right"}
    answer = client.post("/api/rate/judgments/", vote, content_type="application/json")
    assert answer.status_code == 201 and answer.json()["status"] == "recorded"
    after = client.get(f"/api/rate/next/?study={study.pk}").json()
    assert after["presentation"] is None and after["closed"] is True
    assert "closed" in after["detail"]


def test_judgments_record_service_after_close_and_skip_refused() -> None:
    study = ready_study(n_configs=3)
    person = rater()
    deck = deck_deal(rater=person, study=study)
    assert deck.current is not None and deck.upcoming is not None
    study_close(study=study)
    votes = {c.key: "left" for c in study.criteria.all()}
    result = judgments_record(rater=person, presentation_id=deck.current.pk, votes=votes)
    assert len(result.recorded) == 2
    with pytest.raises(ValidationError, match="closed"):
        presentation_skip(rater=person, presentation_id=deck.upcoming.pk)


def test_rate_skip_and_undo_after_close_say_so(client: Client) -> None:
    study = ready_study(n_configs=3)
    _rater_client(client)
    pid = _on_screen(client, study)
    client.post(f"/rate/{study.pk}/vote/", {"presentation": pid, **_votes(study, "left")}, **HX)
    study_close(study=study)
    undo = client.post(f"/rate/{study.pk}/undo/", {"presentation": pid}, **HX).content.decode()
    assert "This study has closed: your vote stands." in undo
    assert Judgment.objects.filter(presentation_id=pid).count() == 2
    skip = client.post(f"/rate/{study.pk}/skip/", {"presentation": pid}, **HX).content.decode()
    assert "nothing is left to skip" in skip


def test_rate_study_closed_is_a_friendly_page(client: Client) -> None:
    study = ready_study(n_configs=2)
    _rater_client(client)
    study_close(study=study)
    response = client.get(f"/rate/{study.pk}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "This study has closed" in html and "Back to your studies" in html
    assert not Presentation.objects.exists()


def test_rate_study_unknown_is_a_friendly_page_even_with_debug(
    client: Client, settings: Any
) -> None:
    settings.DEBUG = True
    _rater_client(client)
    response = client.get("/rate/987654/")
    html = response.content.decode()
    assert response.status_code == 404
    assert "This study is not available" in html and "Back to your studies" in html
    assert "URLconf" not in html and "rate/&lt;int:study_id&gt;" not in html


def test_rate_vote_on_a_study_gone_tells_the_answer_was_lost(client: Client) -> None:
    study = ready_study(n_configs=3)
    person = _rater_client(client)
    pid = _on_screen(client, study)
    study.excluded_raters.add(person)
    response = client.post(f"/rate/{study.pk}/vote/", {"presentation": pid,
                                                       **_votes(study, "left")}, **HX)  # fmt: skip
    assert response.status_code == 404
    # htmx swaps nothing on a 404: it is sent to a page that says what happened.
    assert response["HX-Redirect"] == f"/rate/{study.pk}/?unsaved=1"
    page = client.get(response["HX-Redirect"]).content.decode()
    assert "Your last answer could not be recorded" in page
    assert not Judgment.objects.exists()


def test_404_page_is_the_site_template_with_debug_off(client: Client, settings: Any) -> None:
    settings.DEBUG = False
    _rater_client(client)
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    assert "There is nothing at this address" in response.content.decode()
