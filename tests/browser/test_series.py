"""A checkpoint series in Chromium, from registering the training run to reading its chart:
the grid renders with the tiny-random model (eager Celery in the live server), the loupe
steps through training, the study reuses the grid's images, raters vote, the result reads."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.contrib.auth.models import Group

from evalsite.roles import RATERS
from generation.models import CheckpointSeries, Image
from generation.series_demo import demo_series_write
from ratings.models import Judgment, Study
from tests.factories import (
    PromptFactory,
    browser_login,
    csp_violations,
    csp_watch,
    make_config,
    next_card_wait,
    rater,
    researcher,
    vote,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SHOTS = Path(os.environ.get("LOUPE_SHOTS", "/tmp/loupe-shots"))
IMAGES_LOADED = "els => els.length > 0 && els.every(i => i.complete && i.naturalWidth > 0)"


def _simulated_votes(study: Study) -> None:
    """Twelve raters prefer later checkpoints (Bradley–Terry, strength = step / 250)."""
    rng = np.random.default_rng(11)
    steps = dict(CheckpointSeries.objects.get().checkpoints.values_list("config_id", "step"))
    criteria = list(study.criteria.all())
    comparisons = list(study.comparisons.select_related("image_a", "image_b"))
    for r in range(12):
        user = rater(username=f"sim{r}")
        for comp in comparisons:
            gap = (steps[comp.image_a.config_id] - steps[comp.image_b.config_id]) / 250
            for criterion in criteria:
                won = rng.random() < 1 / (1 + np.exp(-gap))
                vote(comp, user, criterion, "a" if won else "b", left="a" if r % 2 else "b")


def test_series_from_registration_to_the_chart(
    browser_page: Any, live_server: Any, settings: Any
) -> None:
    root = Path(settings.LOUPE_ADAPTER_ROOTS[0])
    demo_series_write(root / "run-7")
    base = make_config(name="Tiny base", sampler="euler_a", steps=4)
    prompt = PromptFactory(text="huggie hoops, small gold hoop earrings, white background")
    researcher(username="rita")
    rater(username="ruth")
    raters = Group.objects.get(name=RATERS)
    page = browser_page
    messages = csp_watch(page)
    SHOTS.mkdir(parents=True, exist_ok=True)
    browser_login(page, live_server, "rita")

    # Register: a bad folder is named, then the real one.
    page.goto(f"{live_server.url}/series/")
    page.click("nav.nav a:has-text('Series')")
    page.fill("input[name=name]", "Huggie LoRA run 7")
    page.fill("input[name=folder]", "no-such-run")
    page.select_option("select[name=base_config]", str(base.pk))
    page.click("#series-register button[type=submit]")
    assert page.locator("text=No folder at that path in the adapter folders.").is_visible()
    page.fill("input[name=folder]", "run-7")
    page.click("#series-register button[type=submit]")
    page.wait_for_selector("text=Registered Huggie LoRA run 7: 4 checkpoints and 41 loss rows.")
    series = CheckpointSeries.objects.get()
    assert page.url.endswith(f"/series/{series.pk}/")

    # Render the grid: 4 checkpoints × 1 prompt × 2 seeds with the tiny model.
    page.check(f"#series-render input[name=prompts][value='{prompt.pk}']")
    page.fill("#series-render input[name=seeds]", "1234, 1235")
    page.click("#series-render button[type=submit]", timeout=180_000)
    page.wait_for_selector("#grid-percent:has-text('100 %')", timeout=120_000)
    assert page.locator(".series-grid .xy-head strong").all_inner_texts() == [
        "step 250", "step 500", "step 750", "step 1000"]  # fmt: skip
    assert page.locator(".series-grid img").count() == 8
    assert page.eval_on_selector_all(".series-grid img", IMAGES_LOADED)
    page.screenshot(path=str(SHOTS / "series-grid.png"), full_page=True)

    # The loupe: the second checkpoint of the first row, ← and → step through training.
    page.locator(".series-grid .xy-cell a").nth(1).click()
    page.wait_for_selector("h1:has-text('Step 500')")
    page.hover("#loupe-image")
    page.wait_for_selector(".loupe-lens:not([hidden])")
    page.screenshot(path=str(SHOTS / "series-loupe-browser.png"), full_page=True)
    page.keyboard.press("ArrowRight")
    page.wait_for_selector("h1:has-text('Step 750')")
    page.keyboard.press("ArrowLeft")
    page.wait_for_selector("h1:has-text('Step 500')")

    # A study over the series: every pair of checkpoints, on the grid's seeds.
    page.goto(f"{live_server.url}/series/{series.pk}/")
    page.click("#series-study-link")
    page.fill("input[name=name]", "Huggie run 7: which checkpoint?")
    page.check(f"#series-study-form input[name=prompts][value='{prompt.pk}']")
    page.fill("input[name=seeds_per_prompt]", "2")
    page.check(f"#series-study-form input[name=rater_groups][value='{raters.pk}']")
    page.click("#series-study-form button[type=submit]")
    study = Study.objects.get()
    page.wait_for_url(f"**/studies/{study.pk}/")
    page.click("#launch")
    page.wait_for_selector("#all-done")
    # The grid's images were reused: 8 images in all, every one rendered once.
    assert Image.objects.count() == 8 and study.comparisons.count() == 12
    page.click("#open-study")
    page.wait_for_selector("#close-study")

    # A rater judges three pairs with the keyboard on the ordinary pairwise screen.
    judge = page.context.browser.new_context(viewport={"width": 1360, "height": 900})
    try:
        card = judge.new_page()
        card.set_default_timeout(10_000)
        browser_login(card, live_server, "ruth")
        card.goto(f"{live_server.url}/rate/{study.pk}/")
        card.wait_for_selector("text=Before you start")
        card.keyboard.press("Enter")
        card.wait_for_selector("#pair-card[data-ready] #vote-form")
        for _ in range(3):
            shown = card.eval_on_selector("#pair-card", "el => el.dataset.presentation")
            card.keyboard.press("ArrowRight")
            card.keyboard.press("ArrowRight")
            next_card_wait(card, shown)
        card.screenshot(path=str(SHOTS / "series-rate.png"))
    finally:
        judge.close()
    assert Judgment.objects.filter(rater__username="ruth").count() == 3 * study.criteria.count()
    _simulated_votes(study)
    page.goto(f"{live_server.url}/studies/{study.pk}/")
    page.click("#series-result-link")
    page.click("nav.an-tabs a:has-text('Prompt adherence')")
    page.wait_for_selector("svg.series-chart")
    assert page.locator("svg.series-chart circle.ser-strength").count() == 4
    assert page.locator("svg.series-chart polyline.ser-loss").count() == 1
    steps = page.locator("#series-table tbody tr td:first-child").all_inner_texts()
    assert steps == ["250", "500", "750", "1000"]
    strengths = [
        float(s) for s in page.locator("#series-table tbody tr td:nth-child(2)").all_inner_texts()
    ]
    assert strengths == sorted(strengths) and strengths[-1] > 0 > strengths[0]
    verdict = page.inner_text("#series-verdict")
    assert re.search(r"(Step 1000 is preferred with confidence|step 1000 leads)", verdict), verdict
    page.screenshot(path=str(SHOTS / "series-result-browser.png"), full_page=True)
    with page.expect_download() as info:
        page.click("#series-csv")
    lines = Path(info.value.path()).read_text().splitlines()
    assert lines[0].startswith("step,config_id,strength,ci_low,ci_high")
    assert [line.split(",")[0] for line in lines[1:]] == ["250", "500", "750", "1000"]
    assert not csp_violations(messages), "\n".join(csp_violations(messages))
