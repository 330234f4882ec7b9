"""REST API for studies: CRUD, launch (idempotent), progress, retry, open and close."""

from __future__ import annotations

import pytest
from django.test import Client

from generation.models import Image
from ratings.models import Comparison, Study
from ratings.selectors import study_images
from tests.factories import (
    PromptFactory,
    make_config,
    make_study,
    rater,
    ready_checklist_study,
    researcher,
    series_over,
)

pytestmark = pytest.mark.django_db
JSON = "application/json"


@pytest.fixture
def api(client: Client) -> Client:
    researcher(username="rita")
    client.login(username="rita", password="pw")
    return client


def test_study_create_with_default_criteria_and_rater_groups(api: Client) -> None:
    configs = [make_config(sampler=s).pk for s in ("euler_a", "ddim", "heun")]
    prompts = [PromptFactory().pk]
    ray = rater(username="ray")
    response = api.post(
        "/api/studies/",
        {
            "name": "API study",
            "prompts": prompts,
            "configs": configs,
            "baseline": configs[0],
            "design": "vs_baseline",
            "seeds_per_prompt": 2,
            "rater_groups": ["raters"],
            "raters": [ray.pk],
            "instructions": "Look at the *metal*.",
        },  # fmt: skip
        content_type=JSON,
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "draft" and body["launch_problems"] == []
    assert [c["question"] for c in body["criteria"]] == [
        "Which image better matches the prompt?",
        "Which looks more modern and clean?",
    ]
    assert body["rater_groups"] == ["raters"] and body["raters"] == [ray.pk]
    study = Study.objects.get()
    assert study.created_by is not None and study.created_by.username == "rita"


def test_study_create_reports_field_errors(api: Client) -> None:
    response = api.post(
        "/api/studies/",
        {
            "name": "bad",
            "design": "round_robin",
            "gold_rate": 0.7,
            "seeds_per_prompt": 0,
            "target_judgments": 0,
        },  # fmt: skip
        content_type=JSON,
    )
    assert response.status_code == 400
    body = response.json()
    assert body["gold_rate"] == ["Gold rate must be between 0 and 0.5."]
    assert body["seeds_per_prompt"] == ["Seeds per prompt must be between 1 and 64."]
    assert body["target_judgments"] == [
        "Target judgments per comparison must be between 1 and 100."
    ]
    assert "design" in body
    assert Study.objects.count() == 0


def test_study_update_criteria_and_delete_draft(api: Client) -> None:
    study = make_study()
    response = api.patch(
        f"/api/studies/{study.pk}/",
        {
            "criteria": [
                {"key": "sparkle", "label": "Sparkle", "question": "Which sparkles more?"}
            ],
            "instructions": "Go.",
        },  # fmt: skip
        content_type=JSON,
    )
    assert response.status_code == 200
    assert [c["key"] for c in response.json()["criteria"]] == ["sparkle"]
    assert api.delete(f"/api/studies/{study.pk}/").status_code == 204


def test_study_instructions_follow_the_service_rule(api: Client) -> None:
    from generation.validation import FREE_TEXT_MAX_CHARS
    from ratings.services.studies import INSTRUCTIONS_TOO_LONG

    too_long = {"instructions": "x" * (FREE_TEXT_MAX_CHARS + 1)}
    configs = [make_config(sampler=s).pk for s in ("euler_a", "ddim")]
    created = api.post(
        "/api/studies/",
        {"name": "Long", "prompts": [PromptFactory().pk], "configs": configs, **too_long},
        content_type=JSON,
    )
    assert created.status_code == 400
    assert created.json() == {"instructions": [INSTRUCTIONS_TOO_LONG]}
    study = make_study()
    edited = api.patch(f"/api/studies/{study.pk}/", too_long, content_type=JSON)
    assert edited.status_code == 400
    assert edited.json() == {"instructions": [INSTRUCTIONS_TOO_LONG]}
    fits = {"instructions": " " + "x" * FREE_TEXT_MAX_CHARS + "\n"}
    assert api.patch(f"/api/studies/{study.pk}/", fits, content_type=JSON).status_code == 200
    study.refresh_from_db()
    assert study.instructions == "x" * FREE_TEXT_MAX_CHARS


def test_launch_says_why_it_cannot(api: Client) -> None:
    study = make_study(n_configs=1)
    response = api.post(f"/api/studies/{study.pk}/launch/")
    assert response.status_code == 400
    assert response.json()["detail"] == ["The study needs at least two configurations to compare."]
    assert Comparison.objects.count() == 0


def test_launch_twice_creates_nothing_new_and_progress_counts(
    api: Client, django_capture_on_commit_callbacks: object
) -> None:
    study = make_study(n_configs=4, n_prompts=1, seeds_per_prompt=2)
    with django_capture_on_commit_callbacks():  # type: ignore[operator]
        first = api.post(f"/api/studies/{study.pk}/launch/")
    assert first.status_code == 200
    assert first.json() == {
        "images_created": 8, "images_reused": 0, "comparisons_created": 12, "status": "rendering",
    }  # fmt: skip
    second = api.post(f"/api/studies/{study.pk}/launch/").json()
    assert second["images_created"] == 0 and second["comparisons_created"] == 0
    assert second["images_reused"] == 8
    study_images(study_id=study.pk).filter(pk__in=list(
        study_images(study_id=study.pk).values_list("pk", flat=True)[:2]
    )).update(status=Image.Status.FAILED, error="Render failed: boom")  # fmt: skip
    progress = api.get(f"/api/studies/{study.pk}/progress/").json()
    assert (progress["total"], progress["failed"], progress["pending"]) == (8, 2, 6)
    assert progress["percent"] == 0  # failed images are not done: they never count as progress
    assert [i["error"] for i in progress["failed_images"]] == ["Render failed: boom"] * 2
    with django_capture_on_commit_callbacks():  # type: ignore[operator]
        retried = api.post(f"/api/studies/{study.pk}/retry/").json()
    assert retried["failed"] == 0 and retried["pending"] == 8


def test_open_close_and_launched_study_keeps_its_design(api: Client) -> None:
    study = make_study(n_configs=2)
    assert api.post(f"/api/studies/{study.pk}/open/").status_code == 400
    api.post(f"/api/studies/{study.pk}/launch/")
    assert api.post(f"/api/studies/{study.pk}/open/").json()["status"] == "open"
    refused = api.patch(f"/api/studies/{study.pk}/", {"seeds_per_prompt": 5}, content_type=JSON)
    assert refused.status_code == 400
    assert "has been launched" in refused.json()["seeds_per_prompt"][0]
    assert api.post(f"/api/studies/{study.pk}/close/").json()["status"] == "closed"
    assert api.delete(f"/api/studies/{study.pk}/").status_code == 400


def test_study_list_says_each_study_kind_and_series_read_only(api: Client) -> None:
    pairwise = make_study(name="Samplers")
    series = series_over(make_study(name="Which checkpoint?"))
    checklist = ready_checklist_study(n_configs=1, n_prompts=1)
    rows = {row["id"]: row for row in api.get("/api/studies/").json()["results"]}
    assert rows[pairwise.pk]["kind"] == "pairwise" and rows[pairwise.pk]["series"] is None
    assert rows[checklist.pk]["kind"] == "checklist"
    assert rows[series.studies.get().pk]["series"] == series.pk
    # Neither is changed through the studies endpoint: the kind decides which pages and
    # services a study has, and a series study's configurations are its checkpoints.
    response = api.patch(
        f"/api/studies/{pairwise.pk}/",
        data={"kind": "checklist", "series": series.pk},
        content_type=JSON,
    )
    assert response.status_code == 200
    pairwise.refresh_from_db()
    assert pairwise.kind == "pairwise" and pairwise.series_id is None


def test_study_create_rules_are_the_pages(api: Client) -> None:
    """The page and the API create through study_create: no baseline named is the first
    configuration, and an empty list of criteria is refused (left out: the default ones)."""
    configs = [make_config(sampler=s).pk for s in ("euler_a", "ddim", "heun")]
    body = {"name": "Each vs first", "prompts": [PromptFactory().pk], "configs": configs[::-1],
            "design": "vs_baseline"}  # fmt: skip
    made = api.post("/api/studies/", body, content_type=JSON)
    assert made.status_code == 201, made.content
    assert made.json()["baseline"] == min(configs) and made.json()["launch_problems"] == []
    empty = api.post("/api/studies/", {**body, "name": "No criteria", "criteria": []},
                     content_type=JSON)  # fmt: skip
    assert empty.status_code == 400
    assert empty.json() == {"criteria": ["A study needs at least one criterion."]}
    assert Study.objects.count() == 1
