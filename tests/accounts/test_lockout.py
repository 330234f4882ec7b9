"""Login lockout behind a proxy (django-axes with accounts.lockout)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client, RequestFactory

from accounts.lockout import client_ip
from tests.factories import rater, researcher

pytestmark = pytest.mark.django_db
PROXY = "10.0.0.2"  # what REMOTE_ADDR says for every request that came through nginx


def _ip(settings: Any, xff: str | None, *, count: int = 1, header: str = "X-Forwarded-For") -> Any:
    settings.LOUPE_TRUSTED_PROXY_HEADER = header
    settings.LOUPE_TRUSTED_PROXY_COUNT = count
    meta = {"REMOTE_ADDR": PROXY}
    if xff is not None:
        meta["HTTP_X_FORWARDED_FOR"] = xff
    return client_ip(RequestFactory().get("/", **meta))


def test_client_ip_reads_the_trusted_proxy_header_from_the_right(settings: Any) -> None:
    assert _ip(settings, "203.0.113.5", header="") == PROXY  # no proxy configured
    assert _ip(settings, "203.0.113.5") == "203.0.113.5"
    # A client-sent value to the left is never trusted: the proxy appended the real one.
    assert _ip(settings, "1.2.3.4, 203.0.113.5") == "203.0.113.5"
    assert _ip(settings, "1.2.3.4, 203.0.113.5, 10.0.0.9", count=2) == "203.0.113.5"
    assert _ip(settings, "2001:db8::1") == "2001:db8::1"
    # Missing, too short for the proxy count, or not an address: the proxy's own address.
    assert _ip(settings, None) == PROXY
    assert _ip(settings, "203.0.113.5", count=2) == PROXY
    assert _ip(settings, "not-an-ip") == PROXY


def _login(client: Client, username: str, password: str, xff: str) -> int:
    response = client.post(
        "/accounts/login/",
        {"username": username, "password": password},
        REMOTE_ADDR=PROXY,
        HTTP_X_FORWARDED_FOR=xff,
    )
    return response.status_code


def test_lockout_behind_a_proxy_locks_the_attacker_not_everyone(settings: Any) -> None:
    settings.AXES_ENABLED = True
    settings.LOUPE_TRUSTED_PROXY_HEADER = "X-Forwarded-For"
    researcher(username="rita")
    attacker, colleague = Client(), Client()
    codes = [_login(attacker, "rita", "wrong", "203.0.113.5") for _ in range(5)]
    assert codes == [200, 200, 200, 200, 429]
    assert _login(attacker, "rita", "pw", "203.0.113.5") == 429
    # Same proxy, another client address: rita logs in.
    assert _login(colleague, "rita", "pw", "198.51.100.7") == 302


def test_lockout_without_the_proxy_setting_locks_everyone_behind_the_proxy(
    settings: Any,
) -> None:
    # What the setting fixes: unset, every request comes from the proxy's address.
    settings.AXES_ENABLED = True
    settings.LOUPE_TRUSTED_PROXY_HEADER = ""
    researcher(username="rita")
    for _ in range(5):
        _login(Client(), "rita", "wrong", "203.0.113.5")
    assert _login(Client(), "rita", "pw", "198.51.100.7") == 429


def test_one_address_trying_many_usernames_is_locked(settings: Any) -> None:
    settings.AXES_ENABLED = True
    settings.LOUPE_TRUSTED_PROXY_HEADER = "X-Forwarded-For"
    settings.LOUPE_LOGIN_IP_FAILURE_LIMIT = 12
    researcher(username="rita")
    attacker = Client()
    codes = [_login(attacker, f"guess{i}", "wrong", "203.0.113.5") for i in range(12)]
    # Each username failed once, far below the per-username limit of 5: the address limit locks.
    assert codes == [200] * 11 + [429]
    assert _login(attacker, "rita", "pw", "203.0.113.5") == 429
    assert _login(Client(), "rita", "pw", "198.51.100.7") == 302


def test_a_valid_login_does_not_clear_the_address_count(settings: Any) -> None:
    settings.AXES_ENABLED = True
    settings.LOUPE_TRUSTED_PROXY_HEADER = "X-Forwarded-For"
    settings.LOUPE_LOGIN_IP_FAILURE_LIMIT = 6
    rater(username="mallory")
    attacker = Client()
    for i in range(5):
        assert _login(attacker, f"guess{i}", "wrong", "203.0.113.5") == 200
    # The attacker's own valid account logs in; the address's failures stay counted.
    assert _login(Client(), "mallory", "pw", "203.0.113.5") == 302
    assert _login(attacker, "guess9", "wrong", "203.0.113.5") == 429


def test_per_username_limit_still_applies_below_the_address_limit(settings: Any) -> None:
    settings.AXES_ENABLED = True
    settings.LOUPE_TRUSTED_PROXY_HEADER = "X-Forwarded-For"
    researcher(username="rita")
    researcher(username="rex")
    client = Client()
    assert [_login(client, "rita", "wrong", "203.0.113.5") for _ in range(5)][-1] == 429
    # The same address may still log in as someone else: 5 failures are under the address limit.
    assert _login(Client(), "rex", "pw", "203.0.113.5") == 302
