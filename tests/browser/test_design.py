"""A researcher designs a study in real Chromium and watches tiny-random render it to 100 %.

Launching normally renders inside the launch request (Celery is eager in tests). To watch the
live progress page poll, the test holds rendering back at launch and then renders the images
itself, in two halves, while the browser polls.
"""

from __future__ import annotations

from typing import Any

import pytest

from generation.models import GenerationConfig, Image
from generation.services.rendering import images_dispatch
from ratings.models import Comparison, Study
from ratings.selectors import study_images
from ratings.services import studies as study_services
from tests.factories import PromptFactory, researcher

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SHOTS = "/tmp"


@pytest.fixture
def page(browser_page: Any) -> Any:
    """The shared Chromium page (tests/browser/conftest.py), with room for rendering to finish."""
    browser_page.set_default_timeout(20_000)
    return browser_page


def _percent(page: Any) -> str:
    return str(page.inner_text("#percent")).strip()


def test_researcher_builds_configs_launches_and_watches_rendering(
    page: Any, live_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = live_server.url
    researcher(username="rita")
    PromptFactory(
        text="huggie hoops, small gold hoop earrings, white background",
        category="huggie hoops",
        key_terms=["huggie hoops"],
        material="gold",
    )
    page.goto(f"{base}/accounts/login/")
    page.fill("input[name=username]", "rita")
    page.fill("input[name=password]", "pw")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")

    # A prompt by hand.
    page.click("nav >> text=Prompts")
    page.click("text=New prompt")
    page.fill("textarea[name=text]", "threader earrings, thin gold chain, white background")
    page.fill("input[name=category]", "threader earrings")
    page.fill("input[name=key_terms]", "threader earrings; thin gold chain")
    page.fill("input[name=material]", "gold")
    page.click("button:has-text('Create prompt')")
    page.wait_for_selector("text=Prompt created")
    page.screenshot(path=f"{SHOTS}/loupe-design-prompts.png", full_page=True)

    # A CSV with bad rows imports nothing and names every bad line.
    page.click("text=Import CSV")
    csv = b"text,category\nrose gold band,band\n(broken,band\n,band\n"
    page.set_input_files(
        "input[name=file]", {"name": "p.csv", "mimeType": "text/csv", "buffer": csv}
    )
    page.click("button:has-text('Import')")
    page.wait_for_selector("text=Nothing was imported")
    assert "Line 3: text: Prompt syntax" in page.inner_text(".callout")
    page.screenshot(path=f"{SHOTS}/loupe-design-import-errors.png", full_page=True)
    page.click("nav >> text=Adapters")
    page.wait_for_selector("text=No adapters yet")
    page.screenshot(path=f"{SHOTS}/loupe-design-adapters-empty.png", full_page=True)

    # Configurations from factor levels: 2 samplers × 2 CFG = 4, previewed before creating.
    page.click("nav >> text=Configs")
    page.screenshot(path=f"{SHOTS}/loupe-design-configs-empty.png", full_page=True)
    page.click("text=Build from factor levels")
    page.check("input[name=samplers][value=ddim]")
    page.fill("input[name=steps]", "4")
    page.fill("input[name=cfg]", "5, 7")
    page.fill("input[name=width]", "256")
    page.fill("input[name=height]", "256")
    page.fill("input[name=prompts]", "2")
    page.fill("input[name=seeds]", "1")
    page.fill("input[name=name_prefix]", "Sampler × CFG")
    page.locator("input[name=seeds]").dispatch_event("change")
    page.wait_for_function(
        "() => { const b = document.querySelector('#preview .big');"
        " return b && b.textContent.trim() === '4'; }"
    )
    preview = page.inner_text("#preview")
    assert "All pairs" in preview and "One factor at a time" in preview
    assert GenerationConfig.objects.count() == 0
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=f"{SHOTS}/loupe-design-builder-preview.png", full_page=True)
    page.click("#create-configs")
    page.wait_for_selector("text=Created 4 configurations.")
    assert GenerationConfig.objects.count() == 4
    page.screenshot(path=f"{SHOTS}/loupe-design-configs.png", full_page=True)

    # The study.
    page.click("nav >> text=Studies")
    page.click("a:has-text('New study')")
    page.fill("input[name=name]", "Sampler × CFG on earrings")
    page.fill("textarea[name=instructions]", "Judge **shape and metal**, not the background.")
    for box in page.query_selector_all("input[name=prompts], input[name=configs]"):
        box.check()
    page.fill("input[name=seeds_per_prompt]", "1")
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=f"{SHOTS}/loupe-design-study-form.png", full_page=True)
    page.click("button:has-text('Create study')")
    page.wait_for_selector("text=Check it, then launch it.")
    study = Study.objects.get()
    page.screenshot(path=f"{SHOTS}/loupe-design-study-detail.png", full_page=True)

    # Launch, holding rendering back so the progress page has something to watch.
    monkeypatch.setattr(study_services, "_enqueue_rendering", lambda: None)
    page.click("#launch")
    page.wait_for_url(f"{base}/studies/{study.pk}/progress/")
    assert Comparison.objects.filter(study=study).count() == 6 * 2
    images = list(study_images(study_id=study.pk).order_by("pk").values_list("pk", flat=True))
    assert len(images) == 8
    assert _percent(page) == "0 %"
    assert page.get_attribute("#progress", "hx-trigger") == "every 2s"

    images_dispatch(image_ids=images[:4])  # renders now, in this thread (eager Celery)
    page.wait_for_function("() => document.querySelector('#percent').textContent.trim() === '50 %'")
    page.screenshot(path=f"{SHOTS}/loupe-design-progress-half.png", full_page=True)

    images_dispatch(image_ids=images[4:])
    page.wait_for_selector("#all-done")
    assert _percent(page) == "100 %"
    # The last fragment came with HTTP 286 and without polling attributes: polling stopped.
    assert page.get_attribute("#progress", "hx-trigger") is None
    assert set(Image.objects.filter(pk__in=images).values_list("status", flat=True)) == {"done"}
    page.screenshot(path=f"{SHOTS}/loupe-design-progress-done.png", full_page=True)

    page.click("#open-study")
    page.wait_for_selector("text=is open: its raters can judge it now.")
    study.refresh_from_db()
    assert study.status == Study.Status.OPEN

    # The X/Y grid of a configuration now shows thumbnails.
    config = GenerationConfig.objects.order_by("pk").first()
    assert config is not None
    page.goto(f"{base}/configs/{config.pk}/")
    page.wait_for_selector(".xy-cell img")
    assert page.eval_on_selector(".xy-cell img", "img => img.naturalWidth") > 0
    page.screenshot(path=f"{SHOTS}/loupe-design-config-detail.png", full_page=True)
