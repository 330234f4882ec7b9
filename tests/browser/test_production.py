"""Loupe as docs/deploy.md runs it: gunicorn with DEBUG=0, static files from collectstatic
through WhiteNoise, media on the filesystem served by the media view. A rater signs in with
Chromium, sees both images of a pair and votes.

pytest-django's live_server is not this (it serves with the test settings and its own static
handler), so the server is a real gunicorn process on its own SQLite file, migrated and seeded
by subprocesses (tests/browser/production_seed.py).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.factories import free_port

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"


@dataclass
class Served:
    url: str
    db: Path
    seed: dict[str, Any]


def _run(args: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, f"{args}: {done.stderr[-3000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    base = tmp_path_factory.mktemp("production")
    port = free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "LOUPE_", "DATABASE_", "CACHE_", "CELERY_"))
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "evalsite.settings",
            "DEBUG": "0",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "ALLOWED_HOSTS": HOST,
            "SECURE_SSL_REDIRECT": "0",  # no TLS proxy on loopback
            "SECURE_HSTS_SECONDS": "0",
            "DATABASE_URL": f"sqlite:///{base / 'loupe.sqlite3'}",
            "MEDIA_ROOT": str(base / "media"),
            "STATIC_ROOT": str(base / "static"),
            "CELERY_BROKER_URL": "memory://",
            "LOG_LEVEL": "WARNING",
        }
    )
    _run(["manage.py", "migrate", "--no-input", "-v0"], env)
    _run(["manage.py", "collectstatic", "--no-input", "-v0"], env)
    seed = json.loads(_run(["-m", "tests.browser.production_seed"], env).strip().splitlines()[-1])
    log = (base / "gunicorn.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "evalsite.wsgi", "--bind", f"{HOST}:{port}",
         "--workers", "2", "--worker-class", "gthread", "--threads", "1", "--timeout", "30"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection((HOST, port), timeout=0.5).close()
                break
            except OSError:
                assert server.poll() is None, (base / "gunicorn.log").read_text()[-3000:]
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.2)
        yield Served(url=f"http://{HOST}:{port}", db=base / "loupe.sqlite3", seed=seed)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        log.close()


@pytest.fixture
def page(served: Served, chromium_browser: Any) -> Iterator[Any]:
    context = chromium_browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def _judgments(db: Path) -> int:
    with sqlite3.connect(db) as connection:
        (count,) = connection.execute("SELECT COUNT(*) FROM ratings_judgment").fetchone()
    return int(count)


def _fetch(page: Any, url: str) -> dict[str, Any]:
    """GET from inside the page (its session cookie, Secure included): status and headers."""
    result: dict[str, Any] = page.evaluate(
        "async url => { const r = await fetch(url, {redirect: 'follow'});"
        " return {status: r.status, redirected: r.redirected,"
        " headers: Object.fromEntries(r.headers.entries())}; }",
        url,
    )
    return result


def test_rater_sees_both_images_and_votes_under_gunicorn_with_debug_off(
    served: Served, page: Any
) -> None:
    failed: list[str] = []
    page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    page.goto(f"{served.url}/accounts/login/")
    # The stylesheet comes from collectstatic's manifest through WhiteNoise.
    sheet = page.eval_on_selector("link[rel=stylesheet]", "l => l.href")
    assert _fetch(page, sheet)["status"] == 200
    page.fill("input[name=username]", "gem")
    page.fill("input[name=password]", "pw")
    page.click("button[type=submit], input[type=submit]")
    page.wait_for_url(lambda url: "/accounts/login/" not in url)

    page.goto(f"{served.url}/rate/{served.seed['study']}/")
    page.keyboard.press("Enter")
    page.wait_for_selector("#vote-form")
    page.wait_for_function(
        "() => { const imgs = [...document.querySelectorAll('#pair-card .frame img')];"
        " return imgs.length === 2 && imgs.every(i => i.complete); }"
    )
    widths = page.eval_on_selector_all(
        "#pair-card .frame img", "imgs => imgs.map(i => i.naturalWidth)"
    )
    assert widths == [256, 256]
    sources = page.eval_on_selector_all("#pair-card .frame img", "imgs => imgs.map(i => i.src)")
    assert all(src.startswith(f"{served.url}/media/img/") for src in sources), sources

    for src in sources:
        image = _fetch(page, src)
        assert image["status"] == 200 and not image["redirected"], image
        headers = image["headers"]
        assert headers["content-type"] == "image/webp"
        assert headers["cache-control"].startswith("private")
        assert "last-modified" not in headers and "etag" not in headers

    # Images of a study closed to this rater, and any PNG master: not found, not forbidden.
    for name in (served.seed["hidden_display"], served.seed["master"]):
        assert _fetch(page, f"{served.url}/media/{name}")["status"] == 404, name

    before = _judgments(served.db)
    # Keys count once the page's script has readied the card (on a loaded machine the images
    # can load before the deferred script runs).
    page.wait_for_function("() => document.getElementById('pair-card')?.dataset.ready")
    card = page.eval_on_selector("#pair-card", "el => el.dataset.presentation")
    for key in ("ArrowLeft", "t"):
        page.keyboard.press(key)
    page.wait_for_function(
        "old => { const c = document.getElementById('pair-card');"
        " return c && c.dataset.ready && (c.dataset.presentation || 'done') !== old; }",
        arg=card,
    )
    assert _judgments(served.db) == before + 2  # one per criterion
    assert not [f for f in failed if "/media/" not in f and "favicon" not in f], failed
