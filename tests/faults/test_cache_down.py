"""The cache (Redis, CACHE_URL) goes down mid-study: votes are still recorded and answered 2xx,
the vote rate limit fails open with one log line, reports are computed instead of cached."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client

from evalsite import cache as fail_open
from ratings.models import Judgment, Study
from ratings.reports.judgments import judgment_count
from tests.factories import PrivateRedis, rater, ready_study, researcher

pytestmark = pytest.mark.django_db


@pytest.fixture
def redis_cache(private_redis: PrivateRedis, settings: Any) -> Iterator[PrivateRedis]:
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": private_redis.url,
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    # Each failure would otherwise make the next calls skip the cache for 5 s.
    settings.LOUPE_CACHE_RETRY_SECONDS = 0
    fail_open.cache_reset_state()
    yield private_redis
    fail_open.cache_reset_state()


def _vote(client: Client, study: Study) -> int:
    """Ask for the next pair and answer every criterion through the API; the status codes."""
    shown = client.get(f"/api/rate/next/?study={study.pk}")
    assert shown.status_code == 200, shown.content
    presentation = shown.json()["presentation"]
    codes = []
    for key in study.criteria.values_list("key", flat=True):
        answer = client.post(
            "/api/rate/judgments/",
            {"presentation": presentation, "criterion": key, "outcome": "left"},
            content_type="application/json",
        )
        codes.append(answer.status_code)
    return sum(1 for c in codes if 200 <= c < 300)


def test_votes_with_the_cache_down_are_recorded_and_answered_2xx(
    client: Client, redis_cache: PrivateRedis, caplog: pytest.LogCaptureFixture, settings: Any
) -> None:
    settings.LOUPE_VOTE_RATE_PER_MINUTE = 1000
    study = ready_study(n_configs=6)  # 15 pairs
    person = rater()
    client.force_login(person)
    criteria = study.criteria.count()
    acknowledged = _vote(client, study)
    assert acknowledged == criteria
    assert any(k.startswith(b":1:loupe:vote-rate") for k in _keys(redis_cache)), (
        "the rate limit did not count in Redis while it was up"
    )

    redis_cache.stop()
    with pytest.raises(Exception) as raised:  # the fault is real: the cache itself raises
        cache.get("anything")
    assert "Connection" in type(raised.value).__name__
    with caplog.at_level(logging.WARNING, logger="evalsite.cache"):
        for _ in range(10):
            acknowledged += _vote(client, study)
        reports_count = judgment_count(study=study)
    stored = Judgment.objects.filter(rater=person).count()
    print(f"cache down: votes acknowledged {acknowledged}, stored {stored}")
    assert acknowledged == stored == 11 * criteria
    assert reports_count == stored  # computed, not cached, and current
    assert fail_open.failures >= 20, "the cache calls did not really fail"
    outage_lines = [r for r in caplog.records if "cache unreachable" in r.getMessage()]
    assert len(outage_lines) == 1 and outage_lines[0].exc_info is None

    analysis = Client()
    analysis.force_login(researcher())
    assert analysis.get(f"/studies/{study.pk}/analysis/").status_code == 200

    redis_cache.start()
    failures = fail_open.failures
    assert _vote(client, study) == criteria
    assert fail_open.failures == failures
    assert any(k.startswith(b":1:loupe:vote-rate") for k in _keys(redis_cache))


def test_vote_rate_limit_still_refuses_once_the_cache_is_back(
    client: Client, redis_cache: PrivateRedis, settings: Any
) -> None:
    settings.LOUPE_VOTE_RATE_PER_MINUTE = 2
    study = ready_study(n_configs=5)
    client.force_login(rater())
    redis_cache.stop()
    assert _vote(client, study) + _vote(client, study) == 2 * study.criteria.count()
    redis_cache.start()
    assert _vote(client, study) == 2  # two criteria: the limit of 2 is reached…
    shown = client.get(f"/api/rate/next/?study={study.pk}").json()["presentation"]
    refused = client.post(
        "/api/rate/judgments/",
        {"presentation": shown, "criterion": study.criteria.first().key, "outcome": "right"},  # type: ignore[union-attr]
        content_type="application/json",
    )
    assert refused.status_code == 429


def _keys(server: PrivateRedis) -> list[bytes]:
    import redis

    return list(redis.Redis.from_url(server.url).keys("*"))  # type: ignore[arg-type]
