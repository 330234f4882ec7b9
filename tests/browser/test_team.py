"""Team in a real browser: a researcher invites a rater, who signs up from the link and judges."""

from __future__ import annotations

import os
from typing import Any

import pytest
from django.contrib.auth import get_user_model

from accounts.models import Invite
from tests.factories import browser_login, csp_violations, csp_watch, ready_study, researcher

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
STRONG = "amber-threader-hoops-42"


def test_invite_copy_sign_up_and_deactivate_in_chromium(
    browser_page: Any, chromium_browser: Any, live_server: Any
) -> None:
    study = ready_study(n_configs=3, name="Huggie hoops")
    study.rater_groups.clear()  # only raters named on it may judge it
    researcher(username="rita")
    page = browser_page
    messages = csp_watch(page)
    browser_login(page, live_server, "rita")
    page.click("header nav >> text=Team")
    page.wait_for_selector("text=No raters yet")
    page.click("main >> text=Invite a rater >> nth=0")
    page.check(f"input[name=studies][value='{study.pk}']")
    page.fill("input[name=note]", "Ana from the studio")
    page.click("button:has-text('Create invite link')")
    page.wait_for_selector("text=shown only once")
    link = page.input_value("#invite-link")
    assert link.startswith(live_server.url + "/invite/")
    page.click("button[data-copy=invite-link]")
    page.wait_for_selector("button[data-copy=invite-link]:has-text('Copied')")
    shots = os.environ.get("LOUPE_SCREENSHOTS")
    if shots:
        page.screenshot(path=f"{shots}/invite_created.png", full_page=True)

    invitee = chromium_browser.new_context(viewport={"width": 1280, "height": 900})
    other = invitee.new_page()
    other_messages = csp_watch(other)
    other.goto(link)
    other.fill("input[name=username]", "ana")
    other.fill("input[name=password1]", STRONG)
    other.fill("input[name=password2]", "different-one-42")
    other.click("button:has-text('Create my account')")
    other.wait_for_selector("text=The two passwords differ.")
    other.fill("input[name=password1]", STRONG)
    other.fill("input[name=password2]", STRONG)
    other.click("button:has-text('Create my account')")
    other.wait_for_selector("text=Welcome, ana")
    assert "Huggie hoops" in other.inner_text("main")
    ana = get_user_model().objects.get(username="ana")
    assert list(ana.rater_studies.all()) == [study]
    assert Invite.objects.get().used_by == ana

    page.click("header nav >> text=Team")
    row = page.locator("table.team tr", has_text="ana")
    assert "0 / 3 pairs" in row.inner_text()
    if shots:
        page.screenshot(path=f"{shots}/team.png", full_page=True)
    row.locator("button:has-text('Deactivate')").click()
    page.wait_for_selector("text=can no longer log in or vote")
    ana.refresh_from_db()
    assert not ana.is_active
    # The deactivated rater's next page is the login page.
    other.goto(f"{live_server.url}/rate/")
    assert "/accounts/login/" in other.url
    invitee.close()

    page.click("header nav >> text=API tokens")
    page.fill("input[name=name]", "export script")
    page.click("button:has-text('Create token')")
    key = page.input_value("#new-token")
    assert key.startswith("loupe_")
    if shots:
        page.screenshot(path=f"{shots}/tokens.png", full_page=True)
    csp = csp_violations(messages) + csp_violations(other_messages)
    assert not csp, "\n".join(csp)
