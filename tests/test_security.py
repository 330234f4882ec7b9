from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from tests.factories import researcher

pytestmark = pytest.mark.django_db


def test_login_is_throttled_after_five_failures(settings: Any) -> None:
    settings.AXES_ENABLED = True
    researcher(username="rita")
    client = Client(REMOTE_ADDR="10.9.8.7")
    for _ in range(4):
        response = client.post("/accounts/login/", {"username": "rita", "password": "wrong"})
        assert (
            response.status_code == 200 and b"Please enter a correct username" in response.content
        )
    fifth = client.post("/accounts/login/", {"username": "rita", "password": "wrong"})
    assert fifth.status_code == 429 and b"Too many failed logins" in fifth.content
    locked = client.post("/accounts/login/", {"username": "rita", "password": "pw"})
    assert locked.status_code == 429
    # Another address is not locked out with the attacker.
    other = Client(REMOTE_ADDR="10.1.1.1")
    assert other.post("/accounts/login/", {"username": "rita", "password": "pw"}).status_code == 302
