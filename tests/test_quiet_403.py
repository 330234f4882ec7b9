from __future__ import annotations

import logging

import pytest
from django.test import Client

from tests.factories import rater


@pytest.mark.django_db
def test_quiet_forbidden_logs_a_403_as_one_line_without_traceback(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    client.force_login(rater())
    with caplog.at_level(logging.INFO):
        assert client.get("/studies/new/").status_code == 403
    refused = [r for r in caplog.records if r.name == "django.request"]
    assert [r.getMessage() for r in refused] == ["Forbidden (Permission denied): /studies/new/"]
    assert refused[0].exc_info is None
    assert "Traceback" not in caplog.text
