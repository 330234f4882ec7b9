"""The decision report in Chromium: the page, and its downloaded file opened offline."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.factories import (
    browser_login,
    csp_violations,
    csp_watch,
    decided_study,
    researcher,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = Path("/tmp/report_shots")
IMAGES_LOADED = "els => els.length > 0 && els.every(i => i.complete && i.naturalWidth > 0)"


def test_report_page_and_offline_download(
    browser_page: Any, chromium_browser: Any, live_server: Any, tmp_path: Path
) -> None:
    study = decided_study(raters=10, name="Channel-set bands: sampler study")
    researcher(username="rita")
    page = browser_page
    messages = csp_watch(page)
    browser_login(page, live_server, "rita")
    response = page.goto(f"{live_server.url}/studies/{study.pk}/report/")
    assert response is not None and response.status == 200
    assert "default-src 'self'" in response.headers["content-security-policy"]
    page.wait_for_load_state("networkidle")

    adherence = page.locator("#criterion-prompt_adherence")
    assert adherence.locator(".report-label").inner_text().lower() == "recommended configuration"
    assert "Secret config 0 euler_a" in adherence.locator(".report-winner").inner_text()
    interval = adherence.locator(".report-interval td").nth(2).inner_text()
    assert re.fullmatch(r"-?\d+\.\d\d to -?\d+\.\d\d", interval), interval
    other = page.locator(".report-criterion").nth(1)
    assert "No configuration is ahead with confidence." in other.inner_text()
    assert page.eval_on_selector_all("img.report-img", IMAGES_LOADED)
    assert page.locator("img.report-img").count() == 8
    assert not csp_violations(messages), "\n".join(csp_violations(messages))
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "report_page.png"), full_page=True)
    page.emulate_media(media="print")
    assert not page.locator(".topbar").is_visible()
    assert not page.locator("#report-download").is_visible()
    # A grid row (prompt, leader's image, runner-up's image) is never split across pages.
    breaks = page.eval_on_selector_all(
        ".report-grid-row", "els => els.map(el => getComputedStyle(el).breakInside)"
    )
    assert breaks and set(breaks) == {"avoid"}
    page.screenshot(path=str(SHOTS / "report_print.png"), full_page=True)
    page.emulate_media(media="screen")

    with page.expect_download() as info:
        page.click("#report-download")
    saved = tmp_path / info.value.suggested_filename
    info.value.save_as(saved)
    assert saved.name.startswith(f"loupe-decision-{study.pk}-") and saved.suffix == ".html"
    html = saved.read_text(encoding="utf-8")
    refs = re.findall(r"""(?:src|href)\s*=\s*["']([^"']*)""", html)
    assert refs and all(ref.startswith("data:image/") for ref in refs), refs[:3]
    assert not re.search(r"https?://|/media/|/static/|url\(", html)

    # Opened from disk, offline, with every request other than the file itself refused.
    offline = chromium_browser.new_context(offline=True, viewport={"width": 1360, "height": 900})
    try:
        reader = offline.new_page()
        requested: list[str] = []
        reader.on("request", lambda request: requested.append(request.url))
        reader.goto(saved.as_uri())
        reader.wait_for_load_state("load")
        assert [u for u in requested if not u.startswith(("file:", "data:"))] == []
        assert reader.locator(".report-label").first.inner_text().lower() == (
            "recommended configuration"
        )
        assert reader.eval_on_selector_all("img.report-img", IMAGES_LOADED)
        assert reader.locator("img.report-img").count() == 8
        # The inline stylesheet applies: the grid is laid out in three columns.
        columns = reader.eval_on_selector(
            ".report-grid-row", "el => getComputedStyle(el).gridTemplateColumns.split(' ').length"
        )
        assert columns == 3
        reader.screenshot(path=str(SHOTS / "report_offline.png"), full_page=True)
    finally:
        offline.close()
