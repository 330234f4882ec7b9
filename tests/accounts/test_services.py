from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.utils import timezone

from accounts.models import ApiToken, Invite
from accounts.selectors import api_token_for_key, team_members
from accounts.services import (
    api_token_create,
    api_token_revoke,
    invite_accept,
    invite_create,
    invite_revoke,
    team_member_assign,
    team_member_set_active,
)
from evalsite.roles import RATERS, RESEARCHERS, is_rater, is_researcher
from ratings.selectors import studies_for_rater
from ratings.services.judging import deck_deal, judgments_record
from tests.factories import rater, ready_study, researcher

pytestmark = pytest.mark.django_db
User = get_user_model()
STRONG = "amber-threader-hoops-42"


def test_invite_create_stores_only_the_hash_of_the_token() -> None:
    boss = researcher(username="rita")
    issued = invite_create(actor=boss)
    invite = Invite.objects.get()
    assert issued.token not in invite.token_hash and len(issued.token) >= 40
    assert invite.token_hash == hashlib.sha256(issued.token.encode()).hexdigest()
    assert invite.role == RATERS and invite.created_by == boss
    days = (invite.expires_at - invite.created_at).total_seconds() / 86400
    assert days == pytest.approx(7, abs=0.01)
    second = invite_create(actor=boss, days=2)
    assert second.token != issued.token
    assert (second.invite.expires_at - timezone.now()) < timedelta(days=2, minutes=1)


def test_invite_create_refuses_bad_days_roles_and_role_groups() -> None:
    boss = researcher(username="rita")
    with pytest.raises(ValidationError) as days:
        invite_create(actor=boss, days=0)
    assert "days" in days.value.message_dict
    with pytest.raises(ValidationError) as role:
        invite_create(actor=boss, role=RESEARCHERS)
    assert "Only staff may invite researchers" in role.value.message_dict["role"][0]
    with pytest.raises(ValidationError) as groups:
        invite_create(actor=boss, groups=[Group.objects.get(name=RESEARCHERS)])
    assert "groups" in groups.value.message_dict
    with pytest.raises(ValidationError):
        invite_create(actor=rater(username="ray"))
    assert not Invite.objects.exists()


def test_invite_accept_creates_a_rater_with_the_chosen_studies_and_groups() -> None:
    boss = researcher(username="rita")
    study = ready_study(n_configs=2, open_to_raters=False)
    study.rater_groups.clear()
    other = ready_study(n_configs=2)
    other.rater_groups.clear()
    panel = Group.objects.create(name="jewelry panel")
    other.rater_groups.add(panel)
    issued = invite_create(actor=boss, studies=[study], groups=[panel], note="Ana")
    ana = invite_accept(token=issued.token, username="ana", password=STRONG)
    assert ana.check_password(STRONG) and ana.is_active and not ana.is_staff
    assert is_rater(ana) and not is_researcher(ana)
    assert set(ana.groups.values_list("name", flat=True)) == {RATERS, "jewelry panel"}
    assert list(ana.rater_studies.all()) == [study]
    study.status = "open"
    study.save()
    assert set(studies_for_rater(user=ana)) == {study, other}
    invite = Invite.objects.get()
    assert invite.used_by == ana and invite.used_at is not None


def test_invite_accept_is_single_use() -> None:
    issued = invite_create(actor=researcher(username="rita"))
    invite_accept(token=issued.token, username="ana", password=STRONG)
    with pytest.raises(ValidationError, match="already used"):
        invite_accept(token=issued.token, username="bob", password=STRONG)
    assert not User.objects.filter(username="bob").exists()


def test_invite_accept_refuses_expired_revoked_and_unknown_tokens() -> None:
    boss = researcher(username="rita")
    expired = invite_create(actor=boss)
    Invite.objects.filter(pk=expired.invite.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    revoked = invite_create(actor=boss)
    assert invite_revoke(invite=revoked.invite, actor=boss)
    assert not invite_revoke(invite=revoked.invite, actor=boss)
    for token in (expired.token, revoked.token, "no-such-token"):
        with pytest.raises(ValidationError, match="expired, was already used, or was revoked"):
            invite_accept(token=token, username="ana", password=STRONG)
    assert not User.objects.filter(username="ana").exists()


def test_invite_accept_refused_password_leaves_the_invite_usable() -> None:
    issued = invite_create(actor=researcher(username="rita"))
    with pytest.raises(ValidationError) as weak:
        invite_accept(token=issued.token, username="ana", password="password")
    assert "too common" in " ".join(weak.value.message_dict["password"])
    with pytest.raises(ValidationError) as taken:
        invite_accept(token=issued.token, username="RITA", password=STRONG)
    assert "taken" in taken.value.message_dict["username"][0]
    with pytest.raises(ValidationError) as bad:
        invite_accept(token=issued.token, username="ana lee!", password="abc")
    assert set(bad.value.message_dict) == {"username", "password"}
    assert Invite.objects.get().used_at is None
    assert invite_accept(token=issued.token, username="ana", password=STRONG).username == "ana"


def test_invite_accept_researcher_role_when_staff_invites() -> None:
    root = User.objects.create_superuser("root", "root@example.com", "pw")
    issued = invite_create(actor=root, role=RESEARCHERS)
    person = invite_accept(token=issued.token, username="rex", password=STRONG)
    assert is_researcher(person) and not person.is_staff


def test_team_member_set_active_deactivates_and_keeps_votes() -> None:
    boss = researcher(username="rita")
    study = ready_study(n_configs=3)
    judge = rater(username="ray")
    card = deck_deal(rater=judge, study=study).current
    assert card is not None
    judgments_record(
        rater=judge, presentation_id=card.pk, votes={c.key: "left" for c in study.criteria.all()}
    )
    assert team_member_set_active(actor=boss, member=judge, active=False)
    assert not team_member_set_active(actor=boss, member=judge, active=False)
    judge.refresh_from_db()
    assert not judge.is_active and judge.judgments.count() == study.criteria.count()
    assert team_member_set_active(actor=boss, member=judge, active=True)


def test_team_member_set_active_refuses_self_staff_and_researchers() -> None:
    boss = researcher(username="rita")
    peer = researcher(username="rex")
    root = User.objects.create_superuser("root", "root@example.com", "pw")
    for member in (boss, peer, root):
        with pytest.raises(ValidationError):
            team_member_set_active(actor=boss, member=member, active=False)
    with pytest.raises(ValidationError):
        team_member_set_active(actor=rater(username="ray"), member=rater(), active=False)
    assert User.objects.filter(is_active=False).count() == 0
    # Staff may manage researchers.
    assert team_member_set_active(actor=root, member=peer, active=False)


def test_team_member_assign_sets_studies_and_groups_and_keeps_the_role() -> None:
    boss = researcher(username="rita")
    study = ready_study(n_configs=2)
    study.rater_groups.clear()
    judge = rater(username="ray")
    assert list(studies_for_rater(user=judge)) == []
    panel = Group.objects.create(name="panel")
    team_member_assign(actor=boss, member=judge, studies=[study], groups=[panel])
    assert list(studies_for_rater(user=judge)) == [study]
    assert set(judge.groups.values_list("name", flat=True)) == {RATERS, "panel"}
    team_member_assign(actor=boss, member=judge, studies=[], groups=[])
    assert list(studies_for_rater(user=judge)) == []
    assert set(judge.groups.values_list("name", flat=True)) == {RATERS}
    with pytest.raises(ValidationError):
        team_member_assign(
            actor=boss, member=judge, studies=[], groups=[Group.objects.get(name=RESEARCHERS)]
        )
    assert not is_researcher(User.objects.get(pk=judge.pk))


def test_team_members_counts_pairs_judged_against_the_study_target() -> None:
    study = ready_study(n_configs=3, target_judgments=4)  # 3 pairs
    judge = rater(username="ray")
    idle = rater(username="ida")
    for _ in range(2):
        card = deck_deal(rater=judge, study=study).current
        assert card is not None
        judgments_record(
            rater=judge,
            presentation_id=card.pk,
            votes={c.key: "left" for c in study.criteria.all()},
        )
    rows = {m.user.username: m for m in team_members()}
    assert set(rows) == {"ray", "ida"}
    share = rows["ray"].shares[0]
    assert (share.study, share.judged, share.pairs) == (study, 2, 3)
    assert (share.study_judged, share.study_target) == (2, 12)
    assert rows["ray"].last_active is not None
    assert rows["ida"].shares[0].judged == 0 and rows["ida"].last_active is None
    assert idle.pk == rows["ida"].user.pk


def test_api_token_create_stores_a_hash_and_revoke_disables_it() -> None:
    boss = researcher(username="rita")
    issued = api_token_create(user=boss, name="export script")
    stored = ApiToken.objects.get()
    assert issued.key.startswith("loupe_") and issued.key not in stored.key_hash
    assert stored.key_hash == hashlib.sha256(issued.key.encode()).hexdigest()
    assert stored.prefix == issued.key[:12]
    assert api_token_for_key(key=issued.key) == stored
    other = api_token_create(user=boss, name="notebook")
    assert not api_token_revoke(user=researcher(username="rex"), token_id=stored.pk)
    assert api_token_revoke(user=boss, token_id=stored.pk)
    assert not api_token_revoke(user=boss, token_id=stored.pk)
    assert api_token_for_key(key=issued.key) is None
    assert api_token_for_key(key=other.key) == other.token


def test_api_token_create_refuses_raters_and_blank_names() -> None:
    with pytest.raises(ValidationError):
        api_token_create(user=rater(username="ray"), name="x")
    with pytest.raises(ValidationError) as blank:
        api_token_create(user=researcher(username="rita"), name="   ")
    assert "name" in blank.value.message_dict
    assert not ApiToken.objects.exists()


def test_invite_accept_loses_a_race_cleanly(monkeypatch: pytest.MonkeyPatch) -> None:
    import accounts.services as services

    issued = invite_create(actor=researcher(username="rita"))
    checked = services._username_check

    def someone_else_first(username: str) -> str:
        # Another request claims the invite between this one's checks and its claim.
        Invite.objects.filter(pk=issued.invite.pk).update(used_at=timezone.now())
        return checked(username)

    monkeypatch.setattr(services, "_username_check", someone_else_first)
    with pytest.raises(ValidationError, match="already used"):
        invite_accept(token=issued.token, username="ana", password=STRONG)
    assert not User.objects.filter(username="ana").exists()


def test_team_members_queries_do_not_grow_with_the_team() -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    study = ready_study(n_configs=3)
    first = rater(username="r0")
    study.raters.add(first)

    def queries() -> int:
        with CaptureQueriesContext(connection) as seen:
            members = team_members()
        assert all(m.shares and m.shares[0].study == study for m in members)
        return len(seen.captured_queries)

    few = queries()
    for i in range(1, 9):
        study.raters.add(rater(username=f"r{i}"))
    assert queries() == few
