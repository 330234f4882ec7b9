from __future__ import annotations

from typing import Any

import pytest
from django.db import OperationalError
from django.db.backends.base.base import BaseDatabaseWrapper
from django.test import Client
from django.utils import timezone

from accounts.models import ApiToken
from accounts.services import api_token_create
from generation.models import WorkerHeartbeat
from tests.factories import UserFactory, researcher

pytestmark = pytest.mark.django_db


def test_healthz_reports_database_broker_and_recent_workers_to_staff(client: Client) -> None:
    client.force_login(UserFactory(is_staff=True))
    WorkerHeartbeat.objects.create(node="w1@gpu-a", host="gpu-a", last_seen=timezone.now())
    WorkerHeartbeat.objects.create(
        node="old@gpu-b", host="gpu-b", last_seen=timezone.now() - timezone.timedelta(minutes=5)
    )
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["database"] == "ok"
    assert body["render_workers_last_minute"] == 1 and body["workers"][0]["node"] == "w1@gpu-a"


def _broken_cursor(*args: Any, **kwargs: Any) -> Any:
    raise OperationalError("connection to server at 127.0.0.1 port 5432 failed")


def test_database_outage_gives_plain_503_not_a_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    client = Client(raise_request_exception=False)
    monkeypatch.setattr(BaseDatabaseWrapper, "cursor", _broken_cursor)
    client.cookies["sessionid"] = "x" * 32  # forces a session lookup in the database
    page = client.get("/")
    assert page.status_code == 503
    assert page["Content-Type"].startswith("text/plain")
    assert b"cannot reach its database" in page.content and b"Traceback" not in page.content
    health = client.get("/healthz")
    assert health.status_code == 503 and health.json() == {"status": "unavailable"}
    monkeypatch.undo()
    assert client.get("/healthz").status_code == 200  # recovers by itself


def test_healthz_tells_anonymous_callers_only_ok_or_not(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    WorkerHeartbeat.objects.create(node="w1@gpu-a", host="gpu-a", last_seen=timezone.now())
    assert client.get("/healthz").json() == {"status": "ok"}
    client.force_login(researcher())  # signed in, not staff: no details either
    assert client.get("/healthz").json() == {"status": "ok"}
    monkeypatch.setattr(
        "evalsite.health._broker_ok", lambda: (False, "OperationalError: redis://10.0.0.7:6379")
    )
    down = Client().get("/healthz")
    assert down.status_code == 503 and down.json() == {"status": "unavailable"}
    assert b"10.0.0.7" not in down.content


def test_healthz_gives_details_to_a_staff_api_token(client: Client) -> None:
    from rest_framework.authtoken.models import Token

    token = Token.objects.create(user=UserFactory(is_staff=True))
    body = client.get("/healthz", HTTP_AUTHORIZATION=f"Token {token.key}").json()
    assert body["database"] == "ok" and "workers" in body
    assert client.get("/healthz", HTTP_AUTHORIZATION="Token nope").json() == {"status": "ok"}


def test_healthz_knows_a_loupe_api_key_as_the_api_does(client: Client) -> None:
    boss = researcher(is_staff=True)
    key = api_token_create(user=boss, name="monitor").key
    body = client.get("/healthz", HTTP_AUTHORIZATION=f"Token {key}").json()
    assert body["database"] == "ok" and "workers" in body
    # A key of a user who is not staff, and a revoked one, get the anonymous answer.
    plain = api_token_create(user=researcher(), name="script").key
    assert client.get("/healthz", HTTP_AUTHORIZATION=f"Token {plain}").json() == {"status": "ok"}
    ApiToken.objects.filter(user=boss).update(revoked_at=timezone.now())
    assert client.get("/healthz", HTTP_AUTHORIZATION=f"Token {key}").json() == {"status": "ok"}
