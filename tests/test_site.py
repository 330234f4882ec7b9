from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client

from evalsite import views as evalsite_views
from generation.models import CheckpointSeries, GenerationConfig, Image, Prompt
from ratings.models import Study
from tests.factories import PromptFactory, launched, rater, ready_study, researcher, vote

ROOT = Path(__file__).resolve().parent.parent


# What the test process itself sets (test settings, the browser fixtures) must not leak into
# the production-like manage.py runs below.
TEST_ONLY_ENV = (
    "SECRET_KEY", "DEBUG", "DJANGO_SETTINGS_MODULE", "SECURE_SSL_REDIRECT",
    "DJANGO_ALLOW_ASYNC_UNSAFE", "AXES_ENABLED", "CELERY_TASK_ALWAYS_EAGER",
)  # fmt: skip


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in TEST_ONLY_ENV}
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env={**clean, **env},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_production_refuses_to_start_without_secret_key() -> None:
    result = _manage("check", DEBUG="0")
    assert result.returncode != 0
    assert "SECRET_KEY is not set and DEBUG is off" in result.stderr


def test_check_deploy_is_clean_with_secret_key_and_debug_off() -> None:
    result = _manage("check", "--deploy", "--fail-level", "WARNING", DEBUG="0",
                     SECRET_KEY="x" * 64 + "-a-long-random-production-key")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


@pytest.mark.django_db
def test_every_page_but_login_requires_login(client: Client) -> None:
    for url in ["/", "/admin/", "/api/prompts/", "/api/docs/"]:
        response = client.get(url)
        assert response.status_code in (302, 401, 403), url
    assert client.get("/accounts/login/").status_code == 200


@pytest.mark.django_db
def test_login_and_home_for_each_role(client: Client) -> None:
    researcher(username="rita")
    assert client.login(username="rita", password="pw")
    page = client.get("/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "No studies yet" in html and "rita · researcher" in html
    assert 'href="/prompts/"' in html and 'href="/rate/"' not in html
    client.logout()
    rater(username="ray")
    assert client.login(username="ray", password="pw")
    html = client.get("/").content.decode()
    assert "Nothing to judge right now" in html and "ray · rater" in html
    # Researchers' navigation is not shown to raters, and their pages refuse them.
    assert 'href="/rate/"' in html and 'href="/prompts/"' not in html
    assert client.get("/api/prompts/").status_code == 403
    assert client.get("/admin/").status_code == 302


@pytest.mark.django_db
def test_home_pages_the_studies_newest_first(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(evalsite_views, "STUDIES_PER_PAGE", 2)
    names = [ready_study(name=f"Study {i}").name for i in range(3)]
    client.force_login(researcher(username="rita"))
    first = client.get("/").content.decode()
    assert names[2] in first and names[1] in first and names[0] not in first
    assert "Page 1 of 2 · 3 studies" in first and 'href="?page=2" id="studies-older"' in first
    second = client.get("/?page=2").content.decode()
    assert names[0] in second and names[2] not in second and 'id="studies-newer"' in second
    # A page that is not a number, or past the end, is the first or the last: never an error.
    assert names[2] in client.get("/?page=x").content.decode()
    assert names[0] in client.get("/?page=99").content.decode()


@pytest.mark.django_db
def test_api_reports_field_errors_with_the_shared_messages(client: Client) -> None:
    researcher(username="rita")
    client.login(username="rita", password="pw")
    response = client.post(
        "/api/configs/",
        {"sampler": "nope", "steps": 500, "width": 300},
        content_type="application/json",
    )
    assert response.status_code == 400
    body = response.json()
    assert body["steps"] == ["Steps must be between 1 and 150."]
    assert "multiples of 8 between 256 and 1024" in body["width"][0]
    assert "sampler" in body
    response = client.post(
        "/api/prompts/", {"text": "ring (gold", "category": "band"}, content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["text"] == [
        "Prompt syntax: Unbalanced '(' at position 6: it is never closed."
    ]
    assert GenerationConfig.objects.count() == 0 and Prompt.objects.count() == 0
    ok = client.post(
        "/api/configs/",
        {"sampler": "ddim", "steps": 20, "width": 512, "height": 512},
        content_type="application/json",
    )
    again = client.post(
        "/api/configs/",
        {"sampler": "ddim", "steps": 20, "width": 512, "height": 512},
        content_type="application/json",
    )
    assert (
        ok.status_code == 201 and again.json()["id"] == ok.json()["id"] and again.json()["reused"]
    )


@pytest.mark.django_db
def test_bootstrap_is_idempotent_and_admin_lists_demo(client: Client) -> None:
    call_command("loupe_bootstrap", "--demo")
    counts = (
        Prompt.objects.count(),
        GenerationConfig.objects.count(),
        Image.objects.count(),
        Study.objects.count(),
    )
    call_command("loupe_bootstrap", "--demo")
    assert counts == (
        Prompt.objects.count(),
        GenerationConfig.objects.count(),
        Image.objects.count(),
        Study.objects.count(),
    )
    # 7 configurations of the demo study and 4 of the demo checkpoint series; the demo's
    # pairwise study and its checklist on the same 42 images.
    assert counts == (3, 11, 42, 2)
    assert CheckpointSeries.objects.get().checkpoints.count() == 4
    # Open for the printed rater at once; pairs appear as their images finish rendering.
    assert set(Study.objects.values_list("status", flat=True)) == {Study.Status.OPEN}
    assert client.login(username="researcher", password="loupe-research")
    for url in [
        "/admin/ratings/study/",
        "/admin/generation/prompt/",
        "/admin/generation/generationconfig/",
        "/admin/generation/image/?status__exact=pending",
        "/admin/ratings/comparison/",
        "/admin/ratings/judgment/",
        f"/admin/generation/generationconfig/{GenerationConfig.objects.first().pk}/change/",
    ]:  # type: ignore[union-attr]
        assert client.get(url).status_code == 200, url
    assert b"Demo: sampler" in client.get("/admin/ratings/study/").content


@pytest.mark.django_db
def test_api_accepts_token_auth_without_a_session(client: Client) -> None:
    from rest_framework.authtoken.models import Token

    person = researcher(username="tok")
    token = Token.objects.create(user=person)
    response = client.get("/api/prompts/", HTTP_AUTHORIZATION=f"Token {token.key}")
    assert response.status_code == 200 and response.json()["results"] == []
    # No credentials: 401 with the scheme to use (API token authentication is listed first).
    anonymous = client.get("/api/prompts/")
    assert anonymous.status_code == 401 and anonymous["WWW-Authenticate"] == "Token"


HX = {"HTTP_HX_REQUEST": "true"}
RESTORE = {**HX, "HTTP_HX_HISTORY_RESTORE_REQUEST": "true"}


@pytest.mark.django_db
def test_htmx_fragments_vary_on_hx_request_and_history_restores_get_whole_pages(
    client: Client,
) -> None:
    client.force_login(researcher())
    study = ready_study(n_configs=2)
    PromptFactory()
    urls = [
        "/prompts/?q=earrings",  # the filter pushes its URL into the history
        f"/studies/{study.pk}/progress/",
        f"/configs/{study.baseline_id}/?seed=1",
    ]
    for url in urls:
        page = client.get(url)
        fragment = client.get(url, **HX)
        restored = client.get(url, **RESTORE)
        assert page.status_code == restored.status_code == 200, url
        # 286: the progress fragment of a finished study also stops htmx's polling.
        assert fragment.status_code in (200, 286), url
        # Page, fragment and restore all say that the answer depends on HX-Request.
        for response in (page, fragment, restored):
            assert "HX-Request" in response.get("Vary", ""), url
        assert b"<html" in page.content and b"<html" not in fragment.content, url
        assert b"<html" in restored.content, url


@pytest.mark.django_db
def test_rate_card_is_a_fragment_for_htmx_and_a_page_for_a_history_restore(
    client: Client,
) -> None:
    study = ready_study(n_configs=2)
    client.force_login(rater())
    url = f"/rate/{study.pk}/?go=1"
    fragment = client.get(url, **HX)
    restored = client.get(url, **RESTORE)
    assert b"<html" not in fragment.content and b"data-presentation=" in fragment.content
    assert b"<html" in restored.content and b"data-presentation=" in restored.content
    assert "HX-Request" in restored["Vary"] and "HX-Request" in fragment["Vary"]


@pytest.mark.django_db
def test_dashboard_pair_pager_keeps_the_query_and_changes_only_the_page(client: Client) -> None:
    study, comparisons, criterion = launched(n_configs=6)  # 15 pairs: two pages of 12
    person = rater()
    for comparison in comparisons:
        vote(comparison, person, criterion, "a")
    client.force_login(researcher())
    url = f"/studies/{study.pk}/analysis/"
    html = client.get(url, {"criterion": criterion.key, "outcome": "a"}).content.decode()
    assert f'href="?criterion={criterion.key}&amp;outcome=a&amp;page=2#pairs"' in html
    assert f'hx-get="{url}?criterion={criterion.key}&amp;outcome=a&amp;page=2"' in html
    query = {"criterion": criterion.key, "outcome": "a", "page": 2}
    second = client.get(url, query, **HX, HTTP_HX_TARGET="pairs")
    page = second.content.decode()
    assert "Page 2 of 2" in page and "<html" not in page
    assert f'href="?criterion={criterion.key}&amp;outcome=a&amp;page=1#pairs"' in page
