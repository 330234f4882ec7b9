"""The audit log: launches, opens, closes, rater exclusions and restores, with who did them."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from rest_framework.authtoken.models import Token

from ratings.models import AuditEvent, Study
from ratings.services.raters import rater_exclude, rater_restore
from ratings.services.studies import study_close, study_launch, study_open
from tests.factories import launched, make_study, researcher, vote

pytestmark = pytest.mark.django_db
Action = AuditEvent.Action


def _actions(study: Study) -> list[tuple[str, str | None]]:
    return [
        (e.action, e.actor.username if e.actor else None)
        for e in AuditEvent.objects.filter(study=study).order_by("at", "id")
    ]


def test_services_write_one_event_per_change_and_none_for_a_repeat() -> None:
    rita = researcher(username="rita")
    study = make_study(n_configs=3)
    result = study_launch(study=study, actor=rita)
    study_launch(study=study, actor=rita)  # nothing new: nothing to log
    study_open(study=study, actor=rita)
    study_open(study=study, actor=rita)
    study_close(study=study)  # a script: no actor
    study_close(study=study)
    assert _actions(study) == [
        (Action.STUDY_LAUNCHED, "rita"),
        (Action.STUDY_OPENED, "rita"),
        (Action.STUDY_CLOSED, None),
    ]
    launch = AuditEvent.objects.get(study=study, action=Action.STUDY_LAUNCHED)
    assert launch.detail == {
        "study_name": study.name,
        "first_launch": True,
        "images_created": result.images_created,
        "images_reused": 0,
        "comparisons_created": result.comparisons_created,
    }
    opened = AuditEvent.objects.get(study=study, action=Action.STUDY_OPENED)
    assert opened.detail["previous_status"] == "rendering"


def test_rater_exclusion_and_restore_are_logged_once_each() -> None:
    study, comps, crit = launched(n_configs=2)
    judge = researcher(username="judge")  # any user who voted
    vote(comps[0], judge, crit, "a")
    rita = researcher(username="rita")
    assert rater_exclude(study=study, rater=judge, actor=rita)
    assert not rater_exclude(study=study, rater=judge, actor=rita)
    assert rater_restore(study=study, rater=judge, actor=rita)
    assert not rater_restore(study=study, rater=judge, actor=rita)
    events = AuditEvent.objects.filter(study=study, action__startswith="rater_").order_by("id")
    assert [(e.action, e.actor_id, e.detail["rater"]) for e in events] == [
        (Action.RATER_EXCLUDED, rita.pk, "judge"),
        (Action.RATER_RESTORED, rita.pk, "judge"),
    ]


def test_pages_record_the_signed_in_researcher(client: Client) -> None:
    rita = researcher(username="rita")
    client.force_login(rita)
    study = make_study(n_configs=2)
    assert client.post(f"/studies/{study.pk}/launch/").status_code == 302
    assert client.post(f"/studies/{study.pk}/status/", {"open": "1"}).status_code == 302
    assert client.post(f"/studies/{study.pk}/status/", {"open": "0"}).status_code == 302
    assert _actions(study) == [
        (Action.STUDY_LAUNCHED, "rita"),
        (Action.STUDY_OPENED, "rita"),
        (Action.STUDY_CLOSED, "rita"),
    ]


def test_api_records_the_token_user(client: Client) -> None:
    bot = researcher(username="bot")
    auth: dict[str, Any] = {"HTTP_AUTHORIZATION": f"Token {Token.objects.create(user=bot).key}"}
    study, comps, crit = launched(n_configs=2)
    voter = researcher(username="voter")
    vote(comps[0], voter, crit, "b")
    assert client.post(f"/api/studies/{study.pk}/open/", **auth).status_code == 200
    assert client.post(f"/api/studies/{study.pk}/close/", **auth).status_code == 200
    exclusion = f"/api/studies/{study.pk}/raters/{voter.pk}/exclusion/"
    assert client.post(exclusion, **auth).status_code == 200
    assert client.delete(exclusion, **auth).status_code == 200
    second = make_study(n_configs=2)
    assert client.post(f"/api/studies/{second.pk}/launch/", **auth).status_code == 200
    assert [a for a in _actions(study) if a[0] != Action.STUDY_LAUNCHED] == [
        (Action.STUDY_OPENED, "bot"),
        (Action.STUDY_CLOSED, "bot"),
        (Action.RATER_EXCLUDED, "bot"),
        (Action.RATER_RESTORED, "bot"),
    ]
    assert _actions(second) == [(Action.STUDY_LAUNCHED, "bot")]


def test_dashboard_exclusion_is_logged(client: Client) -> None:
    study, comps, crit = launched(n_configs=2)
    voter = researcher(username="voter")
    vote(comps[0], voter, crit, "a")
    client.force_login(researcher(username="rita"))
    url = f"/studies/{study.pk}/analysis/raters/{voter.pk}/"
    assert client.post(url, {"action": "exclude"}).status_code == 302
    assert client.post(url, {"action": "restore"}).status_code == 302
    assert [a for a in _actions(study) if a[0].startswith("rater_")] == [
        (Action.RATER_EXCLUDED, "rita"),
        (Action.RATER_RESTORED, "rita"),
    ]


def test_study_detail_shows_the_history(client: Client) -> None:
    rita = researcher(username="rita")
    client.force_login(rita)
    study = make_study(n_configs=2)
    empty = client.get(f"/studies/{study.pk}/").content.decode()
    assert 'id="history"' in empty and "Nothing yet" in empty
    study_launch(study=study, actor=rita)
    study_open(study=study, actor=rita)
    study_close(study=study)
    page = client.get(f"/studies/{study.pk}/").content.decode()
    history = page[page.index('id="history"') :]
    assert "Study launched" in history and "new comparisons" in history
    assert "Study opened to raters" in history and "was rendering" in history
    assert "Study closed to raters" in history and "system" in history
    assert history.index("Study closed") < history.index("Study launched")  # newest first


def test_admin_lists_events_read_only(client: Client) -> None:
    from django.contrib.auth import get_user_model

    admin = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    study = make_study(n_configs=2)
    study_launch(study=study, actor=admin)
    event = AuditEvent.objects.get()
    client.force_login(admin)
    listing = client.get("/admin/ratings/auditevent/?action__exact=study_launched")
    assert listing.status_code == 200 and "Study launched" in listing.content.decode()
    assert client.get("/admin/ratings/auditevent/add/").status_code == 403
    change_url = f"/admin/ratings/auditevent/{event.pk}/change/"
    assert client.get(change_url).status_code == 200  # a read-only view
    assert client.post(change_url, {"action": "study_closed"}).status_code == 403
    assert client.post(f"/admin/ratings/auditevent/{event.pk}/delete/").status_code == 403
    assert AuditEvent.objects.filter(pk=event.pk).exists()
