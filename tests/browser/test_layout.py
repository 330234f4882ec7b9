"""Every researcher page fits a 1280-px window: no sideways scrolling of the whole page."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from generation.models import LoraAdapter
from generation.services.configs import config_create
from tests.factories import (
    answered_checklist_study,
    browser_login,
    make_config,
    ready_study,
    rerank_ready_study,
    researcher,
    series_over,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
WIDTH = 1280
# Screenshots for a person to look at; LOUPE_SHOTS picks the folder.
SHOTS = Path(os.environ.get("LOUPE_SHOTS", "/tmp/loupe-shots"))


def _overflow(page: Any) -> int:
    """Pixels the page, or the widest card or table inside it, runs past its box."""
    page_over = int(page.evaluate("document.documentElement.scrollWidth")) - WIDTH
    # A card or table with overflow hidden clips instead of widening the page: count that too.
    clipped = int(
        page.evaluate(
            "Math.max(0, ...Array.from(document.querySelectorAll('.card, .table'))"
            ".map(e => e.scrollWidth - e.clientWidth - 1))"
        )
    )
    return max(page_over, clipped)


def test_researcher_pages_fit_a_1280_px_window(browser_page: Any, live_server: Any) -> None:
    page = browser_page
    page.set_viewport_size({"width": WIDTH, "height": 900})
    researcher(username="rita")
    phol = LoraAdapter.objects.create(name="phol-threader-earrings-v2", weights="w.safetensors",
                                      sha256="a" * 64, trigger_token="phol")  # fmt: skip
    long_negative = "low quality, clutter, vintage, overly ornate, blurry, deformed prongs"
    for cfg in (5.0, 7.5, 9.0):
        config_create(**{**make_config(sampler="dpmpp_2m_karras").params(), "cfg": cfg,
                         "negative_prompt": long_negative, "name": f"karras cfg {cfg}"},
                      adapters=[(phol, 0.8)])  # fmt: skip
    study = ready_study(n_configs=3, name="Threader earrings: sampler and CFG")
    best_of = rerank_ready_study(votes_by=2)
    checklist = answered_checklist_study(n_configs=3, name="Channel-set bands: checklist")
    series = series_over(study)
    image = study.comparisons.first().image_a  # type: ignore[union-attr]
    browser_login(page, live_server, "rita")
    SHOTS.mkdir(parents=True, exist_ok=True)
    too_wide = {}
    for name, path in [
        ("studies", "/"),
        ("configs", "/configs/"),
        ("builder", "/configs/build/"),
        ("adapters", "/adapters/"),
        ("prompts", "/prompts/"),
        ("study", f"/studies/{study.pk}/"),
        ("progress", f"/studies/{study.pk}/progress/"),
        ("analysis", f"/studies/{study.pk}/analysis/?outcome=all"),
        ("report", f"/studies/{study.pk}/report/"),
        ("rerank-new", "/studies/rerank/new/"),
        ("rerank-study", f"/studies/{best_of.pk}/rerank/"),
        ("rerank-result", f"/studies/{best_of.pk}/rerank/result/"),
        ("checklist-new", "/studies/checklist/new/"),
        ("checklist-study", f"/studies/{checklist.pk}/"),
        ("checklist-results", f"/studies/{checklist.pk}/checklist/"),
        ("checklist-edit", f"/studies/{checklist.pk}/checklist/edit/"),
        ("series-list", "/series/"),
        ("series", f"/series/{series.pk}/"),
        ("series-loupe", f"/series/{series.pk}/images/{image.pk}/"),
        ("series-study", f"/series/{series.pk}/study/new/"),
        ("series-result", f"/studies/{study.pk}/series/"),
    ]:
        page.goto(live_server.url + path)
        if name == "builder":
            page.check("input[name=samplers][value=euler_a]")
            page.check("input[name=samplers][value=dpmpp_2m_karras]")
            page.fill("input[name=steps]", "20, 30, 50")
            page.fill("input[name=cfg]", "5, 7, 9")
            page.fill("textarea[name=negative_prompts]", long_negative + "\n(none)")
            page.select_option("select[name=adapter]", str(phol.pk))
            page.fill("input[name=adapter_scales]", "0, 0.8")
            page.click("button[name=action][value=preview]")
            page.wait_for_load_state("networkidle")
        page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
        if _overflow(page) > 0:
            too_wide[name] = _overflow(page)
    assert too_wide == {}, f"pages wider than {WIDTH} px (by px): {too_wide}; see {SHOTS}"
