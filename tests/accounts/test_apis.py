from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from accounts.models import Invite
from accounts.services import api_token_create, invite_accept
from tests.factories import rater, ready_study, researcher

pytestmark = pytest.mark.django_db


def _auth(person: Any) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Token {api_token_create(user=person, name='t').key}"}


def test_api_team_invites_create_list_revoke(client: Client) -> None:
    auth = _auth(researcher(username="rita"))
    study = ready_study(n_configs=2)
    created = client.post("/api/team/invites/", {"studies": [study.pk], "days": 2, "note": "Ana"},
                          content_type="application/json", **auth)  # fmt: skip
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["role"] == "raters" and body["studies"] == [study.pk]
    assert body["url"].endswith(f"/invite/{body['token']}/")
    listed = client.get("/api/team/invites/", **auth).json()
    assert [row["id"] for row in listed] == [body["id"]] and "token" not in listed[0]
    user = invite_accept(token=body["token"], username="ana", password="amber-hoops-42x")
    assert list(user.rater_studies.all()) == [study]
    assert client.get("/api/team/invites/", **auth).json() == []
    second = client.post("/api/team/invites/", {}, content_type="application/json", **auth).json()
    assert client.delete(f"/api/team/invites/{second['id']}/", **auth).status_code == 204
    assert Invite.objects.get(pk=second["id"]).revoked_at is not None
    assert client.delete("/api/team/invites/999999/", **auth).status_code == 404


def test_api_team_invites_field_errors(client: Client) -> None:
    auth = _auth(researcher(username="rita"))
    bad = client.post("/api/team/invites/", {"days": 0, "role": "researchers", "studies": [999]},
                      content_type="application/json", **auth)  # fmt: skip
    assert bad.status_code == 400
    errors = bad.json()
    assert set(errors) >= {"days", "studies"}
    staff_only = client.post("/api/team/invites/", {"role": "researchers"},
                             content_type="application/json", **auth)  # fmt: skip
    assert staff_only.status_code == 400 and "role" in staff_only.json()
    assert not Invite.objects.exists()


def test_api_team_raters_lists_progress_and_refuses_raters(client: Client) -> None:
    auth = _auth(researcher(username="rita"))
    study = ready_study(n_configs=3, target_judgments=2)
    judge = rater(username="ray")
    rows = client.get("/api/team/raters/", **auth).json()
    assert rows == [
        {
            "id": judge.pk,
            "username": "ray",
            "is_active": True,
            "last_active": None,
            "groups": [],
            "studies": [
                {
                    "study": study.pk,
                    "name": study.name,
                    "status": "open",
                    "judged": 0,
                    "pairs": 3,
                    "study_judged": 0,
                    "study_target": 6,
                }  # fmt: skip
            ],
        }
    ]
    client.force_login(judge)
    assert client.get("/api/team/raters/").status_code == 403
    assert client.post("/api/team/invites/", {}, content_type="application/json").status_code == 403
    assert Client().get("/api/team/raters/").status_code == 401


def test_api_schema_lists_the_team_endpoints_and_the_token_scheme(client: Client) -> None:
    client.force_login(researcher(username="rita"))
    schema = client.get("/api/schema/", {"format": "json"}).json()
    assert {"/api/team/raters/", "/api/team/invites/", "/api/team/invites/{invite_id}/"} <= set(
        schema["paths"]
    )
    assert schema["components"]["securitySchemes"]["apiToken"]["name"] == "Authorization"


def test_api_team_rater_detail_assigns_and_deactivates(client: Client) -> None:
    from django.contrib.auth.models import Group

    boss = researcher(username="rita")
    auth = _auth(boss)
    study = ready_study(n_configs=2)
    study.rater_groups.clear()
    panel = Group.objects.create(name="panel")
    judge = rater(username="ray")
    url = f"/api/team/raters/{judge.pk}/"
    assert client.get(url, **auth).json()["studies"] == []
    assigned = client.patch(url, {"studies": [study.pk], "groups": [panel.pk]},
                            content_type="application/json", **auth)  # fmt: skip
    assert assigned.status_code == 200, assigned.content
    assert [s["study"] for s in assigned.json()["studies"]] == [study.pk]
    assert assigned.json()["groups"] == ["panel"]
    off = client.patch(url, {"is_active": False}, content_type="application/json", **auth)
    assert off.status_code == 200 and off.json()["is_active"] is False
    assert off.json()["groups"] == ["panel"]  # untouched when not sent
    judge.refresh_from_db()
    assert not judge.is_active
    role = client.patch(url, {"groups": [Group.objects.get(name="researchers").pk]},
                        content_type="application/json", **auth)  # fmt: skip
    assert role.status_code == 400 and "groups" in role.json()
    assert client.get(f"/api/team/raters/{boss.pk}/", **auth).status_code == 404
    assert client.get(f"/api/team/raters/{2**70}/", **auth).status_code == 404
