"""A rater judges pairs in real Chromium with the keyboard only."""

from __future__ import annotations

from typing import Any

import pytest

from generation.models import GenerationConfig, Image
from ratings.models import Judgment, Presentation
from tests.factories import blind_leaks, browser_login, rater, ready_study

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SHOTS = "/tmp"


def _card_id(page: Any) -> str | None:
    return page.eval_on_selector("#pair-card", "el => el.dataset.presentation || null")


def _wait_for_new_card(page: Any, old: str) -> None:
    page.wait_for_function(
        "old => { const c = document.getElementById('pair-card');"
        " return c && c.dataset.ready && (c.dataset.presentation || 'done') !== old; }",
        arg=old,
    )


def _forbidden(study: Any) -> list[str]:
    words = ["masters/", "sampler", "euler", "ddim", "dpmpp", "heun", "cfg", "compel", "steps"]
    for config in GenerationConfig.objects.filter(studies=study):
        words += [config.name, config.label, config.fingerprint]
    for image in Image.objects.filter(config__studies=study):
        words += [image.file.name, image.token]
    return [w.lower() for w in words if w]


def test_rater_judges_ten_pairs_with_the_keyboard(browser_page: Any, live_server: Any) -> None:
    study = ready_study(
        n_configs=6,  # 15 pairs
        name="Channel-set bands",
        instructions="We want **modern, clean** jewelry photography, not ornate catalogue shots.",
    )
    person = rater(username="keyboard")
    page = browser_page
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))
    pages: list[str] = []
    browser_login(page, live_server, "keyboard")

    page.goto(f"{live_server.url}/rate/")
    pages.append(page.content())
    page.screenshot(path=f"{SHOTS}/loupe-rate-home.png", full_page=True)
    page.click(f"a[href='/rate/{study.pk}/']")
    page.wait_for_selector("text=Before you start")
    pages.append(page.content())
    page.screenshot(path=f"{SHOTS}/loupe-rate-guide.png", full_page=True)
    page.keyboard.press("Enter")
    page.wait_for_selector("#pair-card[data-ready] #vote-form")  # rate.js is deferred

    pressed: dict[int, tuple[str, str]] = {}
    plan = [("ArrowLeft", "t"), ("ArrowRight", "b"), ("ArrowRight", "ArrowLeft"), ("b", "t")]
    left_is_a: set[bool] = set()
    judged = 0
    while judged < 10 or (len(left_is_a) < 2 and judged < 15):
        current = _card_id(page)
        assert current is not None, "ran out of pairs"
        # Prefetch: the pair on screen was loaded while the previous one was being judged.
        assert page.eval_on_selector_all(
            "#pair-card .frame img", "imgs => imgs.every(i => i.complete && i.naturalWidth > 0)"
        )
        if judged == 1:
            page.screenshot(path=f"{SHOTS}/loupe-rate-pair.png", full_page=True)
        keys = plan[judged % len(plan)]
        for key in keys:
            page.keyboard.press(key)
        pressed[int(current)] = keys
        _wait_for_new_card(page, current)
        pages.append(page.content())
        shown = Presentation.objects.get(pk=int(current))
        left_is_a.add(shown.left_id == shown.comparison.image_a_id)
        judged += 1

    assert left_is_a == {True, False}, "both side orders should have occurred"
    meaning = {"ArrowLeft": "left", "ArrowRight": "right", "t": "tie", "b": "both_bad"}
    keys_by_criterion = ["prompt_adherence", "modern_aesthetic"]
    for pid, keys in pressed.items():
        shown = Presentation.objects.select_related("comparison").get(pk=pid)
        assert shown.rater_id == person.pk and shown.answered_at is not None
        for criterion, key in zip(keys_by_criterion, keys, strict=True):
            judgment = Judgment.objects.get(presentation=shown, criterion__key=criterion)
            side = meaning[key]
            if side == "left":
                assert (judgment.outcome, judgment.winner_id) == ("win", shown.left_id)
            elif side == "right":
                assert (judgment.outcome, judgment.winner_id) == ("win", shown.right.pk)
            else:
                assert (judgment.outcome, judgment.winner_id) == (side, None)
            assert judgment.response_ms is not None
    assert Judgment.objects.filter(rater=person).count() == 2 * len(pressed)

    assert blind_leaks("\n".join(pages) + "\n".join(urls), _forbidden(study)) == []
    image_urls = [u for u in urls if "/media/" in u]
    assert image_urls and all("/media/img/" in u and u.endswith(".webp") for u in image_urls)


def test_undo_loupe_flicker_and_done_summary(browser_page: Any, live_server: Any) -> None:
    study = ready_study(n_configs=3, name="Huggie hoops")  # 3 pairs
    rater(username="looker")
    page = browser_page
    browser_login(page, live_server, "looker")
    page.goto(f"{live_server.url}/rate/{study.pk}/?go=1")
    page.wait_for_selector("#pair-card[data-ready] #vote-form")  # rate.js is deferred
    first = _card_id(page)
    assert first is not None

    # Loupe: the same spot of both images magnified at once.
    left_img = page.locator("#pair-card .shot[data-side=left] .frame img")
    box = left_img.bounding_box()
    assert box is not None
    left_img.hover(position={"x": box["width"] / 2 + 20, "y": box["height"] * 0.3})
    lenses = page.locator("#pair-card .lens:not([hidden])")
    assert lenses.count() == 2
    positions = page.eval_on_selector_all(
        "#pair-card .lens", "ls => ls.map(l => l.style.backgroundPosition)"
    )
    assert positions[0] == positions[1]
    page.screenshot(path=f"{SHOTS}/loupe-rate-loupe.png")
    page.mouse.move(5, 5)

    # Flicker: both images in one place, alternating.
    page.keyboard.press("f")
    page.wait_for_selector("#pair-card .flicker:not([hidden])")
    seen = set()
    for _ in range(6):
        seen.add(page.eval_on_selector("#pair-card .flicker img", "i => i.getAttribute('src')"))
        page.wait_for_timeout(250)
    assert len(seen) == 2
    page.screenshot(path=f"{SHOTS}/loupe-rate-flicker.png")
    page.keyboard.press("f")

    # Vote, then undo with U: the same pair returns and the judgments are gone.
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")
    _wait_for_new_card(page, first)
    page.wait_for_selector("text=Vote recorded.")
    page.screenshot(path=f"{SHOTS}/loupe-rate-toast.png")
    assert Judgment.objects.count() == 2
    after_vote = _card_id(page)
    assert after_vote is not None
    page.keyboard.press("u")
    _wait_for_new_card(page, after_vote)
    assert _card_id(page) == first
    assert Judgment.objects.count() == 0

    # Skip one with S, judge the rest, and the summary shows.
    page.keyboard.press("s")
    _wait_for_new_card(page, first)
    while (current := _card_id(page)) is not None:
        page.keyboard.press("ArrowRight")
        page.keyboard.press("t")
        _wait_for_new_card(page, current)
    page.wait_for_selector("text=thank you")
    page.screenshot(path=f"{SHOTS}/loupe-rate-done.png", full_page=True)
    assert Presentation.objects.filter(skipped_at__isnull=False).count() == 1
    assert "Skipped" in page.content()

    # The guide is one key away.
    page.goto(f"{live_server.url}/rate/{study.pk}/?go=1")
    page.keyboard.press("i")
    page.wait_for_selector("#guide[open]")


def _first_card(page: Any, live_server: Any, study: Any, username: str) -> Any:
    """A new rater signed in, past the guide, with the first pair on screen."""
    person = rater(username=username)
    browser_login(page, live_server, username)
    page.goto(f"{live_server.url}/rate/{study.pk}/")
    page.keyboard.press("Enter")
    page.wait_for_selector("#pair-card[data-ready] #vote-form")  # rate.js is deferred
    return person


def test_enter_right_after_the_last_answer_never_locks_the_card(
    browser_page: Any, live_server: Any
) -> None:
    # The last answer submits on its own after a beat; a rater who also presses Enter sends
    # the vote at once. The pending auto-submit must not fire on the next card (it used to,
    # and the browser's validation then blocked it with the card stuck "sending").
    study = ready_study(n_configs=4, name="Threader earrings")  # 6 pairs
    person = _first_card(browser_page, live_server, study, "quick")
    page = browser_page
    for _ in range(4):
        current = _card_id(page)
        assert current is not None
        for key in ("ArrowLeft", "t", "Enter"):
            page.keyboard.press(key)
        _wait_for_new_card(page, current)
    assert Judgment.objects.filter(rater=person).count() == 8
    # htmx settles a swap by giving the new #vote-form the old one's attributes for a moment
    # (its settle delay), so "is-sending" may be there at first: it must go, not stay stuck.
    page.wait_for_function(
        "() => !document.getElementById('vote-form').classList.contains('is-sending')",
        timeout=3000,
    )


def test_keys_the_moment_a_card_lands_vote_through_htmx(
    browser_page: Any, live_server: Any
) -> None:
    # A fast rater (or a held key) answers the instant a card lands, before htmx has wired up
    # the swapped-in form; no key may then send the form the browser's own way (a page load).
    study = ready_study(n_configs=8, name="Huggie hoops at speed")  # 28 pairs
    person = _first_card(browser_page, live_server, study, "speedy")
    page = browser_page
    page.evaluate("window.__loaded = true")
    navigations: list[str] = []
    page.on(
        "framenavigated",
        lambda frame: navigations.append(frame.url) if frame == page.main_frame else None,
    )
    judged = 25
    current = _card_id(page)
    for _ in range(judged):
        assert current is not None, "ran out of pairs"
        for key in ("ArrowRight", "b", "Enter"):
            page.keyboard.press(key)
        # No pause: the next keys go in as soon as the new card is in the page.
        handle = page.wait_for_function(
            "old => { const c = document.getElementById('pair-card');"
            " return c && (c.dataset.presentation || 'done') !== old && c.dataset.presentation; }",
            arg=current,
            polling="raf",
        )
        current = handle.json_value()
    assert navigations == []
    assert page.evaluate("window.__loaded === true")
    assert Judgment.objects.filter(rater=person).count() == 2 * judged
    assert Presentation.objects.filter(rater=person, answered_at__isnull=False).count() == judged
    page.wait_for_function("document.getElementById('pair-card').dataset.ready")
    assert page.evaluate("document.getElementById('pair-card').contains(document.activeElement)")
    assert page.text_content("#rate-status") == "Vote recorded"
