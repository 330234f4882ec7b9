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


CSP = (
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)


def test_debug_off_sends_hsts_secure_cookies_and_the_security_headers(settings: Any) -> None:
    settings.DEBUG = False
    # evalsite/settings.py derives these from DEBUG being off (the test run has it off).
    assert settings.SESSION_COOKIE_SECURE and settings.CSRF_COOKIE_SECURE
    researcher(username="rita")
    client = Client()
    login_page = client.get("/accounts/login/", secure=True)
    assert login_page.status_code == 200
    assert login_page["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert login_page["Content-Security-Policy"] == CSP
    assert login_page["X-Frame-Options"] == "DENY"
    assert login_page["X-Content-Type-Options"] == "nosniff"
    assert login_page["Referrer-Policy"] == "same-origin"
    assert "camera=()" in login_page["Permissions-Policy"]
    assert login_page.cookies["csrftoken"]["secure"]
    logged_in = client.post(
        "/accounts/login/",
        {"username": "rita", "password": "pw"},
        secure=True,
        headers={"X-CSRFToken": login_page.cookies["csrftoken"].value},
    )
    assert logged_in.status_code == 302
    session = logged_in.cookies[settings.SESSION_COOKIE_NAME]
    assert session["secure"] and session["httponly"] and session["samesite"] == "Lax"
    # Plain HTTP is sent to HTTPS when SECURE_SSL_REDIRECT is on (its default with DEBUG off).
    settings.SECURE_SSL_REDIRECT = True
    redirected = Client().get("/accounts/login/")
    assert redirected.status_code == 301
    assert redirected["Location"].startswith("https://")


def test_csp_on_pages_redirects_and_api_answers(client: Client) -> None:
    assert client.get("/").headers["Content-Security-Policy"] == CSP  # the login redirect
    assert client.get("/api/prompts/").headers["Content-Security-Policy"] == CSP
    client.force_login(researcher())
    assert client.get("/prompts/").headers["Content-Security-Policy"] == CSP


def test_swagger_ui_has_no_inline_script_and_only_relaxed_styles(client: Client) -> None:
    client.force_login(researcher())
    page = client.get("/api/docs/")
    assert page.status_code == 200
    policy = page["Content-Security-Policy"]
    assert "style-src 'self' 'unsafe-inline'" in policy and "script-src 'self';" in policy
    html = page.content.decode()
    assert "<script>" not in html and 'src="/api/docs/?script="' in html
    script = client.get("/api/docs/?script=")
    assert script.status_code == 200 and "SwaggerUIBundle" in script.content.decode()


def test_csp_allows_images_from_the_s3_endpoint_or_named_origins(settings: Any) -> None:
    from evalsite.security import content_security_policy

    settings.LOUPE_S3_BUCKET = "loupe-media"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {"bucket_name": "loupe-media", "endpoint_url": "http://127.0.0.1:9000"},
        },
    }
    assert (
        "img-src 'self' data: blob: http://127.0.0.1:9000 http://loupe-media.127.0.0.1:9000;"
        in content_security_policy()
    )
    settings.LOUPE_MEDIA_ORIGINS = ["https://cdn.example.com"]
    assert "img-src 'self' data: blob: https://cdn.example.com;" in content_security_policy()
