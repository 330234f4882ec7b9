"""A checklist study in real Chromium, from creation to its results, with the tiny models:
tiny-random renders the images, a rater answers with the keyboard, the tiny CLIP labels."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from generation.engine.testing_scorers import save_tiny_clip
from generation.models import Image, ImageScore
from ratings.checklists.models import ChecklistAnswer, ChecklistLabel
from ratings.models import Study
from tests.factories import PromptFactory, browser_login, make_config, rater, researcher

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SHOTS = "/tmp"


def test_researcher_runs_a_checklist_study_and_reads_its_results(
    browser_page: Any, chromium_browser: Any, live_server: Any, settings: Any, tmp_path: Path
) -> None:
    settings.LOUPE_SCORERS = {"clip": str(save_tiny_clip(tmp_path / "clip"))}
    settings.LOUPE_RENDER_DEVICE = "cpu"
    base = live_server.url
    researcher(username="rita")
    rater(username="ray")
    PromptFactory(
        text="huggie hoops, yellow gold, white background",
        category="huggie hoops",
        key_terms=["huggie hoops"],
        material="yellow gold",
        background="white background",
    )
    for sampler in ("euler_a", "ddim"):
        make_config(sampler=sampler, steps=2)
    page = browser_page
    page.set_default_timeout(30_000)
    browser_login(page, live_server, "rita")

    # Create: a bad schema line is named, then the study saves.
    page.goto(f"{base}/")
    page.click("a:has-text('New checklist study')")
    page.fill("input[name=name]", "Hoops checklist")
    for box in page.query_selector_all("input[name=prompts], input[name=configs]"):
        box.check()
    page.fill("input[name=seeds_per_prompt]", "2")
    page.fill("textarea[name=schema]", "Metal (metal): yellow gold, silver")
    page.click("button:has-text('Create checklist study')")
    page.wait_for_selector("text=is not a prompt attribute")
    assert not Study.objects.exists()
    page.fill(
        "textarea[name=schema]",
        "Metal (material): yellow gold, white gold, silver\n"
        "Background (background): white background, marble",
    )
    page.screenshot(path=f"{SHOTS}/checklist-form.png", full_page=True)
    page.click("button:has-text('Create checklist study')")
    page.wait_for_selector("#checklist-schema")
    study = Study.objects.get()
    assert study.kind == Study.Kind.CHECKLIST

    # Launch: tiny-random renders the 4 images in the request (Celery is eager in tests).
    page.click("#launch")
    page.wait_for_selector("#all-done")
    assert Image.objects.filter(status=Image.Status.DONE).count() == 4
    page.click("#open-study")
    page.wait_for_selector("text=is open: its raters can judge it now.")

    # A rater answers every image with the keyboard; the next image is already loaded.
    context = chromium_browser.new_context(viewport={"width": 1280, "height": 900})
    rating = context.new_page()
    rating.set_default_timeout(30_000)
    browser_login(rating, live_server, "ray")
    rating.goto(f"{base}/rate/")
    rating.click("a:has-text('Open checklist')")
    rating.wait_for_selector("#checklist-card[data-ready] #checklist-form")
    # Nothing sent yet, nothing announced.
    assert rating.text_content("#rate-status") == ""
    rating.screenshot(path=f"{SHOTS}/checklist-rate.png", full_page=True)
    plan = ["y", "n", "3", "y"]
    seen = set()
    for n in range(4):
        showing = rating.get_attribute("#checklist-card", "data-showing")
        assert showing and showing not in seen
        seen.add(showing)
        # The card is ready before its image has finished decoding: wait for the picture.
        rating.wait_for_function(
            "() => { const img = document.querySelector('#checklist-card .frame img');"
            " return img && img.complete && img.naturalWidth > 0; }"
        )
        items = rating.locator("#checklist-form .checklist-item").count()
        assert items == 3  # huggie hoops, Metal: yellow gold?, Background: white background?
        for i in range(items):
            rating.keyboard.press(plan[(n + i) % len(plan)])
        rating.wait_for_function(
            "old => { const c = document.getElementById('checklist-card');"
            " return c && c.dataset.ready && (c.dataset.showing || 'done') !== old; }",
            arg=showing,
        )
        rating.wait_for_function(
            "() => document.getElementById('rate-status').textContent === 'Answers recorded'"
        )
    rating.wait_for_selector("text=That's every image")
    assert ChecklistAnswer.objects.filter(study=study).count() == 12
    context.close()

    # Results, then the tiny CLIP labeller beside the people.
    page.goto(f"{base}/studies/{study.pk}/")
    page.click("a:has-text('Checklist results')")
    page.wait_for_selector("text=12 answers from 1 rater on 4 of 4 images")
    page.click("button:has-text('Run labeller clip')")
    page.wait_for_selector("text=is answering the checklist on a worker")
    assert ChecklistLabel.objects.filter(study=study, labeller="clip").count() == 12
    assert ImageScore.objects.filter(metric="checklist:clip").count() == 4
    page.wait_for_selector("#agreement th:has-text('clip')")
    cells = page.locator("#adherence tbody tr").count()
    assert cells == 2  # one row per configuration
    assert page.locator("#adherence .ci").count() >= 6
    page.screenshot(path=f"{SHOTS}/checklist-results.png", full_page=True)
    download = page.expect_download()
    with download as info:
        page.click("a:has-text('Download CSV')")
    text = Path(info.value.path()).read_text()
    assert text.count("\n") == 1 + 12 + 12  # header, people, labeller
