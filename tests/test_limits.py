"""Bounded input (evalsite/limits.py): JSON size and depth, numbers out of any column's range."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.http import HttpRequest, HttpResponse
from django.test import Client, RequestFactory

from evalsite.limits import MAX_JSON_DEPTH, RequestLimitsMiddleware, json_depth
from ratings.models import Study
from tests.factories import rater, ready_study, researcher

pytestmark = pytest.mark.django_db
HUGE = 2**70


def _never_read(request: HttpRequest) -> HttpResponse:
    raise AssertionError("the body reached the view")


def test_request_limits_middleware_refuses_a_large_json_body_before_reading_it(
    settings: Any,
) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    request = RequestFactory().post(
        "/api/studies/", data=json.dumps({"name": "x" * 2000}), content_type="application/json"
    )
    answer = RequestLimitsMiddleware(_never_read)(request)
    assert answer.status_code == 413
    assert "limited to 1000 bytes" in json.loads(answer.content)["detail"]


def test_request_limits_middleware_refuses_a_chunked_json_body(settings: Any) -> None:
    request = RequestFactory().post(
        "/api/studies/", data=b"{}", content_type="application/json",
        HTTP_TRANSFER_ENCODING="chunked",
    )  # fmt: skip
    del request.META["CONTENT_LENGTH"]
    answer = RequestLimitsMiddleware(_never_read)(request)
    assert answer.status_code == 411 and b"Content-Length" in answer.content


def test_large_json_body_through_the_api_is_a_413_json(client: Client, settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    client.force_login(researcher())
    answer = client.post("/api/studies/", {"name": "x" * 20_000}, content_type="application/json")
    assert answer.status_code == 413 and "JSON bodies are limited" in answer.json()["detail"]
    assert not Study.objects.exists()


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 200_000])
def test_deeply_nested_json_is_a_400(client: Client, depth: int) -> None:
    client.force_login(researcher())
    body = '{"name": ' + "[" * depth + "]" * depth + "}"
    answer = client.post("/api/studies/", body, content_type="application/json")
    assert answer.status_code == 400
    assert f"nested deeper than {MAX_JSON_DEPTH}" in answer.json()["detail"]


def test_json_depth_counts_lists_and_objects() -> None:
    assert json_depth(3) == 0 and json_depth([]) == 1
    assert json_depth({"a": [1, {"b": []}]}) == 4


# Outside a test transaction, as in production (no ATOMIC_REQUESTS): on PostgreSQL a
# DataError inside the test's own transaction would abort it for the error page too.
@pytest.mark.django_db(transaction=True)
def test_out_of_range_id_on_a_page_is_a_400_not_a_database_outage() -> None:
    client = Client(raise_request_exception=False)
    client.force_login(rater())
    answer = client.get(f"/rate/{HUGE}/")
    assert answer.status_code in (400, 404), answer.status_code
    assert b"cannot reach its database" not in answer.content


# Outside a test transaction, as in production (no ATOMIC_REQUESTS): on PostgreSQL a
# DataError inside the test's own transaction would abort it for the error page too.
@pytest.mark.django_db(transaction=True)
def test_out_of_range_id_in_an_api_body_is_a_400_or_404() -> None:
    study = ready_study(n_configs=3)
    client = Client(raise_request_exception=False)
    client.force_login(rater())
    answer = client.post(
        "/api/rate/judgments/",
        {"presentation": HUGE, "criterion": study.criteria.first().key, "outcome": "left"},  # type: ignore[union-attr]
        content_type="application/json",
    )
    assert answer.status_code in (400, 404), answer.content
    answer = client.get(f"/api/rate/next/?study={HUGE}")
    assert answer.status_code in (400, 404), answer.content


def test_server_error_is_503_only_for_a_lost_connection() -> None:
    import sys

    from django.db import DataError, OperationalError

    from evalsite.health import server_error

    request = RequestFactory().get("/")
    for error, status in ((OperationalError("gone"), 503), (DataError("out of range"), 500)):
        try:
            raise error
        except type(error):
            assert sys.exc_info()[1] is error
            assert server_error(request).status_code == status
