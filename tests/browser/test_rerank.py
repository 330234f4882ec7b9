"""A best-of-N study in real Chromium, from creating it to reading its result, with the tiny
model rendering the candidates and the built-in tiny scorer scoring them.

The researcher creates the study and launches it with rendering held back, then the test
renders the candidates (eager Celery, in this thread; scoring follows each render) while the
study page polls; the page says when every candidate is rendered and scored and stops polling;
opening builds the pairs. A rater judges every pair on the ordinary pairwise screen with the
keyboard (blind, sides random), and the researcher reads the result and downloads the CSV.
"""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from generation.models import Image, ImageScore
from generation.services.rendering import images_dispatch
from ratings.models import Comparison, Judgment, Presentation, RerankPick, Study
from ratings.rerank import services as rerank_services
from ratings.selectors import study_images
from tests.factories import (
    PromptFactory,
    browser_login,
    make_config,
    next_card_wait,
    rater,
    researcher,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SHOTS = "/tmp"


@pytest.fixture
def page(browser_page: Any) -> Any:
    browser_page.set_default_timeout(60_000)  # renders and scores run while it waits
    return browser_page


def test_researcher_runs_a_best_of_n_study_and_reads_its_result(
    page: Any,
    live_server: Any,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
    chromium_browser: Any,
) -> None:
    settings.LOUPE_SCORERS = {"clip": "tiny-random"}
    base = live_server.url
    researcher(username="rita")
    judge = rater(username="rhea")
    config = make_config(sampler="euler_a", steps=2, name="Tiny euler a")
    for text in ("threader earrings, thin gold chain, white background",
                 "huggie hoops, small gold hoop earrings, white background"):  # fmt: skip
        PromptFactory.create(text=text)
    browser_login(page, live_server, "rita")

    page.click("#new-rerank")
    page.fill("input[name=name]", "Best of 4 earrings")
    page.check("input[name=prompts] >> nth=0")
    page.check("input[name=prompts] >> nth=1")
    page.select_option("select[name=config]", str(config.pk))
    page.fill("input[name=candidates]", "4")
    page.fill("input[name=tournament_size]", "3")
    page.fill("input[name=target_judgments]", "1")
    assert page.is_checked("input[name=scorers][value=clip]")
    page.screenshot(path=f"{SHOTS}/rerank-form.png", full_page=True)
    page.click("#create-rerank")
    page.wait_for_selector("text=Created best-of-N study")
    study = Study.objects.get()
    assert study.kind == Study.Kind.RERANK
    page.screenshot(path=f"{SHOTS}/rerank-draft.png", full_page=True)

    # Launch with rendering held back, so the page has progress to poll.
    monkeypatch.setattr(rerank_services, "_enqueue", lambda unscored: None)
    page.click("#launch")
    page.wait_for_selector("text=Launched: 8 candidates queued")
    assert page.inner_text("#rendered").strip() == "0 / 8"
    assert page.get_attribute("#rerank-progress", "hx-trigger") == "every 2s"
    assert page.is_disabled("#open-study")
    images = list(study_images(study_id=study.pk).order_by("pk").values_list("pk", flat=True))
    images_dispatch(image_ids=images[:4])  # the tiny model renders, then the tiny CLIP scores
    page.wait_for_function(
        "() => document.querySelector('#rendered').textContent.trim() === '4 / 8'"
    )
    page.screenshot(path=f"{SHOTS}/rerank-rendering.png", full_page=True)
    images_dispatch(image_ids=images[4:])
    page.wait_for_selector("#ready")
    # The last fragment came with 286 and no polling attributes: polling stopped.
    assert page.get_attribute("#rerank-progress", "hx-trigger") is None
    assert ImageScore.objects.filter(image_id__in=images, metric="clip").count() == 8
    assert set(Image.objects.filter(pk__in=images).values_list("status", flat=True)) == {"done"}
    page.screenshot(path=f"{SHOTS}/rerank-ready.png", full_page=True)
    page.click("#open-study")
    page.wait_for_selector("#pairs-built")
    pairs = Comparison.objects.filter(study=study).count()
    assert pairs >= 3 * 2  # the tournament's 3 pairs per prompt (the pick pair may be one)
    page.screenshot(path=f"{SHOTS}/rerank-open.png", full_page=True)

    # The rater judges every pair on the pairwise screen, with the keyboard.
    context = chromium_browser.new_context(viewport={"width": 1360, "height": 900})
    rating = context.new_page()
    rating.set_default_timeout(60_000)
    browser_login(rating, live_server, "rhea")
    rating.goto(f"{base}/rate/{study.pk}/?go=1")
    rating.wait_for_selector("#pair-card[data-ready] #vote-form")
    judged = 0
    while rating.query_selector("#pair-card[data-presentation]") and judged < 3 * pairs:
        current = rating.eval_on_selector("#pair-card", "el => el.dataset.presentation")
        if judged == 0:
            rating.screenshot(path=f"{SHOTS}/rerank-rate-pair.png", full_page=True)
        rating.keyboard.press("ArrowLeft" if judged % 3 else "ArrowRight")
        rating.keyboard.press("ArrowLeft")
        next_card_wait(rating, current)
        judged += 1
    context.close()
    first_votes = Judgment.objects.filter(rater=judge, is_repeat=False)
    assert first_votes.count() == 2 * pairs
    shown = Presentation.objects.filter(rater=judge, is_repeat=False)
    assert shown.count() == pairs

    # The researcher reads the result: numbers that follow from the votes.
    page.goto(f"{base}/studies/{study.pk}/rerank/")
    page.click("#result-link")
    page.wait_for_selector(".scorer-row")
    adherence = study.criteria.get(key="prompt_adherence")
    pick_pairs = list(RerankPick.objects.filter(study=study))
    won = 0
    for p in pick_pairs:
        # The first judgment of the pair: a swapped-sides repeat (the pairwise screen shows one
        # now and then) is a second row that the result leaves out.
        verdict = Judgment.objects.get(
            comparison=p.comparison, criterion=adherence, rater=judge, is_repeat=False
        )
        won += verdict.winner_id == p.pick_id
    expected = round(100 * won / len(pick_pairs))
    row = page.inner_text("#criterion-prompt_adherence .scorer-row[data-scorer=clip]")
    assert f"wins {expected} %" in row, row
    assert "the favourite in" in row and "of 2 prompts" in row
    page.screenshot(path=f"{SHOTS}/rerank-result.png", full_page=True)
    with page.expect_download() as download:
        page.click("#export-csv")
    rows = list(csv.DictReader(io.StringIO(open(download.value.path()).read())))
    assert {r["scorer"] for r in rows if r["role"] == "pick"} == {"clip"}
    # Every judgment of the study, swapped-sides repeats included (flagged in `is_repeat`).
    exported = {int(r["judgment_id"]) for r in rows}
    assert exported == set(
        Judgment.objects.filter(comparison__study=study).values_list("pk", flat=True)
    )
    assert {int(r["judgment_id"]) for r in rows if r["is_repeat"] == "False"} == set(
        first_votes.values_list("pk", flat=True)
    )
