from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.test import Client
from django.utils import timezone

from generation.models import GenerationConfig, Image
from ratings.models import Judgment, Presentation, ReferenceImage, Study
from ratings.services.judging import deck_deal
from ratings.views.rate import highlight_terms
from tests.factories import blind_leaks, rater, ready_study, researcher

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}


def _login(client: Client, person: Any) -> Any:
    client.force_login(person)
    return person


def _presentation_id(html: str) -> int:
    match = re.search(r'data-presentation="(\d+)"', html)
    assert match, html
    return int(match.group(1))


def _votes(study: Study, side: str) -> dict[str, str]:
    return {f"c-{c.key}": side for c in study.criteria.all()}


def _forbidden_words(study: Study) -> list[str]:
    words = ["masters/", "sampler", "cfg", "compel", "euler", "ddim", "dpmpp", "steps"]
    for config in GenerationConfig.objects.filter(studies=study):
        words += [config.name, config.label, config.fingerprint]
    for image in Image.objects.filter(config__studies=study):
        words += [image.file.name, image.token]
    return [w for w in words if w]


def test_highlight_terms_marks_key_terms_case_insensitively() -> None:
    pieces = highlight_terms("Channel-set diamond band, platinum", ["diamond band", "channel-set"])
    assert pieces == [("Channel-set", True), (" ", False), ("diamond band", True),
                      (", platinum", False)]  # fmt: skip
    assert highlight_terms("plain text", []) == [("plain text", False)]


def test_rate_home_lists_open_studies_with_progress(client: Client) -> None:
    study = ready_study(n_configs=3, name="Bands study")
    closed = ready_study(n_configs=2, name="Closed study")
    Study.objects.filter(pk=closed.pk).update(status=Study.Status.CLOSED)
    _login(client, rater())
    page = client.get("/rate/").content.decode()
    assert "Bands study" in page and "Closed study" not in page
    assert "0 of 3 pairs judged" in page
    assert f'href="/rate/{study.pk}/"' in page


def test_rate_home_empty_state(client: Client) -> None:
    _login(client, rater())
    assert "Nothing to judge right now" in client.get("/rate/").content.decode()


def test_first_visit_shows_instructions_and_reference_board(client: Client) -> None:
    study = ready_study(
        n_configs=2, instructions="We want **modern, clean** shots.<script>alert(1)</script>"
    )
    ReferenceImage.objects.create(
        study=study, image=ContentFile(b"GIF89a", name="ref.gif"), caption="Clean hoop"
    )
    _login(client, rater())
    page = client.get(f"/rate/{study.pk}/").content.decode()
    assert "Before you start" in page
    assert "<strong>modern, clean</strong>" in page and "<script>alert" not in page
    assert "Clean hoop" in page and "/media/reference/" in page
    assert f'href="/rate/{study.pk}/?go=1"' in page
    assert not Presentation.objects.exists()  # reading the guide burns no pair


def test_rate_page_shows_a_blind_pair(client: Client) -> None:
    study = ready_study(n_configs=3)
    person = _login(client, rater())
    page = client.get(f"/rate/{study.pk}/?go=1").content.decode()
    shown = Presentation.objects.filter(rater=person).order_by("pk").first()
    assert shown is not None
    assert _presentation_id(page) == shown.pk
    assert "<mark>channel-set</mark>" in page and "Which image better matches the prompt?" in page
    assert page.count('src="/media/img/') == 4  # the pair and the prefetched next pair
    assert 'alt="Left image"' in page and 'alt="Right image"' in page
    assert blind_leaks(page, _forbidden_words(study)) == []


def test_htmx_vote_returns_next_card_fragment_and_stores_sides(client: Client) -> None:
    study = ready_study(n_configs=3)
    person = _login(client, rater())
    first = _presentation_id(client.get(f"/rate/{study.pk}/?go=1").content.decode())
    response = client.post(f"/rate/{study.pk}/vote/",
                           {"presentation": first, **_votes(study, "right"), "tags": ["left:metal"],
                            "response_ms": "2100"}, **HX)  # fmt: skip
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<section id="pair-card"') and "<html" not in html
    assert "Vote recorded." in html and "Undo" in html
    assert _presentation_id(html) != first
    shown = Presentation.objects.get(pk=first)
    right = shown.right.pk
    judged = Judgment.objects.filter(presentation=shown)
    assert judged.count() == 2 and {j.winner_id for j in judged} == {right}
    assert {j.rater_id for j in judged} == {person.pk}


def test_double_submit_is_one_vote_and_says_already_recorded(client: Client) -> None:
    study = ready_study(n_configs=3)
    _login(client, rater())
    first = _presentation_id(client.get(f"/rate/{study.pk}/?go=1").content.decode())
    data = {"presentation": first, **_votes(study, "left")}
    client.post(f"/rate/{study.pk}/vote/", data, **HX)
    again = client.post(f"/rate/{study.pk}/vote/", {**data, **_votes(study, "right")}, **HX)
    assert "Already recorded" in again.content.decode()
    assert Judgment.objects.count() == 2
    assert set(Judgment.objects.values_list("outcome", flat=True)) == {"win"}


def test_vote_on_someone_elses_presentation_is_refused(client: Client) -> None:
    study = ready_study(n_configs=3)
    owner = rater()
    theirs = deck_deal(rater=owner, study=study).current
    assert theirs is not None
    _login(client, rater())
    response = client.post(f"/rate/{study.pk}/vote/", {"presentation": theirs.pk,
                                                        **_votes(study, "left")}, **HX)  # fmt: skip
    assert response.status_code == 404
    assert not Judgment.objects.exists()


#: Past a BigAutoField's range (2**63 - 1): no presentation can have it.
OUT_OF_RANGE = "99999999999999999999"


def test_page_answers_an_out_of_range_id_as_unavailable_for_vote_skip_and_undo(
    client: Client,
) -> None:
    study = ready_study(n_configs=3)
    _login(client, rater())
    client.get(f"/rate/{study.pk}/?go=1")
    answers = {
        action: client.post(f"/rate/{study.pk}/{action}/",
                            {"presentation": OUT_OF_RANGE, **_votes(study, "left")}, **HX)
        for action in ("vote", "skip", "undo")
    }  # fmt: skip
    assert {k: r.status_code for k, r in answers.items()} == {"vote": 404, "skip": 404, "undo": 404}
    assert answers["vote"]["HX-Redirect"] == f"/rate/{study.pk}/?unsaved=1"
    assert answers["skip"]["HX-Redirect"] == answers["undo"]["HX-Redirect"] == f"/rate/{study.pk}/"
    assert not Judgment.objects.exists()
    assert not Presentation.objects.exclude(skipped_at=None).exists()


def test_api_answers_an_out_of_range_id_as_one_not_issued_to_you(client: Client) -> None:
    study = ready_study(n_configs=3)
    theirs = deck_deal(rater=rater(), study=study).current
    assert theirs is not None
    _login(client, rater())
    answers = [
        client.post("/api/rate/judgments/",
                    {"presentation": pid, "criterion": "prompt_adherence", "outcome": "left"},
                    content_type="application/json")
        for pid in (int(OUT_OF_RANGE), theirs.pk)
    ]  # fmt: skip
    assert [r.status_code for r in answers] == [400, 400]
    assert answers[0].json() == answers[1].json()
    assert answers[0].json() == {"presentation": ["No such presentation was issued to you."]}
    assert not Judgment.objects.exists()


def test_the_guide_lists_the_defect_tags_the_card_offers(client: Client, monkeypatch: Any) -> None:
    from ratings.services.judging import DEFECT_TAGS

    monkeypatch.setitem(DEFECT_TAGS, "clasp", "Clasp")
    study = ready_study(n_configs=3)
    _login(client, rater())
    first = client.get(f"/rate/{study.pk}/").content.decode()  # the first visit: the guide
    guide = client.get(f"/rate/{study.pk}/guide/").content.decode()
    page = client.get(f"/rate/{study.pk}/?go=1").content.decode()
    listed = "Mark defects (stone count, prongs / setting, chain continuity, metal colour, "
    listed += "symmetry, artefacts, clasp)"
    assert listed in first and listed in guide and listed in page
    assert 'value="left:clasp"' in page and 'value="right:clasp"' in page


def test_vote_missing_an_answer_is_a_friendly_error(client: Client) -> None:
    study = ready_study(n_configs=3)
    _login(client, rater())
    first = _presentation_id(client.get(f"/rate/{study.pk}/?go=1").content.decode())
    html = client.post(f"/rate/{study.pk}/vote/",
                       {"presentation": first, "c-prompt_adherence": "left"}, **HX).content.decode()  # fmt: skip
    assert "Answer every question first: Modern aesthetic." in html
    assert _presentation_id(html) == first  # the same pair stays on screen
    assert not Judgment.objects.exists()


def test_skip_and_undo_views(client: Client) -> None:
    study = ready_study(n_configs=3)
    _login(client, rater())
    first = _presentation_id(client.get(f"/rate/{study.pk}/?go=1").content.decode())
    html = client.post(f"/rate/{study.pk}/skip/", {"presentation": first}, **HX).content.decode()
    assert "Skipped." in html
    second = _presentation_id(html)
    assert second != first
    client.post(f"/rate/{study.pk}/vote/", {"presentation": second, **_votes(study, "tie")}, **HX)
    html = client.post(f"/rate/{study.pk}/undo/", {"presentation": second}, **HX).content.decode()
    assert "Vote undone" in html and _presentation_id(html) == second
    assert not Judgment.objects.exists()


def test_vote_without_htmx_redirects_back_to_the_page(client: Client) -> None:
    study = ready_study(n_configs=3)
    _login(client, rater())
    first = _presentation_id(client.get(f"/rate/{study.pk}/?go=1").content.decode())
    response = client.post(
        f"/rate/{study.pk}/vote/", {"presentation": first, **_votes(study, "left")}
    )
    assert response.status_code == 302 and response["Location"] == f"/rate/{study.pk}/?go=1"
    assert Judgment.objects.count() == 2


def test_when_nothing_is_left_the_rater_sees_their_summary(client: Client) -> None:
    study = ready_study(n_configs=2)
    _login(client, rater())
    first = _presentation_id(client.get(f"/rate/{study.pk}/?go=1").content.decode())
    html = client.post(f"/rate/{study.pk}/vote/", {"presentation": first,
                                                    **_votes(study, "left")}, **HX).content.decode()  # fmt: skip
    assert "every pair" in html and "Pairs judged" in html
    assert re.search(r"<span>Left</span><strong>2</strong>", html)


def test_vote_needs_csrf(client: Client) -> None:
    study = ready_study(n_configs=3)
    person = rater()
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(person)
    first = _presentation_id(strict.get(f"/rate/{study.pk}/?go=1").content.decode())
    response = strict.post(
        f"/rate/{study.pk}/vote/", {"presentation": first, **_votes(study, "left")}
    )
    assert response.status_code == 403
    assert not Judgment.objects.exists()


def test_study_pages_need_access(client: Client) -> None:
    study = ready_study(n_configs=2, open_to_raters=False)
    outsider = _login(client, rater())
    assert client.get(f"/rate/{study.pk}/?go=1").status_code == 404
    study.raters.add(outsider)
    assert client.get(f"/rate/{study.pk}/?go=1").status_code == 200
    study.excluded_raters.add(outsider)
    assert client.get(f"/rate/{study.pk}/?go=1").status_code == 404
    client.logout()
    assert client.get("/rate/").status_code == 302


def test_raters_cannot_reach_researcher_apis_or_admin(client: Client) -> None:
    _login(client, rater())
    assert client.get("/api/prompts/").status_code == 403
    assert client.get("/api/images/").status_code == 403
    assert client.get("/admin/").status_code == 302


# The rater JSON API ----------------------------------------------------------------------


def test_api_next_gives_a_blind_pair(client: Client) -> None:
    study = ready_study(n_configs=3)
    person = _login(client, rater())
    body = client.get(f"/api/rate/next/?study={study.pk}").json()
    shown = Presentation.objects.filter(rater=person).order_by("pk").first()
    assert shown is not None and body["presentation"] == shown.pk
    assert set(body) == {"study", "presentation", "prompt", "criteria", "left", "right",
                         "upcoming", "progress"}  # fmt: skip
    assert [c["key"] for c in body["criteria"]] == ["prompt_adherence", "modern_aesthetic"]
    left = Image.objects.get(pk=shown.left_id)
    assert body["left"] == {"url": left.display_file.url}
    assert body["right"]["url"].startswith("/media/img/")
    assert body["progress"] == {"judged": 0, "ready": 3}
    text = client.get(f"/api/rate/next/?study={study.pk}").content.decode().lower()
    assert blind_leaks(text, _forbidden_words(study)) == []


def test_api_next_errors(client: Client) -> None:
    study = ready_study(n_configs=2, open_to_raters=False)
    assert client.get(f"/api/rate/next/?study={study.pk}").status_code in (302, 401, 403)
    _login(client, rater())
    assert client.get("/api/rate/next/").json() == {"study": ["A study id is required."]}
    assert client.get(f"/api/rate/next/?study={study.pk}").status_code == 404


def test_api_judgment_records_once(client: Client) -> None:
    study = ready_study(n_configs=3)
    _login(client, rater())
    pid = client.get(f"/api/rate/next/?study={study.pk}").json()["presentation"]
    Presentation.objects.filter(pk=pid).update(shown_at=timezone.now() - timedelta(seconds=5))
    vote = {"presentation": pid, "criterion": "prompt_adherence", "outcome": "left",
            "tags": ["right:stones"], "response_ms": 1500}  # fmt: skip
    first = client.post("/api/rate/judgments/", vote, content_type="application/json")
    assert first.status_code == 201 and first.json()["status"] == "recorded"
    again = client.post("/api/rate/judgments/", {**vote, "outcome": "right"},
                        content_type="application/json")  # fmt: skip
    assert again.status_code == 200 and again.json()["status"] == "already_recorded"
    shown = Presentation.objects.get(pk=pid)
    judgment = Judgment.objects.get()
    assert judgment.winner_id == shown.left_id and judgment.response_ms == 1500
    assert shown.answered_at is None  # one of two criteria answered: the pair stays current
    assert client.get(f"/api/rate/next/?study={study.pk}").json()["presentation"] == pid
    client.post("/api/rate/judgments/", {**vote, "criterion": "modern_aesthetic", "outcome": "tie"},
                content_type="application/json")  # fmt: skip
    assert client.get(f"/api/rate/next/?study={study.pk}").json()["presentation"] != pid


def test_api_judgment_refusals_are_field_errors(client: Client) -> None:
    study = ready_study(n_configs=3)
    theirs = deck_deal(rater=rater(), study=study).current
    assert theirs is not None
    _login(client, rater())
    post = lambda data: client.post("/api/rate/judgments/", data, content_type="application/json")  # noqa: E731
    bad = post({"presentation": theirs.pk, "criterion": "prompt_adherence", "outcome": "left"})
    assert bad.status_code == 400
    assert bad.json() == {"presentation": ["No such presentation was issued to you."]}
    mine = client.get(f"/api/rate/next/?study={study.pk}").json()["presentation"]
    bad = post({"presentation": mine, "criterion": "prompt_adherence", "outcome": "up"})
    assert bad.status_code == 400 and "outcome" in bad.json()
    bad = post({"presentation": mine, "criterion": "sparkle", "outcome": "left"})
    assert bad.json() == {"criterion": ["Unknown criterion 'sparkle' for this study."]}
    assert not Judgment.objects.exists()


def test_api_refuses_researcher_only_users_without_study_access(client: Client) -> None:
    ready_study(n_configs=2, open_to_raters=False)
    _login(client, researcher())
    response = client.get("/api/rate/next/?study=1")
    assert response.status_code == 403


def test_blind_leaks_looks_past_random_tokens_but_not_past_words() -> None:
    page = (
        '<form><input type="hidden" name="csrfmiddlewaretoken" value="Xq7CfGa9"></form>'
        '<body hx-headers=\'{"X-CSRFToken": "zzDDIMq1"}\'><img src="/media/img/ab3cfg9x_Q7-kLm2pQ4r.webp">'
    )
    assert blind_leaks(page, ["cfg", "ddim"]) == []
    assert blind_leaks(page + "<p>CFG 7, DDIM</p>", ["cfg", "ddim"]) == ["cfg", "ddim"]
    fingerprint = "0123456789abcdef0123"  # long words are looked for everywhere, tokens too
    assert blind_leaks(page.replace("Xq7CfGa9", fingerprint), [fingerprint]) == [fingerprint]


def test_page_and_api_say_the_same_when_there_is_no_pair(client: Client) -> None:
    """No pair to judge: the page's screen and the API's state agree (Deck.state), while the
    images render, once every pair is judged, and after the study closes."""
    from django.contrib.auth.models import Group

    from evalsite.roles import RATERS
    from ratings.services.studies import study_close, study_launch, study_open
    from tests.factories import make_study, paint_done

    study = make_study(n_configs=2)
    study_launch(study=study)
    study_open(study=study)
    study.rater_groups.add(Group.objects.get_or_create(name=RATERS)[0])
    person = _login(client, rater())

    def both() -> tuple[str, dict[str, Any]]:
        page = client.get(f"/rate/{study.pk}/?go=1").content.decode()
        return page, client.get(f"/api/rate/next/?study={study.pk}").json()

    page, body = both()  # nothing rendered yet
    assert "The images are still being prepared" in page and 'hx-trigger="every 10s"' in page
    assert body["presentation"] is None and body["state"] == "preparing"
    assert "still being prepared" in body["detail"] and "closed" not in body
    for image in Image.objects.all():
        paint_done(image)
    page, body = both()
    assert body["presentation"] == Presentation.objects.get(rater=person).pk
    assert 'hx-trigger="every 10s"' not in page
    for criterion in study.criteria.all():
        answer = {"presentation": body["presentation"], "criterion": criterion.key,
                  "outcome": "left"}  # fmt: skip
        response = client.post("/api/rate/judgments/", answer, content_type="application/json")
        assert response.status_code == 201, response.content
    page, body = both()
    assert "That's every pair" in page and 'hx-trigger="every 10s"' not in page
    assert body["state"] == "done"
    assert body["detail"] == "Nothing left to judge in this study. Thank you!"
    study_close(study=study)
    page, body = both()
    assert "This study has closed" in page
    assert body["state"] == "closed" and body["closed"] is True
