"""The per-rater vote rate limit, on the rating page (htmx) and the rater API."""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Any

import pytest
from django.test import Client

from ratings.models import Judgment, Presentation, Study
from ratings.throttle import VoteRateExceeded, vote_rate_check
from tests.factories import rater, ready_study

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture(autouse=True)
def _mid_minute(monkeypatch: pytest.MonkeyPatch) -> None:
    # A fixed clock 20 s into a minute: no test straddles a window boundary by chance.
    monkeypatch.setattr("ratings.throttle.time", SimpleNamespace(time=lambda: 60.0 * 29e6 + 20))


def _presentation_id(html: str) -> int:
    match = re.search(r'data-presentation="(\d+)"', html)
    assert match, html
    return int(match.group(1))


def _votes(study: Study, side: str) -> dict[str, str]:
    return {f"c-{c.key}": side for c in study.criteria.all()}


def test_vote_rate_check_allows_the_limit_then_refuses_until_the_next_minute(
    settings: Any,
) -> None:
    settings.LOUPE_VOTE_RATE_PER_MINUTE = 3
    start = 60.0 * 1_000_000 + 15  # 15 s into a minute
    for i in range(3):
        vote_rate_check(rater_id=7, now=start + i)
    with pytest.raises(VoteRateExceeded) as refused:
        vote_rate_check(rater_id=7, now=start + 5)
    assert refused.value.retry_after == 40 and refused.value.limit == 3
    assert "more than 3 votes in a minute" in str(refused.value)
    # Another rater has their own count; the next minute starts afresh.
    vote_rate_check(rater_id=8, now=start + 5)
    vote_rate_check(rater_id=7, now=start + 45)


def test_vote_rate_check_zero_turns_the_limit_off(settings: Any) -> None:
    settings.LOUPE_VOTE_RATE_PER_MINUTE = 0
    for _ in range(500):
        vote_rate_check(rater_id=1, now=120.0)


def test_htmx_vote_past_the_limit_is_a_429_card_with_a_message(
    client: Client, settings: Any
) -> None:
    settings.LOUPE_VOTE_RATE_PER_MINUTE = 2
    study = ready_study(n_configs=4)  # 6 pairs
    person = rater()
    client.force_login(person)
    html = client.get(f"/rate/{study.pk}/?go=1").content.decode()
    for _ in range(2):
        answered = client.post(
            f"/rate/{study.pk}/vote/",
            {"presentation": _presentation_id(html), **_votes(study, "left")},
            **HX,
        )
        assert answered.status_code == 200
        html = answered.content.decode()
    pending = _presentation_id(html)
    refused = client.post(
        f"/rate/{study.pk}/vote/", {"presentation": pending, **_votes(study, "left")}, **HX
    )
    assert refused.status_code == 429
    assert refused["Retry-After"] == "40"
    card = refused.content.decode()
    assert 'id="pair-card"' in card and "<html" not in card
    assert "more than 2 votes in a minute" in card and "toast-error" in card
    # Nothing recorded for the refused vote; the same pair is back on screen.
    assert _presentation_id(card) == pending
    assert Judgment.objects.filter(rater=person).count() == 2 * study.criteria.count()
    assert Presentation.objects.get(pk=pending).answered_at is None


def test_plain_form_vote_past_the_limit_is_a_429_page(client: Client, settings: Any) -> None:
    settings.LOUPE_VOTE_RATE_PER_MINUTE = 1
    study = ready_study(n_configs=3)
    client.force_login(rater())
    html = client.get(f"/rate/{study.pk}/?go=1").content.decode()
    first = client.post(
        f"/rate/{study.pk}/vote/",
        {"presentation": _presentation_id(html), **_votes(study, "right")},
    )
    assert first.status_code == 302
    html = client.get(f"/rate/{study.pk}/?go=1").content.decode()
    refused = client.post(
        f"/rate/{study.pk}/vote/",
        {"presentation": _presentation_id(html), **_votes(study, "right")},
    )
    assert refused.status_code == 429
    assert "<html" in refused.content.decode() and "votes in a minute" in refused.content.decode()


def test_api_and_page_share_one_count_and_the_api_answers_json_429(
    client: Client, settings: Any
) -> None:
    settings.LOUPE_VOTE_RATE_PER_MINUTE = 3
    study = ready_study(n_configs=4)
    person = rater()
    client.force_login(person)
    html = client.get(f"/rate/{study.pk}/?go=1").content.decode()
    page_vote = client.post(
        f"/rate/{study.pk}/vote/",
        {"presentation": _presentation_id(html), **_votes(study, "tie")},
        **HX,
    )
    assert page_vote.status_code == 200
    shown = client.get(f"/api/rate/next/?study={study.pk}").json()["presentation"]
    keys = list(study.criteria.values_list("key", flat=True))
    for key in keys:  # two more votes: the limit of 3 is reached
        ok = client.post(
            "/api/rate/judgments/",
            {"presentation": shown, "criterion": key, "outcome": "left"},
            content_type="application/json",
        )
        assert ok.status_code == 201, ok.content
    refused = client.post(
        "/api/rate/judgments/",
        {"presentation": shown, "criterion": keys[0], "outcome": "right"},
        content_type="application/json",
    )
    assert refused.status_code == 429
    assert "votes in a minute" in refused.json()["detail"]
    assert refused["Retry-After"].isdigit()
    assert Judgment.objects.filter(rater=person).count() == 2 * len(keys)


def test_each_rater_has_their_own_limit(client: Client, settings: Any) -> None:
    settings.LOUPE_VOTE_RATE_PER_MINUTE = 1
    study = ready_study(n_configs=3)
    for person in (rater(), rater()):
        client.force_login(person)
        html = client.get(f"/rate/{study.pk}/?go=1").content.decode()
        voted = client.post(
            f"/rate/{study.pk}/vote/",
            {"presentation": _presentation_id(html), **_votes(study, "left")},
            **HX,
        )
        assert voted.status_code == 200
