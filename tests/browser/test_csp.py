"""The pages keep working under the Content-Security-Policy: no violation in Chromium's console.

A violation shows as a console error naming the "Content Security Policy"; the page also
reports each `securitypolicyviolation` event to the console, in case a message is worded
otherwise.
"""

from __future__ import annotations

from typing import Any

import pytest

from ratings.checklists.models import ChecklistAnswer
from ratings.models import Judgment, Study
from ratings.services.judging import deck_deal, judgments_record
from tests.factories import (
    answered_checklist_study,
    browser_login,
    csp_violations,
    csp_watch,
    next_card_wait,
    rater,
    ready_checklist_study,
    ready_study,
    rerank_ready_study,
    researcher,
    series_over,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _visit(page: Any, url: str) -> None:
    response = page.goto(url)
    assert response is not None and response.status == 200, url
    assert "default-src 'self'" in response.headers["content-security-policy"]
    page.wait_for_load_state("networkidle")


def _voted_study() -> Study:
    study = ready_study(n_configs=3, name="Huggie hoops under CSP")
    for i in range(2):
        judge = rater(username=f"judge{i}")
        while (shown := deck_deal(rater=judge, study=study).current) is not None:
            judgments_record(
                rater=judge,
                presentation_id=shown.pk,
                votes={c.key: "left" if shown.pk % 2 else "tie" for c in study.criteria.all()},
            )
    return study


def test_researcher_pages_have_no_cspcsp_violations(browser_page: Any, live_server: Any) -> None:
    study = _voted_study()
    checklist = answered_checklist_study(n_configs=2)
    config = study.configs.order_by("pk").first()
    assert config is not None
    best_of = rerank_ready_study(votes_by=2)
    series = series_over(study)
    image = study.comparisons.first().image_a  # type: ignore[union-attr]
    researcher(username="rita")
    page = browser_page
    messages = csp_watch(page)
    browser_login(page, live_server, "rita")
    base = live_server.url
    for url in [
        "/",
        "/prompts/",
        "/adapters/",
        "/configs/",
        f"/configs/{config.pk}/",
        "/configs/build/",
        "/studies/new/",
        f"/studies/{study.pk}/",
        f"/studies/{study.pk}/progress/",
        f"/studies/{study.pk}/analysis/",
        f"/studies/{study.pk}/report/",
        "/studies/rerank/new/",
        f"/studies/{best_of.pk}/rerank/",
        f"/studies/{best_of.pk}/rerank/result/",
        "/studies/checklist/new/",
        f"/studies/{checklist.pk}/",
        f"/studies/{checklist.pk}/checklist/",
        f"/studies/{checklist.pk}/checklist/edit/",
        "/series/",
        f"/series/{series.pk}/",
        f"/series/{series.pk}/images/{image.pk}/",
        f"/series/{series.pk}/study/new/",
        f"/studies/{study.pk}/series/",
    ]:
        _visit(page, base + url)
        if "/images/" in url:
            # The loupe's lens: moved and filled by series.js through the CSSOM, no style attribute.
            page.hover("#loupe-image")
            page.wait_for_selector(".loupe-lens:not([hidden])")
        if url == "/":
            # The progress bar is an SVG rect sized by its width attribute: 100 % here.
            bar = page.locator(".progress").first.bounding_box()
            rect = page.locator(".progress rect").first.bounding_box()
            assert bar and rect and rect["width"] == pytest.approx(bar["width"], abs=1)
        if url == f"/configs/{config.pk}/":
            # The X/Y grid gets one column per configuration from a class, not a style.
            columns = page.eval_on_selector(
                ".xy", "el => getComputedStyle(el).gridTemplateColumns.split(' ').length"
            )
            assert columns == 1 + study.configs.count()
        if url == "/configs/build/":
            page.wait_for_selector("#preview")
    assert not csp_violations(messages), "\n".join(csp_violations(messages))

    # Swagger UI has its own policy (inline styles allowed, scripts still only 'self').
    _visit(page, f"{base}/api/docs/")
    page.wait_for_selector(".swagger-ui .info .title")
    assert "Loupe API" in page.inner_text(".swagger-ui .info .title")
    blocked_scripts = [m for m in csp_violations(messages) if "script-src" in m]
    assert not blocked_scripts, "\n".join(blocked_scripts)


def test_rater_pages_and_a_keyboard_vote_have_no_cspcsp_violations(
    browser_page: Any, live_server: Any, settings: Any
) -> None:
    study = ready_study(n_configs=4, name="Threaders under CSP")
    person = rater(username="keys")
    page = browser_page
    messages = csp_watch(page)
    browser_login(page, live_server, "keys")
    _visit(page, f"{live_server.url}/")
    _visit(page, f"{live_server.url}/rate/")
    _visit(page, f"{live_server.url}/rate/{study.pk}/")
    page.wait_for_selector("text=Before you start")
    page.keyboard.press("Enter")  # guide.js: Enter starts judging
    page.wait_for_selector("#pair-card[data-ready] #vote-form")  # rate.js is deferred
    first = page.eval_on_selector("#pair-card", "el => el.dataset.presentation")
    page.locator("#pair-card .shot[data-side=left] .frame img").hover()  # the loupe
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("t")
    next_card_wait(page, first)
    page.wait_for_selector("text=Vote recorded.")
    assert Judgment.objects.filter(rater=person).count() == 2

    # Past the vote rate limit the card comes back with a message (a 429 htmx swaps in).
    settings.LOUPE_VOTE_RATE_PER_MINUTE = 1
    second = page.eval_on_selector("#pair-card", "el => el.dataset.presentation")
    page.wait_for_selector("#pair-card[data-ready] #vote-form")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    page.wait_for_selector("#pair-card .toast-error >> text=votes in a minute")
    assert page.eval_on_selector("#pair-card", "el => el.dataset.presentation") == second
    assert Judgment.objects.filter(rater=person).count() == 2

    csp = csp_violations(messages)
    assert not csp, "\n".join(csp)


def test_checklist_rater_page_and_keyboard_answers_have_no_csp_violations(
    browser_page: Any, live_server: Any
) -> None:
    study = ready_checklist_study(n_configs=2, n_prompts=1)
    person = rater(username="checks")
    page = browser_page
    messages = csp_watch(page)
    browser_login(page, live_server, "checks")
    _visit(page, f"{live_server.url}/rate/")
    _visit(page, f"{live_server.url}/rate/checklist/{study.pk}/")
    page.wait_for_selector("#checklist-card[data-ready] #checklist-form")
    first = page.get_attribute("#checklist-card", "data-showing")
    for key in ("y", "n", "u", "1"):  # one key per item: the card goes after the last
        page.keyboard.press(key)
    page.wait_for_function(
        "old => { const c = document.getElementById('checklist-card');"
        " return c && c.dataset.ready && c.dataset.showing !== old; }",
        arg=first,
    )
    page.wait_for_selector("text=Answers recorded.")
    assert ChecklistAnswer.objects.filter(rater=person).count() == 4
    csp = csp_violations(messages)
    assert not csp, "\n".join(csp)
