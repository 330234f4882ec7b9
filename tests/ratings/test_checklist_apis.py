"""The checklist REST API: create → launch → open → answer → results and exports."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from generation.models import Image
from ratings.checklists.models import ChecklistAnswer
from ratings.models import Study
from ratings.services import studies as study_services
from tests.factories import PromptFactory, make_config, paint_done, rater, researcher

pytestmark = pytest.mark.django_db
JSON = "application/json"


def _body(**extra: Any) -> dict[str, Any]:
    prompt = PromptFactory(
        text="huggie hoops, yellow gold, white background",
        key_terms=["huggie hoops"],
        material="yellow gold",
    )
    configs = [make_config(sampler="euler_a"), make_config(sampler="ddim")]
    return {
        "name": "API checklist",
        "prompts": [prompt.pk],
        "configs": [c.pk for c in configs],
        "seeds_per_prompt": 1,
        "rater_groups": ["raters"],
        "schema": [
            {"attribute": "material", "label": "Metal", "allowed": ["yellow gold", "silver"]}
        ],
        **extra,
    }


def test_create_refuses_a_bad_schema_with_field_messages(client: Client) -> None:
    client.force_login(researcher())
    bad = _body(
        schema=[
            {"attribute": "metal", "label": "Metal", "allowed": ["gold", "silver"]},
            {"attribute": "style", "label": "Style", "allowed": ["minimal"]},
        ]
    )
    response = client.post("/api/checklist-studies/", bad, content_type=JSON)
    assert response.status_code == 400
    errors = response.json()["schema"]
    assert "attribute" in errors[0] and "allowed" in errors[1]
    twice = _body(
        schema=[
            {"attribute": "material", "label": "Metal", "allowed": ["gold", "silver"]},
            {"attribute": "material", "label": "Metal 2", "allowed": ["gold", "silver"]},
        ]
    )
    response = client.post("/api/checklist-studies/", twice, content_type=JSON)
    assert response.status_code == 400 and "appears twice" in json.dumps(response.json())
    assert not Study.objects.exists()


def test_api_runs_a_checklist_from_creation_to_results(client: Client, monkeypatch: Any) -> None:
    monkeypatch.setattr(study_services, "_enqueue_rendering", lambda: None)
    client.force_login(researcher())
    created = client.post("/api/checklist-studies/", _body(), content_type=JSON)
    assert created.status_code == 201, created.content
    study_id = created.json()["id"]
    assert created.json()["kind"] == "checklist"
    assert created.json()["schema"][0]["allowed"] == ["yellow gold", "silver"]
    assert client.post(f"/api/studies/{study_id}/launch/").status_code == 200
    for image in Image.objects.filter(config__studies=study_id):
        paint_done(image)
    assert client.post(f"/api/studies/{study_id}/open/").status_code == 200

    person = rater()
    client.force_login(person)
    for _ in range(2):
        card = client.get("/api/rate/checklist/next/", {"study": study_id}).json()
        assert [i["question"] for i in card["items"]] == [
            "Does the image show huggie hoops?",
            "Metal: yellow gold?",
        ]
        keys = [i["key"] for i in card["items"]]
        short = client.post(
            "/api/rate/checklist/answers/",
            {"study": study_id, "showing": card["showing"], "answers": {keys[0]: "yes"}},
            content_type=JSON,
        )
        assert short.status_code == 400 and "Metal" in json.dumps(short.json())
        body = {
            "study": study_id,
            "showing": card["showing"],
            "answers": dict.fromkeys(keys, "yes"),
        }
        first = client.post("/api/rate/checklist/answers/", body, content_type=JSON)
        assert first.status_code == 201
        again = client.post("/api/rate/checklist/answers/", body, content_type=JSON)
        assert again.json()["status"] == "already_recorded"
    done = client.get("/api/rate/checklist/next/", {"study": study_id}).json()
    assert done["showing"] is None and done["progress"] == {"answered": 2, "ready": 2}
    assert ChecklistAnswer.objects.count() == 4

    client.force_login(researcher())
    results = client.get(f"/api/studies/{study_id}/checklist/").json()
    assert results["answers"] == 4 and results["raters"] == 1
    pooled = [c for c in results["adherence"] if c["item"] == "*"]
    assert len(pooled) == 2 and all(c["rate"] == 1.0 and c["yes"] == 2 for c in pooled)
    csv_body = b"".join(
        client.get(f"/api/studies/{study_id}/checklist/answers.csv").streaming_content
    )
    assert csv_body.decode().count("\n") == 5  # header + 4 answers
    label = client.post(
        f"/api/studies/{study_id}/checklist/labels/", {"labeller": "clip"}, content_type=JSON
    )
    assert label.status_code == 400 and "labeller" in label.json()


def test_a_pairwise_study_is_not_a_checklist_on_the_api(client: Client) -> None:
    from tests.factories import ready_study

    study = ready_study(n_configs=2)
    client.force_login(researcher())
    assert client.get(f"/api/studies/{study.pk}/checklist/").status_code == 404
    client.force_login(rater())
    assert client.get("/api/rate/checklist/next/", {"study": study.pk}).status_code == 404


def test_checklist_endpoints_are_in_the_openapi_schema(client: Client) -> None:
    client.force_login(researcher())
    text = client.get("/api/schema/", HTTP_ACCEPT="application/json").content.decode()
    for path in (
        "/api/checklist-studies/",
        "/api/studies/{study_id}/checklist/",
        "/api/studies/{study_id}/checklist/answers.csv",
        "/api/studies/{study_id}/checklist/answers.jsonl",
        "/api/studies/{study_id}/checklist/labels/",
        "/api/rate/checklist/next/",
        "/api/rate/checklist/answers/",
    ):
        assert f'"{path}"' in text, path
    assert "checklist_results" in text and "checklist_study_create" in text


def test_checklist_answers_count_against_the_vote_rate(client: Client, settings: Any) -> None:
    settings.LOUPE_VOTE_RATE_PER_MINUTE = 1
    client.force_login(rater())
    first = client.post("/api/rate/checklist/answers/", {"study": 1}, content_type=JSON)
    assert first.status_code == 400  # counted, then refused for its body
    refused = client.post("/api/rate/checklist/answers/", {"study": 1}, content_type=JSON)
    assert refused.status_code == 429
    assert "votes in a minute" in refused.json()["detail"]
    assert refused["Retry-After"].isdigit()


def test_checklist_page_and_api_say_the_same_when_there_is_no_image(
    client: Client, monkeypatch: Any
) -> None:
    """Nothing to answer: the checklist page's screen and its API's state agree (screen_state,
    as on the pairwise page): while rendering, once all is answered, and after closing."""
    monkeypatch.setattr(study_services, "_enqueue_rendering", lambda: None)
    client.force_login(researcher())
    study_id = client.post("/api/checklist-studies/", _body(), content_type=JSON).json()["id"]
    assert client.post(f"/api/studies/{study_id}/launch/").status_code == 200
    assert client.post(f"/api/studies/{study_id}/open/").status_code == 200
    person = rater()

    def both() -> tuple[str, dict[str, Any]]:
        client.force_login(person)
        page = client.get(f"/rate/checklist/{study_id}/").content.decode()
        return page, client.get("/api/rate/checklist/next/", {"study": study_id}).json()

    page, body = both()
    assert "The images are still being prepared" in page and 'hx-trigger="every 10s"' in page
    assert body["showing"] is None and body["state"] == "preparing"
    assert "still being prepared" in body["detail"]
    for image in Image.objects.filter(config__studies=study_id):
        paint_done(image)
    for _ in range(2):
        page, body = both()
        assert "state" not in body and 'hx-trigger="every 10s"' not in page
        answers = dict.fromkeys([i["key"] for i in body["items"]], "yes")
        sent = {"study": study_id, "showing": body["showing"], "answers": answers}
        assert (
            client.post("/api/rate/checklist/answers/", sent, content_type=JSON).status_code == 201
        )
    page, body = both()
    assert body["state"] == "done" and body["detail"].startswith("Nothing left to judge")
    assert 'hx-trigger="every 10s"' not in page
    client.force_login(researcher())
    assert client.post(f"/api/studies/{study_id}/close/").status_code == 200
    page, body = both()
    assert body["state"] == "closed" and "has closed" in body["detail"]
    assert "has closed" in page
