from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from accounts.models import Invite
from accounts.services import invite_create
from ratings.models import Judgment, Presentation
from ratings.services.judging import deck_deal
from tests.factories import rater, ready_study, researcher

pytestmark = pytest.mark.django_db
User = get_user_model()
STRONG = "amber-threader-hoops-42"


def _link(html: str) -> str:
    match = re.search(r'value="(https?://[^"]+/invite/[^"]+/)"', html)
    assert match, html
    return match.group(1)


def test_team_page_lists_raters_with_progress_and_an_empty_state(client: Client) -> None:
    client.force_login(researcher(username="rita"))
    empty = client.get("/team/").content.decode()
    assert "No raters yet" in empty and "No open invites" in empty
    study = ready_study(n_configs=3, name="Huggie hoops")
    rater(username="ray")
    page = client.get("/team/").content.decode()
    assert "ray" in page and "Huggie hoops" in page and "0</strong> / 3 pairs" in page
    assert 'href="/team/"' in page and 'aria-current="page">Team' in page
    assert study.pk


def test_team_pages_refuse_raters(client: Client) -> None:
    client.force_login(rater(username="ray"))
    for url in ("/team/", "/team/invites/new/", "/accounts/tokens/"):
        assert client.get(url).status_code == 403, url
    assert b"Team" not in client.get("/").content.split(b"<main")[0]


def test_invite_new_shows_the_link_once_and_the_invitee_signs_up(client: Client) -> None:
    client.force_login(researcher(username="rita"))
    study = ready_study(n_configs=2, name="Bands")
    study.rater_groups.clear()
    created = client.post("/team/invites/new/", {"role": "raters", "studies": [study.pk],
                                                 "days": "3", "note": "Ana"})  # fmt: skip
    assert created.status_code == 200 and "no-store" in created["Cache-Control"]
    html = created.content.decode()
    link = _link(html)
    assert "shown only once" in html and 'data-copy="invite-link"' in html
    token = link.rstrip("/").rsplit("/", 1)[1]
    assert token not in client.get("/team/").content.decode()
    assert "Ana" in client.get("/team/").content.decode()

    visitor = Client()
    form = visitor.get(link)
    assert form.status_code == 200 and b"Create my account" in form.content
    mismatch = visitor.post(link, {"username": "ana", "password1": STRONG, "password2": "x"})
    assert b"The two passwords differ." in mismatch.content
    weak = visitor.post(link, {"username": "ana", "password1": "123", "password2": "123"})
    assert weak.status_code == 200 and b"too short" in weak.content
    joined = visitor.post(link, {"username": "ana", "password1": STRONG, "password2": STRONG})
    assert joined.status_code == 302 and joined["Location"] == "/"
    home = visitor.get("/").content.decode()
    assert "Welcome, ana" in home and "Bands" in home
    again = Client().get(link)
    assert again.status_code == 410 and b"cannot be used" in again.content


def test_invite_new_form_errors_name_the_field(client: Client) -> None:
    client.force_login(researcher(username="rita"))
    response = client.post("/team/invites/new/", {"role": "raters", "days": "400"})
    assert response.status_code == 200
    assert b"less than or equal to 90" in response.content
    researcher_role = client.post("/team/invites/new/", {"role": "researchers", "days": "7"})
    assert b"Select a valid choice" in researcher_role.content
    assert not Invite.objects.exists()


def test_invite_revoke_view_kills_the_link(client: Client) -> None:
    boss = researcher(username="rita")
    issued = invite_create(actor=boss)
    client.force_login(boss)
    response = client.post(f"/team/invites/{issued.invite.pk}/revoke/", follow=True)
    assert b"Invite revoked" in response.content
    assert Client().get(f"/invite/{issued.token}/").status_code == 410


def test_deactivated_rater_cannot_log_in_or_vote_and_keeps_votes(client: Client) -> None:
    study = ready_study(n_configs=3)
    judge = rater(username="ray")
    judge_client = Client()
    judge_client.force_login(judge)
    card = deck_deal(rater=judge, study=study).current
    assert card is not None
    votes = {f"c-{c.key}": "left" for c in study.criteria.all()}
    first = judge_client.post(f"/rate/{study.pk}/vote/", {"presentation": card.pk, **votes},
                              HTTP_HX_REQUEST="true")  # fmt: skip
    assert first.status_code == 200
    kept = Judgment.objects.filter(rater=judge).count()
    assert kept == study.criteria.count()
    pending = deck_deal(rater=judge, study=study).current
    assert pending is not None

    client.force_login(researcher(username="rita"))
    done = client.post(f"/team/members/{judge.pk}/active/", {"action": "deactivate"}, follow=True)
    assert b"can no longer log in or vote" in done.content and b"deactivated" in done.content

    refused = judge_client.post(f"/rate/{study.pk}/vote/", {"presentation": pending.pk, **votes})
    assert refused.status_code == 302 and refused["Location"].startswith("/accounts/login/")
    assert Judgment.objects.filter(rater=judge).count() == kept
    assert Presentation.objects.get(pk=pending.pk).answered_at is None
    login = Client().post("/accounts/login/", {"username": "ray", "password": "pw"})
    assert login.status_code == 200 and b"correct username" in login.content

    client.post(f"/team/members/{judge.pk}/active/", {"action": "reactivate"})
    assert Client().login(username="ray", password="pw")


def test_team_member_active_bad_action_is_400_and_only_raters_are_managed(
    client: Client,
) -> None:
    client.force_login(researcher(username="rita"))
    judge = rater(username="ray")
    assert client.post(f"/team/members/{judge.pk}/active/", {"action": "x"}).status_code == 400
    # As on the member page and in the API (accounts.selectors.team_member_get): anyone but a
    # rater is not a team member here, even for staff; the admin manages them.
    root = User.objects.create_superuser("root", "root@example.com", "pw")
    other = researcher(username="rob")
    nobody = User.objects.create_user("nemo", password="pw")
    for who, actor in ((root, "rita"), (other, "root"), (nobody, "root")):
        client.force_login(User.objects.get(username=actor))
        page = client.post(f"/team/members/{who.pk}/active/", {"action": "deactivate"})
        assert page.status_code == 404, who
        assert client.get(f"/api/team/raters/{who.pk}/").status_code == 404, who
        who.refresh_from_db()
        assert who.is_active, who


def test_team_member_page_assigns_studies_and_groups(client: Client) -> None:
    from django.contrib.auth.models import Group

    client.force_login(researcher(username="rita"))
    study = ready_study(n_configs=2, name="Threaders")
    study.rater_groups.clear()
    panel = Group.objects.create(name="panel")
    judge = rater(username="ray")
    page = client.get(f"/team/members/{judge.pk}/").content.decode()
    assert "No studies yet" in page and "panel" in page
    saved = client.post(f"/team/members/{judge.pk}/",
                        {"studies": [study.pk], "groups": [panel.pk]}, follow=True)  # fmt: skip
    html = saved.content.decode()
    assert "Saved ray" in html and "Threaders" in html and "0 / 1" in html
    assert list(judge.rater_studies.all()) == [study]
    bad = client.post(f"/team/members/{judge.pk}/", {"studies": ["99999"]})
    assert bad.status_code == 200 and b"Select a valid choice" in bad.content
    assert client.get(f"/team/members/{User.objects.get(username='rita').pk}/").status_code == 404


def test_password_change_for_raters_and_researchers(client: Client) -> None:
    for person in (rater(username="ray"), researcher(username="rita")):
        client.force_login(person)
        assert b'href="/accounts/password/"' in client.get("/").content
        wrong = client.post("/accounts/password/", {"old_password": "nope",
                            "new_password1": STRONG, "new_password2": STRONG})  # fmt: skip
        assert wrong.status_code == 200 and b"old password was entered incorrectly" in wrong.content
        weak = client.post("/accounts/password/", {"old_password": "pw",
                           "new_password1": "abc", "new_password2": "abc"})  # fmt: skip
        assert b"too short" in weak.content
        done = client.post("/accounts/password/", {"old_password": "pw",
                           "new_password1": STRONG, "new_password2": STRONG}, follow=True)  # fmt: skip
        assert b"Password changed" in done.content
        assert client.get("/").status_code == 200  # the session survives the change
        assert Client().login(username=person.username, password=STRONG)


def test_api_tokens_page_shows_the_key_once_and_revoked_tokens_answer_401(
    client: Client,
) -> None:
    boss = researcher(username="rita")
    client.force_login(boss)
    assert b"No tokens yet" in client.get("/accounts/tokens/").content
    created = client.post("/accounts/tokens/", {"name": "export script"})
    html = created.content.decode()
    key = re.search(r'value="(loupe_[^"]+)"', html)
    assert key, html
    key_text = key.group(1)
    assert "Authorization: Token " + key_text in html and "no-store" in created["Cache-Control"]
    listing = client.get("/accounts/tokens/").content.decode()
    assert key_text not in listing and key_text[:12] in listing

    api = Client()
    auth: dict[str, Any] = {"HTTP_AUTHORIZATION": f"Token {key_text}"}
    assert api.get("/api/studies/", **auth).status_code == 200
    token_id = boss.api_tokens.get().pk
    client.post(f"/accounts/tokens/{token_id}/revoke/")
    revoked = api.get("/api/studies/", **auth)
    assert revoked.status_code == 401 and revoked["WWW-Authenticate"] == "Token"
    assert api.get("/api/studies/", HTTP_AUTHORIZATION="Token loupe_forged").status_code == 401
    blank = client.post("/accounts/tokens/", {"name": ""})
    assert b"This field is required" in blank.content


def test_api_token_of_a_deactivated_rater_or_researcher_is_refused(client: Client) -> None:
    from accounts.services import api_token_create, team_member_set_active

    boss = researcher(username="rita")
    root = User.objects.create_superuser("root", "root@example.com", "pw")
    key = api_token_create(user=boss, name="x").key
    team_member_set_active(actor=root, member=boss, active=False)
    response = client.get("/api/studies/", HTTP_AUTHORIZATION=f"Token {key}")
    assert response.status_code == 401


def test_api_token_revoke_view_is_404_for_someone_elses_token(client: Client) -> None:
    from accounts.services import api_token_create

    theirs = api_token_create(user=researcher(username="rex"), name="x")
    client.force_login(researcher(username="rita"))
    assert client.post(f"/accounts/tokens/{theirs.token.pk}/revoke/").status_code == 404
    theirs.token.refresh_from_db()
    assert theirs.token.revoked_at is None


def test_team_urls_with_out_of_range_ids_are_404(client: Client) -> None:
    client.force_login(researcher(username="rita"))
    huge = 2**70
    for url in (f"/team/members/{huge}/", f"/team/members/{huge}/active/",
                f"/team/invites/{huge}/revoke/", f"/accounts/tokens/{huge}/revoke/"):  # fmt: skip
        response = client.post(url, {"action": "deactivate"})
        assert response.status_code == 404, url
    assert Client().get("/invite/" + "x" * 5000 + "/").status_code == 410
