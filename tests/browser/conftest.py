"""Browser fixtures (Debian's Chromium through Playwright).

`chromium_browser` (one browser per session) and `browser_page` (a fresh context and page per
test); the plain helpers (`browser_login`, `ready_study`) live in tests/factories.py.
Media come from the real media view (ratings/media.py), as in production.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from django.urls import URLPattern, URLResolver, include, path

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def __getattr__(name: str) -> list[URLPattern | URLResolver]:
    # Built on first use (as the live server's URLconf), so collecting the tests does not
    # import every view.
    if name != "urlpatterns":
        raise AttributeError(name)
    return [path("", include("evalsite.urls"))]


@pytest.fixture
def browser_urls(settings: Any) -> None:
    """The live server's URLconf: the real one (kept as a hook for browser-only routes)."""
    settings.ROOT_URLCONF = "tests.browser.conftest"


@pytest.fixture(scope="session")
def chromium_browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop on this thread; the ORM calls the tests make
    # around it are ordinary synchronous ones.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield browser
            browser.close()
    finally:
        # Later tests start subprocesses (manage.py check --deploy) that must not inherit it.
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def browser_page(chromium_browser: Any, browser_urls: None) -> Iterator[Any]:
    context = chromium_browser.new_context(viewport={"width": 1360, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()
